"""``lanner run --disable-source NAME``: a disabled plugin source starts nothing. With
k8saudit, github and okta loaded and github and okta disabled, the audit webhook
evaluates events while github's webhook port stays closed and the okta poller never
calls its API (a loopback HTTP server counting requests, standing in for Okta)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import yaml

from helpers import free_port, shared_fixture, wait_until

LANNER = [sys.executable, "-c", "from lanner.cli import main; main()", "run"]


class CountingApi(BaseHTTPRequestHandler):
    """Answers every GET with an empty JSON list and remembers the path."""

    paths: ClassVar[list[str]] = []

    def log_message(self, *_args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"[]")


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def audit_event(user: str) -> dict[str, Any]:
    return {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": "11111111-2222-3333-4444-555555555555", "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/default/pods/web", "verb": "get",
        "user": {"username": user, "groups": ["system:authenticated"]},
        "objectRef": {"resource": "pods", "namespace": "default", "name": "web",
                      "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 200},
        "stageTimestamp": "2026-12-07T12:00:00.000000Z",
    }  # fmt: skip


def run_lanner(tmp: Path, extra: list[str]) -> tuple[subprocess.Popen[str], int, int, Path]:
    """lanner run with k8saudit, github and okta configured; (process, audit webhook
    port, github port, stderr file)."""
    secrets = tmp / "gh"
    secrets.mkdir(exist_ok=True)
    (secrets / "webhook.secret").write_text("s3cret\n")
    audit_port, gh_port = free_port(), free_port()
    server = ThreadingHTTPServer(("127.0.0.1", 0), CountingApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    okta = f"http://127.0.0.1:{server.server_address[1]}"
    cfg = {
        "json_output": True, "stdout_output": {"enabled": True}, "log_level": "info",
        "load_plugins": ["k8saudit", "github", "okta", "json"],
        "plugins": [
            {"name": "k8saudit", "open_params": f"http://127.0.0.1:{audit_port}/k8s-audit"},
            {"name": "github", "open_params": "acme/app",
             "init_config": {"useHTTPs": False, "secretsDir": str(secrets),
                             "listen": f"127.0.0.1:{gh_port}"}},
            {"name": "okta", "init_config": {"api_token": "t0ken", "baseURL": okta,
                                             "refresh_interval": 1}},
            {"name": "json"},
        ],
    }  # fmt: skip
    path = tmp / "lanner.yaml"
    path.write_text(yaml.safe_dump(cfg))
    rules = shared_fixture("rules", "k8s_audit_rules.yaml")
    err = tmp / "lanner.err"
    with open(err, "w") as fh:
        proc = subprocess.Popen([*LANNER, "-c", str(path), "-r", str(rules), *extra],
                                env=dict(os.environ), stdout=subprocess.PIPE, stderr=fh,
                                text=True)  # fmt: skip
    return proc, audit_port, gh_port, err


def test_disabled_github_and_okta_start_nothing(tmp_path: Path) -> None:
    CountingApi.paths.clear()
    argv = ["--disable-source", "github", "--disable-source", "okta", "--disable-source",
            "syscall"]  # fmt: skip
    proc, audit_port, gh_port, err = run_lanner(tmp_path, argv)
    try:
        wait_until(lambda: port_open(audit_port) or proc.poll() is not None, timeout=60,
                   what="the audit webhook")  # fmt: skip
        assert proc.poll() is None, err.read_text()[-3000:]
        url = f"http://127.0.0.1:{audit_port}/k8s-audit"
        assert httpx.post(url, json=audit_event("mallory")).status_code == 200
        assert proc.stdout is not None
        alert = json.loads(proc.stdout.readline())  # the run loop evaluates events
        assert alert["rule"] == "Disallowed K8s User", alert
        assert not port_open(gh_port), "github's webhook port is open though disabled"
        assert CountingApi.paths == [], CountingApi.paths
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    log = err.read_text()
    assert "okta: polling" not in log and "github:" not in log, log[-2000:]


def test_enabled_github_and_okta_do_start(tmp_path: Path) -> None:
    """The control: without the flags the same configuration serves github's webhook and
    polls okta's API."""
    CountingApi.paths.clear()
    proc, _audit, gh_port, err = run_lanner(tmp_path, ["--disable-source", "syscall"])
    try:
        wait_until(lambda: (port_open(gh_port) and bool(CountingApi.paths))
                   or proc.poll() is not None, timeout=60, what="github and okta")  # fmt: skip
        assert proc.poll() is None, err.read_text()[-3000:]
        assert CountingApi.paths[0].startswith("/api/v1/logs?"), CountingApi.paths
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
