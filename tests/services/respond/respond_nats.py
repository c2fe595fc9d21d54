"""A real nats-server (Debian package) on a free loopback port, with or without auth/TLS."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from respond_fake_k8s import free_port
from respond_helpers import wait_port

NATS_USER, NATS_PASSWORD, NATS_TOKEN = "respond", "n4ts-pass", "n4ts-t0ken"


@contextmanager
def nats_server(tmp_path: Path, auth: str = "none", tls: tuple[Path, Path] | None = None,
                client_ca: Path | None = None) -> Iterator[str]:  # fmt: skip
    """Run nats-server; `auth` is none, user (NATS_USER/NATS_PASSWORD) or token (NATS_TOKEN);
    `tls` is (cert, key) to require TLS, `client_ca` to require client certificates signed
    by it too. Yields its URL (without credentials)."""
    if shutil.which("nats-server") is None:
        pytest.fail("nats-server is not installed (scripts/setup.sh installs it)")
    port = free_port()
    conf = [f'listen: "127.0.0.1:{port}"']
    if auth == "user":
        conf.append(f'authorization {{ user: "{NATS_USER}", password: "{NATS_PASSWORD}" }}')
    elif auth == "token":
        conf.append(f'authorization {{ token: "{NATS_TOKEN}" }}')
    if tls is not None:
        verify = f', ca_file: "{client_ca}", verify: true' if client_ca else ""
        conf.append(f'tls {{ cert_file: "{tls[0]}", key_file: "{tls[1]}"{verify} }}')
    path = tmp_path / f"nats-{port}.conf"
    path.write_text("\n".join(conf) + "\n")
    proc = subprocess.Popen(
        ["nats-server", "-c", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_port(port, proc)
        yield f"{'tls' if tls else 'nats'}://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
