"""Test doubles of the container runtimes, speaking their real protocols on unix sockets.

No Docker engine, containerd or CRI-O runs on the test machines. These servers stand in
for them:

- ``DockerDouble``: the Docker Engine API over HTTP on a unix socket — the real paths
  (``GET /v1.41/containers/{id}/json``, unversioned ``/containers/{id}/json``,
  ``/_ping``), status codes (200, 404 ``{"message": "No such container: ..."}``, 500) and
  the JSON keys of Docker's inspect document. An id prefix finds a container, as in Docker.
- ``CriDouble``: a gRPC server of ``runtime.v1.RuntimeService`` (ContainerStatus and
  PodSandboxStatus, verbose) built on the runtime.v1 messages Lanner's client uses.

Both can misbehave on demand for the fault tests: answer late (``delay``), answer garbage
(``garbage``), answer 500 / INTERNAL (``fail``), or stop (``stop()``, a runtime that dies).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import socketserver
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler
from typing import Any

import grpc

from lanner.sources.syscall.containers.cri import runtime_v1_pb2 as pb


def docker_inspect(
    full_id: str,
    name: str,
    image: str,
    *,
    labels: dict[str, str] | None = None,
    privileged: bool = False,
    mounts: list[tuple[str, str, bool]] = (),  # type: ignore[assignment]
    ip: str = "172.17.0.2",
    healthcheck: list[str] | None = None,
) -> dict[str, Any]:
    """An inspect document with the keys Docker returns (trimmed to what matters)."""
    return {
        "Id": full_id,
        "Created": "2026-11-25T09:00:00.000000000Z",
        "Path": "/bin/sh",
        "Name": f"/{name}",
        "Image": "sha256:" + "4b3a1f2c9d8e7f6a" * 4,
        "State": {
            "Status": "running",
            "Running": True,
            "Pid": 4242,
            "StartedAt": "2026-11-25T09:00:01.123456789Z",
        },
        "Config": {
            "Hostname": full_id[:12],
            "Image": image,
            "Labels": labels or {},
            **({"Healthcheck": {"Test": healthcheck}} if healthcheck else {}),
        },
        "HostConfig": {"Privileged": privileged, "NetworkMode": "bridge"},
        "Mounts": [
            {
                "Type": "bind",
                "Source": src,
                "Destination": dest,
                "Mode": "" if rw else "ro",
                "RW": rw,
                "Propagation": "rprivate",
            }
            for src, dest, rw in mounts
        ],
        "NetworkSettings": {
            "IPAddress": ip,
            "Ports": {},
            "Networks": {"bridge": {"IPAddress": ip, "Gateway": "172.17.0.1"}},
        },
    }


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    block_on_close = False


class DockerDouble:
    """The Docker Engine API on a unix socket, serving ``containers`` (full id -> doc)."""

    def __init__(self, path: str, containers: dict[str, dict[str, Any]] | None = None) -> None:
        self.path = path
        self.containers: dict[str, dict[str, Any]] = dict(containers or {})
        self.delay = 0.0
        self.garbage = False
        self.fail = False
        self.requests: list[str] = []
        self._conns: list[socket.socket] = []
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                double._conns.append(self.connection)

            def address_string(self) -> str:
                return "local"

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Api-Version", "1.41")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                double.requests.append(self.path)
                if double.delay:
                    time.sleep(double.delay)
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts and parts[0].startswith("v1."):
                    parts = parts[1:]
                if parts == ["_ping"]:
                    self._send(200, b"OK", "text/plain")
                    return
                if len(parts) == 3 and parts[0] == "containers" and parts[2] == "json":
                    if double.garbage:
                        self._send(200, b"<html>not the engine API</html>")
                        return
                    if double.fail:
                        self._send(500, json.dumps({"message": "engine is restarting"}).encode())
                        return
                    for full, doc in double.containers.items():
                        if full.startswith(parts[1]) or doc.get("Name") == "/" + parts[1]:
                            self._send(200, json.dumps(doc).encode())
                            return
                    msg = {"message": f"No such container: {parts[1]}"}
                    self._send(404, json.dumps(msg).encode())
                    return
                self._send(404, json.dumps({"message": "page not found"}).encode())

        self._server = _UnixHTTPServer(path, Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """The engine dies: open connections drop, the socket stops answering and goes."""
        self._server.shutdown()
        self._server.server_close()
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if os.path.exists(self.path):
            os.unlink(self.path)


def cri_status(
    full_id: str,
    name: str,
    image: str,
    sandbox_id: str,
    *,
    privileged: bool = False,
    mounts: list[tuple[str, str, bool]] = (),  # type: ignore[assignment]
    labels: dict[str, str] | None = None,
) -> pb.ContainerStatusResponse:
    """A verbose ContainerStatus answer, containerd style (info JSON with sandboxID)."""
    status = pb.ContainerStatus(
        id=full_id,
        metadata=pb.ContainerMetadata(name=name),
        state=pb.CONTAINER_RUNNING,
        started_at=1764061200000000000,
        image=pb.ImageSpec(image=image),
        image_ref="sha256:" + "0d17b565c37bcbd8" * 4,
        labels=labels or {},
        mounts=[
            pb.Mount(container_path=dest, host_path=src, readonly=not rw)
            for src, dest, rw in mounts
        ],
    )
    info = {
        "sandboxID": sandbox_id,
        "pid": 4243,
        "config": {"linux": {"security_context": {"privileged": privileged}}},
    }
    return pb.ContainerStatusResponse(status=status, info={"info": json.dumps(info)})


def cri_sandbox(
    sandbox_id: str,
    pod: str,
    namespace: str,
    uid: str,
    ip: str,
    labels: dict[str, str] | None = None,
) -> pb.PodSandboxStatusResponse:
    """A verbose PodSandboxStatus answer with a CNI result in its info JSON."""
    status = pb.PodSandboxStatus(
        id=sandbox_id,
        metadata=pb.PodSandboxMetadata(name=pod, uid=uid, namespace=namespace),
        network=pb.PodSandboxNetworkStatus(ip=ip),
        labels=labels or {},
    )
    cni = {"cniResult": {"Interfaces": {"eth0": {"IPConfigs": [{"IP": ip}]}}}}
    return pb.PodSandboxStatusResponse(status=status, info={"info": json.dumps(cni)})


class CriDouble:
    """runtime.v1.RuntimeService over gRPC on a unix socket."""

    def __init__(
        self,
        path: str,
        containers: dict[str, pb.ContainerStatusResponse] | None = None,
        sandboxes: dict[str, pb.PodSandboxStatusResponse] | None = None,
    ) -> None:
        self.path = path
        self.containers = dict(containers or {})
        self.sandboxes = dict(sandboxes or {})
        self.delay = 0.0
        self.fail = False
        self.requests: list[str] = []
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handlers = {
            "ContainerStatus": grpc.unary_unary_rpc_method_handler(
                self._container_status,
                request_deserializer=pb.ContainerStatusRequest.FromString,
                response_serializer=pb.ContainerStatusResponse.SerializeToString,
            ),
            "PodSandboxStatus": grpc.unary_unary_rpc_method_handler(
                self._sandbox_status,
                request_deserializer=pb.PodSandboxStatusRequest.FromString,
                response_serializer=pb.PodSandboxStatusResponse.SerializeToString,
            ),
        }
        self._server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler("runtime.v1.RuntimeService", handlers)]
        )
        self._server.add_insecure_port(f"unix://{path}")
        self._server.start()

    def _container_status(self, request: pb.ContainerStatusRequest, context: Any) -> Any:
        self.requests.append(request.container_id)
        if self.delay:
            time.sleep(self.delay)
        if self.fail:
            context.abort(grpc.StatusCode.INTERNAL, "runtime is restarting")
        for full, resp in self.containers.items():
            if full.startswith(request.container_id):
                return resp
        context.abort(grpc.StatusCode.NOT_FOUND, f"container {request.container_id} not found")

    def _sandbox_status(self, request: pb.PodSandboxStatusRequest, context: Any) -> Any:
        resp = self.sandboxes.get(request.pod_sandbox_id)
        if resp is None:
            context.abort(grpc.StatusCode.NOT_FOUND, "sandbox not found")
        return resp

    def stop(self) -> None:
        """The runtime dies."""
        self._server.stop(grace=None)
        if os.path.exists(self.path):
            os.unlink(self.path)
