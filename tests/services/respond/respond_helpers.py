"""Builders shared by the respond tests."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from lanner.services.respond.rules import ResponseRule, load_rules


def make_alert(**overrides: Any) -> dict[str, Any]:
    """A Falco alert about pod default/web-1 on node-1 (override any key)."""
    alert: dict[str, Any] = {
        "hostname": "node-1",
        "output": "12:00:00.000000000: Critical Outbound connection to C2 server (...)",
        "output_fields": {
            "evt.time": 1700000053012345678,
            "fd.sip": "203.0.113.7",
            "proc.name": "curl",
            "proc.pid": 4242,
            "container.id": "abc123def456",
            "k8s.ns.name": "default",
            "k8s.pod.name": "web-1",
        },
        "priority": "Critical",
        "rule": "Outbound Connection to C2 Servers",
        "source": "syscall",
        "tags": ["network", "mitre_command_and_control", "T1071"],
        "time": "2023-11-14T16:14:13.012345678Z",
    }
    alert.update(overrides)
    return alert


def rules_from(tmp_path: Path, text: str, name: str = "rules.yaml") -> list[ResponseRule]:
    """Write a rules file and load it."""
    path = tmp_path / name
    path.write_text(text)
    return load_rules([path])


def run_action(
    kube: Any, name: str, params: dict[str, Any] | None = None, dry_run: bool = False, **alert: Any
) -> Any:
    """Validate parameters like the loader does, then run one action directly."""
    from lanner.services.respond.actions import ACTIONS, ActionContext
    from lanner.services.respond.alert import Alert

    cls = ACTIONS[name]
    params = params or {}
    assert cls.validate(params) == []
    ctx = ActionContext(
        alert=Alert.from_dict(make_alert(**alert)),
        rule="test rule",
        params=cls.with_defaults(params),
        dry_run=dry_run,
        kube=kube,
    )
    return cls().run(ctx)


def wait_port(port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 20) -> None:
    """Wait until something listens on 127.0.0.1:port (fail if the process died)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if proc is not None and proc.poll() is not None:
                pytest.fail(f"process exited with {proc.returncode} before listening")
            if time.monotonic() > deadline:
                pytest.fail(f"nothing listening on port {port}")
            time.sleep(0.05)


def self_signed(tmp_path: Path, name: str = "tls") -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1 (its own CA)."""
    cert, key = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key
