"""Generated requests against every HTTP endpoint of a running `lanner ui`
(tests/http_fuzz.py; test_ui_openapi.py drives the API from its OpenAPI document too): no
5xx, no request left unanswered without cause, no traceback, and it still stores alerts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import ui_pgserver

from http_fuzz import ALERT, fuzz

LAUNCH = [sys.executable, "-c", "from lanner.cli import main; main()", "ui"]
TOKEN = "fuzz-t0ken"
ENDPOINTS = [
    ("POST", "/api/v1/events", 400), ("GET", "/api/v1/events", 60),
    ("GET", "/api/v1/events/1", 30), ("DELETE", "/api/v1/events/999999999999", 30),
    ("GET", "/api/v1/export", 40), ("GET", "/api/v1/stats", 40),
    ("GET", "/api/v1/stream", 30), ("GET", "/api/v1/info", 20),
    ("GET", "/api/v1/openapi.json", 10), ("GET", "/", 10), ("GET", "/healthz", 10),
    ("GET", "/static/app.js", 10),
]  # fmt: skip


def test_generated_requests_never_break_the_ui(tmp_path: Path) -> None:
    port = ui_pgserver.free_port()
    log = tmp_path / "ui.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*LAUNCH, "--host", "127.0.0.1", "--port", str(port), "--db",
             f"sqlite:///{tmp_path / 'ui.db'}", "--token", TOKEN, "--log-level", "warning"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        ui_pgserver.wait_port(port, 30)
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.post(f"{base}/api/v1/events", json=ALERT, headers=headers).status_code == 201
        seen = fuzz(port, ENDPOINTS, TOKEN)
        assert proc.poll() is None, log.read_text()[-3000:]
        assert {200, 201, 400, 401} <= set(seen), sorted(set(seen))
        alert = {**ALERT, "rule": "after the fuzz"}
        resp = httpx.post(f"{base}/api/v1/events", json=alert, headers=headers)
        assert resp.status_code == 201
        [event_id] = resp.json()["ids"]
        stored = httpx.get(f"{base}/api/v1/events/{event_id}", headers=headers).json()
        assert json.loads(stored["alert_text"]) == alert
    finally:
        proc.terminate()
        proc.wait(15)
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
