"""Issue 18 item 5 for `lanner ui`, as the attacks were made: oversized, malformed and
hostile bodies get a 4xx (never a 500) and the server keeps serving; a token in the URL is
neither logged nor enough to write; every answer carries CSP and anti-framing headers."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import ui_pgserver
from fastapi.testclient import TestClient
from ui_seed import make_alert

from lanner.services.ui.accesslog import redact
from lanner.services.ui.api import MAX_BODY
from lanner.services.ui.app import create_app
from lanner.services.ui.auth import AuthConfig
from lanner.services.ui.store.sqlite import SQLiteStore

LAUNCH = [sys.executable, "-c", "from lanner.cli import main; main()", "ui"]
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def store(tmp_path: Path) -> Any:
    s = SQLiteStore(tmp_path / "ui.db")
    yield s
    s.close()


@pytest.fixture
def live(store: SQLiteStore, live_server: Callable) -> str:
    return live_server(create_app(store)).url


def _count(url: str) -> int:
    return len(httpx.get(url + "/api/v1/events").json()["events"])


def test_oversized_bodies_are_413_and_the_server_goes_on(live: str) -> None:
    alert = json.dumps(make_alert(1, time.time_ns())).encode()
    big = b"[" + b",".join([alert] * (MAX_BODY // len(alert) + 1)) + b"]"
    assert len(big) > MAX_BODY
    resp = httpx.post(live + "/api/v1/events", content=big, headers=JSON)
    assert resp.status_code == 413
    assert resp.json() == {"detail": f"body larger than {MAX_BODY} bytes"}

    def chunks() -> Any:  # no Content-Length: the limit applies while reading
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    resp = httpx.post(live + "/api/v1/events", content=chunks(), headers=JSON)
    assert resp.status_code == 413
    assert httpx.get(live + "/healthz").json() == {"status": "ok"}
    assert _count(live) == 0
    # just under the limit is fine
    n = (MAX_BODY - 2) // (len(alert) + 1)
    ok = httpx.post(live + "/api/v1/events", content=b"[" + b",".join([alert] * n) + b"]",
                    headers=JSON, timeout=120)  # fmt: skip
    assert ok.status_code == 201 and ok.json()["ingested"] == n


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        (b'{"rule": "\\ud800", "priority": "Warning"}', 400, "invalid JSON"),
        (b'{"rule": "r", "priority": "Warning", "output": "\\udfff x"}', 400, "invalid JSON"),
        (b'{"rule": "r", "priority": "Warning", "x": NaN}', 400, "invalid JSON"),
        (b'{"rule": "r", "priority": "Warning", "x": ' + b"[" * 100 + b"]" * 100 + b"}", 400,
         "JSON nested deeper than 32 levels"),
        (b"\xff\xfe{}", 400, "invalid JSON"),
        (b"", 400, "invalid JSON"),
        (b"[]", 422, None),
        (b'"just a string"', 422, None),
        (b'{"rule": "r", "priority": "Warning", "time": "99999-01-01T00:00:00Z"}', 422, None),
    ],
)  # fmt: skip
def test_hostile_bodies_are_4xx(live: str, body: bytes, status: int, detail: str | None) -> None:
    resp = httpx.post(live + "/api/v1/events", content=body, headers=JSON)
    assert resp.status_code == status, resp.text
    if detail:
        assert resp.json()["detail"].startswith(detail)
    assert _count(live) == 0


def test_other_content_types_are_415(live: str) -> None:
    alert = json.dumps(make_alert(1, time.time_ns()))
    resp = httpx.post(live + "/api/v1/events", content=alert, headers={"Content-Type": "text/x"})
    assert resp.status_code == 415
    for ctype in ("application/json; charset=utf-8", "application/falco+json"):
        resp = httpx.post(live + "/api/v1/events", content=alert, headers={"Content-Type": ctype})
        assert resp.status_code == 201, ctype


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def test_content_length_that_is_not_a_number_is_400(live: str, store: SQLiteStore) -> None:
    port = int(live.rsplit(":", 1)[1])
    answer = _raw(
        port,
        b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: abc\r\nConnection: close\r\n\r\n{}",
    )
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert httpx.get(live + "/healthz").status_code == 200
    # and at the application itself, whatever server runs it
    app = create_app(store)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/api/v1/events", "raw_path": b"/api/v1/events",
        "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2802),
        "headers": [(b"content-length", b"abc"), (b"content-type", b"application/json")],
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 400
    assert json.loads(sent[1]["body"]) == {
        "detail": "Content-Length 'abc' is not a number of bytes"
    }


# ---- tokens ------------------------------------------------------------------------------


def test_token_in_the_url_reads_but_does_not_write(store: SQLiteStore) -> None:
    auth = AuthConfig()
    auth.add_token("adm1n-token")
    client = TestClient(create_app(store, auth=auth))
    alert = make_alert(1, time.time_ns())
    in_url = {"access_token": "adm1n-token"}
    resp = client.post("/api/v1/events", json=alert, params=in_url)
    assert resp.status_code == 401
    header = {"Authorization": "Bearer adm1n-token"}
    [event_id] = client.post("/api/v1/events", json=alert, headers=header).json()["ids"]
    assert client.delete(f"/api/v1/events/{event_id}", params=in_url).status_code == 401
    assert client.get(f"/api/v1/events/{event_id}", params=in_url).status_code == 200
    assert client.get("/api/v1/events", params=in_url).json()["events"][0]["id"] == event_id


def test_access_log_does_not_show_the_token(tmp_path: Path) -> None:
    port = ui_pgserver.free_port()
    proc = subprocess.Popen(
        [*LAUNCH, "--host", "127.0.0.1", "--port", str(port), "--db",
         f"sqlite:///{tmp_path / 'ui.db'}", "--token", "s3cret-t0ken:read-only"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        ui_pgserver.wait_port(port, 30)
        base = f"http://127.0.0.1:{port}/api/v1"
        assert httpx.get(f"{base}/events?access_token=s3cret-t0ken&limit=5").status_code == 200
        assert httpx.get(f"{base}/info?limit=1&ACCESS_TOKEN=s3cret-t0ken").status_code == 401
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=15)
    assert '"GET /api/v1/events?access_token=REDACTED&limit=5 HTTP/1.1" 200' in out
    assert "ACCESS_TOKEN=REDACTED" in out
    assert "s3cret" not in out


def test_redact() -> None:
    assert redact("/a?access_token=x&b=1") == "/a?access_token=REDACTED&b=1"
    assert redact("/a?b=1&access%5Ftoken=x") == "/a?b=1&access%5Ftoken=REDACTED"
    assert redact("/a?my_access_token=x") == "/a?my_access_token=x"  # another parameter


# ---- headers -----------------------------------------------------------------------------


def test_security_headers_on_every_answer(store: SQLiteStore) -> None:
    auth = AuthConfig()
    auth.add_token("t")
    client = TestClient(create_app(store, auth=auth))
    answers = [
        client.get("/"),
        client.get("/static/app.js"),
        client.get("/api/v1/events"),  # 401
        client.get("/nope"),  # 404
        client.post("/api/v1/events", content=b"x" * (MAX_BODY + 1)),  # 413 from the middleware
        client.get("/api/v1/openapi.json"),
    ]
    assert [r.status_code for r in answers] == [200, 200, 401, 404, 413, 200]
    for resp in answers:
        csp = resp.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp
        assert resp.headers["x-frame-options"] == "DENY"
        assert resp.headers["x-content-type-options"] == "nosniff"
        assert resp.headers["referrer-policy"] == "no-referrer"
    docs = client.get("/api/v1/docs")
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]


def test_the_server_answers_while_a_body_is_being_validated(
    store: SQLiteStore, live_server: Callable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Validation of a POST is held until a /healthz request has been answered: were it
    done on the event loop, /healthz could not be served meanwhile (and this would fail)."""
    import threading

    from lanner.services.ui import api

    answered = threading.Event()
    held = threading.Event()
    validate = api._rows_from_body

    def held_validation(body: bytes, now: int) -> list[Any]:
        held.set()
        answered.wait(20)
        return validate(body, now)

    monkeypatch.setattr(api, "_rows_from_body", held_validation)
    url = live_server(create_app(store)).url
    result: list[httpx.Response] = []
    poster = threading.Thread(
        target=lambda: result.append(
            httpx.post(url + "/api/v1/events", json=make_alert(1, time.time_ns()), timeout=60)
        )
    )
    poster.start()
    assert held.wait(20), "the POST never reached validation"
    assert httpx.get(url + "/healthz", timeout=10).json() == {"status": "ok"}
    answered.set()
    poster.join(60)
    assert result[0].status_code == 201


def test_more_than_the_batch_limit_is_refused_before_validation(live: str) -> None:
    one = b'{"rule":"r","priority":"Warning"}'
    body = b"[" + b",".join([one] * 10_001) + b"]"
    resp = httpx.post(live + "/api/v1/events", content=body, headers=JSON)
    assert resp.status_code == 422
    assert resp.json() == {"detail": "more than 10000 alerts in one request"}
    assert _count(live) == 0


def test_credentials_without_tls_beyond_loopback_warn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """(The server is not started: tests listen on loopback only.)"""
    import uvicorn
    from click.testing import CliRunner

    from lanner.cli import main

    monkeypatch.setattr(uvicorn.Server, "run", lambda self: None)
    db = f"sqlite:///{tmp_path / 'ui.db'}"
    for host, warned in (("0.0.0.0", True), ("127.0.0.1", False), ("::1", False)):
        caplog.clear()
        result = CliRunner().invoke(main, ["ui", "--host", host, "--db", db, "--token", "t"])
        assert result.exit_code == 0, result.output
        assert ("without TLS: passwords and tokens cross the network" in caplog.text) is warned
