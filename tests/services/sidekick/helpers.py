"""Test helpers: free ports, a recording HTTP receiver, real-server processes, sidekick runs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

from helpers import free_port, wait_until


def make_alert(
    priority: str = "Warning", rule: str = "Read sensitive file untrusted", **fields: Any
) -> dict[str, Any]:
    """An alert following the contract."""
    output_fields: dict[str, Any] = {
        "evt.time": 1700000053012345678,
        "fd.name": "/etc/shadow",
        "proc.name": "cat",
        "k8s.ns.name": "default",
        "k8s.pod.name": "web-7d4b9",
    }
    output_fields.update(fields)
    return {
        "hostname": "node-1",
        "output": f"16:14:13.012345678: {priority} Sensitive file opened for reading "
        "by non-trusted program (file=/etc/shadow proc.name=cat)",
        "output_fields": output_fields,
        "priority": priority,
        "rule": rule,
        "source": "syscall",
        "tags": ["filesystem", "mitre_credential_access", "T1555"],
        "time": "2023-11-14T16:14:13.012345678Z",
    }


@dataclass
class Request:
    """One request the receiver got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


@dataclass
class Receiver:
    """A local HTTP server that records requests; `status` (or `fail_next`) shapes replies."""

    status: int = 200
    port: int = 0
    fail_next: int = 0
    fail_status: int = 503
    fail_headers: dict[str, str] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    attempts: int = 0
    reply: bytes = b"{}"  # the body of every answer

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.attempts += 1
                extra: dict[str, str] = {}
                if receiver.fail_next > 0:
                    receiver.fail_next -= 1
                    code = receiver.fail_status
                    extra = receiver.fail_headers
                else:
                    code = receiver.status
                if 200 <= code < 300:
                    receiver.requests.append(
                        Request(
                            self.command,
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                        )
                    )
                self.send_response(code)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(receiver.reply)))
                self.end_headers()
                self.wfile.write(receiver.reply)

            do_POST = do_PUT = do_GET = _handle

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Request]:
        """Wait until `count` requests were recorded."""
        wait_until(lambda: len(self.requests) >= count, timeout, f"{count} request(s)")
        return self.requests

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


class Process:
    """A server process started by a test and always torn down."""

    def __init__(
        self,
        args: list[str],
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
        cwd: str | None = None,
    ) -> None:
        self.log_path = log
        self._out = open(log, "wb") if log else None  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            args,
            env=dict(env) if env is not None else None,
            stdout=self._out or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            cwd=cwd,
        )

    def log(self) -> str:
        """The process output so far."""
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def stop(self) -> None:
        """Terminate, then kill if needed."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._out is not None:
            self._out.close()


def wait_port(port: int, proc: Process | None = None, timeout: float = 30.0) -> None:
    """Wait until something accepts TCP connections on loopback `port`."""

    def check() -> bool:
        if proc is not None and proc.proc.poll() is not None:
            raise AssertionError(f"process exited early:\n{proc.log()[-3000:]}")
        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait_until(check, timeout, f"port {port}")


SIDEKICK_CMD = [
    sys.executable,
    "-c",
    "from lanner.services.sidekick.cli import sidekick; sidekick()",
]


def sidekick_check(config: Path | None, **env: str) -> subprocess.CompletedProcess[str]:
    """``lanner sidekick --check`` (with ``-c config`` when given) in an environment of
    only ``PATH`` and ``env``: its outputs listed, or its configuration errors."""
    argv = [*SIDEKICK_CMD, "--check"] + (["-c", str(config)] if config is not None else [])
    return subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", **env})  # fmt: skip


class Sidekick:
    """`lanner sidekick` run as a real process with a YAML config written to `tmp`."""

    def __init__(
        self,
        tmp: Path,
        config: dict[str, Any],
        env: Mapping[str, str] | None = None,
        scheme: str = "http",
        name: str = "sidekick",
    ) -> None:
        self.port = config.setdefault("listenport", free_port())
        config.setdefault("listenaddress", "127.0.0.1")
        if "DELIVERY_SPOOLDIR" not in (env or {}):
            # the default spool (/var/lib/lanner/sidekick) is shared: each test gets its own
            config.setdefault("delivery", {}).setdefault("spooldir", str(tmp / f"spool-{name}"))
        self.path = tmp / f"{name}.yaml"
        self.path.write_text(yaml.safe_dump(config))
        full_env = {k: v for k, v in os.environ.items() if not k.isupper() or k in _KEEP_ENV}
        full_env.update(env or {})
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.process = Process([*SIDEKICK_CMD, "-c", str(self.path)], full_env, tmp / f"{name}.log")
        wait_port(self.port, self.process)

    def post(self, alert: Any, **kwargs: Any) -> httpx.Response:
        """POST one alert."""
        return httpx.post(self.url + "/", json=alert, timeout=10, **kwargs)

    def metrics(self, **kwargs: Any) -> str:
        """The /metrics text."""
        return httpx.get(self.url + "/metrics", timeout=10, **kwargs).text

    def stop(self) -> None:
        """Stop the process (SIGTERM: graceful)."""
        self.process.stop()


# Environment variables kept for sidekick processes (others might configure outputs).
_KEEP_ENV = {
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "SSL_CERT_FILE",
}


def metric_value(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text, 0 if absent."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            return float(value)
    return 0.0
