"""A real OCI registry for the tests: Debian's ``docker-registry`` (the CNCF
distribution registry) on loopback, with TLS (a trustme CA) and htpasswd basic auth
when asked."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import httpx
import trustme
import yaml

from helpers import free_port, wait_until

BINARY = shutil.which("docker-registry") or "/usr/bin/docker-registry"
USER, PASSWORD = "ci", "s3cret-pass"


@dataclass(frozen=True)
class Registry:
    """A running registry: ``host`` is host:port; ``ca`` the CA file when TLS is on."""

    host: str
    ca: str | None
    auth: bool

    def args(self, *, user: str = USER, password: str = PASSWORD) -> list[str]:
        """The lanner artifact flags that reach it."""
        out = ["--ca-file", self.ca] if self.ca else ["--plain-http"]
        if self.auth:
            out += ["--username", user, "--password", password]
        return out


@contextmanager
def run_registry(tmp: Path, *, tls: bool = False, auth: bool = False) -> Iterator[Registry]:
    """Start docker-registry; stop it at the end. Fails loudly when it is not installed."""
    assert Path(BINARY).exists(), "docker-registry is not installed (scripts/apt-packages.txt)"
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    http: dict[str, object] = {"addr": f"127.0.0.1:{port}"}
    ca_file = None
    if tls:
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        cert.private_key_and_cert_chain_pem.write_to_path(str(tmp / "server.pem"))
        cert.private_key_pem.write_to_path(str(tmp / "server.key"))
        (tmp / "server.crt").write_bytes(b"".join(b.bytes() for b in cert.cert_chain_pems))
        ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
        http["tls"] = {"certificate": str(tmp / "server.crt"), "key": str(tmp / "server.key")}
        ca_file = str(tmp / "ca.pem")
    doc: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "error"},
        "storage": {
            "filesystem": {"rootdirectory": str(tmp / "data")},
            "delete": {"enabled": True},
        },
        "http": http,
    }
    if auth:
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=5)).decode()
        (tmp / "htpasswd").write_text(f"{USER}:{hashed}\n")
        doc["auth"] = {"htpasswd": {"realm": "lanner-test", "path": str(tmp / "htpasswd")}}
    (tmp / "config.yml").write_text(yaml.safe_dump(doc))
    log = open(tmp / "registry.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([BINARY, "serve", str(tmp / "config.yml")], stdout=log, stderr=log)
    scheme = "https" if tls else "http"
    verify = ssl.create_default_context(cafile=ca_file) if ca_file else False
    try:
        wait_until(
            lambda: (
                httpx.get(f"{scheme}://127.0.0.1:{port}/v2/", verify=verify).status_code
                in (200, 401)
            ),
            timeout=30,
            what="docker-registry to answer",
        )
        yield Registry(f"127.0.0.1:{port}", ca_file, auth)
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
