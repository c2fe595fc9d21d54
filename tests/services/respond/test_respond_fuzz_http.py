"""Generated requests against every HTTP endpoint of a running `lanner respond` (it has no
OpenAPI document: hypothesis builds the requests, tests/http_fuzz.py): no 5xx, no request
left unanswered without cause, no traceback, and the daemon still acts afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from respond_fake_k8s import FakeKube, free_port
from respond_helpers import make_alert, wait_port

from http_fuzz import fuzz

LANNER = str(Path(sys.executable).parent / "lanner")
TOKEN = "fuzz-t0ken"
RULES = """\
- rule: label everything
  actions:
    - action: kubernetes:label
      parameters: {labels: {lanner.dev/seen: "true"}}
"""

pytestmark = pytest.mark.servers


def test_generated_requests_never_break_respond(
    tmp_path: Path, fake_kube: FakeKube, kubeconfig: Path
) -> None:
    fake_kube.add_pod("default", "web-1", {"app": "web"})
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    port = free_port()
    log = tmp_path / "respond.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANNER_RESPOND_")}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [LANNER, "respond", "-r", str(rules), "--kubeconfig", str(kubeconfig),
             "--listen", f"127.0.0.1:{port}", "--token", TOKEN, "--retries", "0",
             "--dedup-window", "0", "--audit-log", str(tmp_path / "audit.jsonl")],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        wait_port(port, proc)  # type: ignore[arg-type]
        endpoints = [("POST", "/", 400), ("GET", "/healthz", 20), ("GET", "/metrics", 20),
                     ("GET", "/audit", 40)]  # fmt: skip
        seen = fuzz(port, endpoints, TOKEN)
        assert proc.poll() is None, log.read_text()
        # the requests reached the handlers: accepted, refused for the token, for the body
        assert {202, 400, 401} <= set(seen), sorted(set(seen))
        headers = {"Authorization": f"Bearer {TOKEN}"}
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz").json()["status"] == "ok"
        fields = {**make_alert()["output_fields"], "k8s.pod.name": "web-1"}
        resp = httpx.post(f"{base}/", json=make_alert(output_fields=fields), headers=headers)
        assert resp.status_code == 202
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pod = fake_kube.get("pods", "default", "web-1") or {}
            if pod.get("metadata", {}).get("labels", {}).get("lanner.dev/seen") == "true":
                break
            time.sleep(0.05)
        else:
            pytest.fail("respond did not act after the fuzzing")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
