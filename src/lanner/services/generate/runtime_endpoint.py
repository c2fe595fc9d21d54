"""A container runtime endpoint for the generator's simulated containers: the Docker
Engine API (``/_ping``, ``/version``, ``/containers/{id}/json``, versioned or not) on a
unix socket, answering for the containers the generator registers and 404 for others.

The generator runs container-scoped actions in a cgroup that looks like a Docker
container's (:mod:`.container_context`); pointing ``lanner run`` at this socket
(``-o container_engines.docker.sockets=[/run/lanner/generate-docker.sock]``, next to the
real runtime's) gives those events a container name, image and labels, so rules and
outputs that read ``container.*`` see what they would see in a real container. Every
simulated container is labelled ``io.lanner.generate=simulated`` and named
``lanner-gen-sim-<marker>``: nobody can take one for a real container.
"""

from __future__ import annotations

import contextlib
import json
import os
import socketserver
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

DEFAULT_SOCKET = "/run/lanner/generate-docker.sock"
SIMULATED_LABEL = "io.lanner.generate"
IMAGE = "lanner/generate-sandbox:simulated"
API_VERSION = "1.41"
MAX_KEPT = 1000


def inspect_document(
    full_id: str,
    marker: str,
    labels: dict[str, str] | None = None,
    privileged: bool = False,
    mounts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The inspect answer for one simulated container (Docker's keys); ``mounts`` as
    Docker's (``Source``, ``Destination``...): reported only, nothing is mounted."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "Id": full_id,
        "Created": now,
        "Path": "/bin/sh",
        "Name": f"/lanner-gen-sim-{marker.removeprefix('lanner-gen-')}",
        "Image": "sha256:" + full_id[:64],
        "State": {"Status": "running", "Running": True, "Pid": 0, "StartedAt": now},
        "Config": {
            "Hostname": full_id[:12],
            "Image": IMAGE,
            "Labels": {SIMULATED_LABEL: "simulated", **(labels or {})},
        },
        "HostConfig": {"Privileged": privileged, "NetworkMode": "none"},
        "Mounts": list(mounts or []),
        "NetworkSettings": {"IPAddress": "", "Ports": {}, "Networks": {}},
    }


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False


class RuntimeEndpoint:
    """The endpoint: ``register`` a simulated container, ``close`` at the end."""

    def __init__(self, path: str = DEFAULT_SOCKET) -> None:
        self.path = path
        self._docs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # a socket left by an earlier run that died
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def address_string(self) -> str:
                return "local"

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, code: int, doc: Any) -> None:
                body = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Api-Version", API_VERSION)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts and parts[0].startswith("v1."):
                    parts = parts[1:]
                if parts == ["_ping"]:
                    self._send(200, "OK")
                elif parts == ["version"]:
                    self._send(200, {"ApiVersion": API_VERSION, "Version": "lanner-generate"})
                elif len(parts) == 3 and parts[0] == "containers" and parts[2] == "json":
                    doc = endpoint.lookup(parts[1])
                    if doc is None:
                        self._send(404, {"message": f"No such container: {parts[1]}"})
                    else:
                        self._send(200, doc)
                else:
                    self._send(404, {"message": "page not found"})

        self._server = _Server(path, Handler)
        os.chmod(path, 0o660)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def register(
        self,
        full_id: str,
        marker: str,
        labels: dict[str, str] | None = None,
        *,
        privileged: bool = False,
        mounts: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Answer for this container from now on (the oldest are forgotten past 1,000);
        return its inspect document."""
        doc = inspect_document(full_id, marker, labels, privileged, mounts)
        with self._lock:
            self._docs[full_id] = doc
            while len(self._docs) > MAX_KEPT:
                self._docs.pop(next(iter(self._docs)))
        return doc

    def lookup(self, ref: str) -> dict[str, Any] | None:
        """A registered container by full id, id prefix or name."""
        with self._lock:
            for full, doc in self._docs.items():
                if full.startswith(ref) or doc["Name"] == "/" + ref:
                    return doc
        return None

    def close(self) -> None:
        """Stop answering and remove the socket."""
        self._server.shutdown()
        self._server.server_close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


_ACTIVE: RuntimeEndpoint | None = None


def start_endpoint(path: str = DEFAULT_SOCKET) -> RuntimeEndpoint:
    """Start the process's endpoint (once); container actions register with it."""
    global _ACTIVE
    if _ACTIVE is None:
        _ACTIVE = RuntimeEndpoint(path)
    return _ACTIVE


def active_endpoint() -> RuntimeEndpoint | None:
    """The endpoint this process serves, if started."""
    return _ACTIVE


def stop_endpoint() -> None:
    """Stop the process's endpoint."""
    global _ACTIVE
    if _ACTIVE is not None:
        _ACTIVE.close()
        _ACTIVE = None
