"""`lanner ui` as a process: options, TLS, auth and the SQLite file it creates."""

from __future__ import annotations

import base64
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import ui_pgserver
from click.testing import CliRunner
from ui_seed import make_alert

from lanner.cli import main

LAUNCH = [sys.executable, "-c", "from lanner.cli import main; main()", "ui"]


def test_help_lists_options() -> None:
    result = CliRunner().invoke(main, ["ui", "--help"])
    assert result.exit_code == 0
    for option in (
        "--host",
        "--port",
        "--db",
        "--tls-cert",
        "--user",
        "--token",
        "--retention-age",
    ):
        assert option in result.output


def test_bad_options_are_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["ui", "--retention-age", "forever", "--db", str(tmp_path / "x")])
    assert result.exit_code == 2 and "duration" in result.output
    result = runner.invoke(main, ["ui", "--user", "nopassword"])
    assert result.exit_code == 2
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    result = runner.invoke(main, ["ui", "--tls-cert", str(cert)])
    assert result.exit_code == 2 and "--tls-key" in result.output


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_serves_https_with_auth_and_sqlite_file(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    port = ui_pgserver.free_port()
    db = tmp_path / "alerts.db"
    proc = subprocess.Popen(
        [
            *LAUNCH,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--db",
            f"sqlite:///{db}",
            "--tls-cert",
            str(cert),
            "--tls-key",
            str(key),
            "--token",
            "ingest-token",
            "--user",
            "viewer:pw:read-only",
            "--log-level",
            "warning",
        ],
    )
    try:
        ui_pgserver.wait_port(port, 20)
        context = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=context) as client:
            alert = make_alert(1, time.time_ns())
            r = client.post(
                "/api/v1/events", json=alert, headers={"Authorization": "Bearer ingest-token"}
            )
            assert r.status_code == 201
            viewer = {"Authorization": "Basic " + base64.b64encode(b"viewer:pw").decode()}
            events = client.get("/api/v1/events", headers=viewer).json()["events"]
            assert [e["output"] for e in events] == [alert["output"]]
            assert client.post("/api/v1/events", json=alert, headers=viewer).status_code == 403
            assert client.get("/api/v1/events").status_code == 401
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)  # TLS only
    finally:
        proc.terminate()
        proc.wait(15)
    assert db.exists() and db.stat().st_size > 0
