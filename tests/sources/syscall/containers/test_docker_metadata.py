"""Container metadata from a Docker Engine API served on a unix socket.

No Docker engine runs on this machine, so the test serves the Engine API's
``GET /v1.41/containers/{id}/json`` from a local unix socket with the document shape
Docker returns (a faithful fake: real paths, status codes and JSON keys).
"""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import SimpleNamespace

import pytest

from lanner.engine.engine import Engine
from lanner.engine.fields import FieldTable, SourceSpec
from lanner.sources.syscall.containers.docker import DockerResolver, parse_inspect
from lanner.sources.syscall.containers.fields import metadata_fields
from lanner.sources.syscall.containers.info import split_image
from lanner.sources.syscall.containers.store import MetadataStore

CID = "3ad7b26ded6d8e7e23da7d48fe889434573036c27ae5a74837233de441c3601e"

INSPECT = {
    "Id": CID,
    "Name": "/web",
    "Image": "sha256:4b3a1f2c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a",
    "State": {"Status": "running", "StartedAt": "2026-11-25T09:00:01.123456789Z"},
    "Config": {
        "Image": "registry.example.com:5000/team/nginx:1.25",
        "Labels": {
            "io.kubernetes.pod.name": "web-7d4b9",
            "io.kubernetes.pod.namespace": "shop",
            "io.kubernetes.pod.uid": "1b2c",
            "app": "web",
        },
        "Healthcheck": {"Test": ["CMD-SHELL", "curl -f localhost"]},
    },
    "HostConfig": {"Privileged": True},
    "Mounts": [
        {
            "Type": "bind",
            "Source": "/var/run/docker.sock",
            "Destination": "/var/run/docker.sock",
            "Mode": "",
            "RW": True,
            "Propagation": "rprivate",
        },
        {
            "Type": "bind",
            "Source": "/etc",
            "Destination": "/host/etc",
            "Mode": "ro",
            "RW": False,
            "Propagation": "rprivate",
        },
    ],
    "NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}},
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/v1.41/containers/") and self.path.endswith("/json"):
            cid = self.path.split("/")[3]
            if CID.startswith(cid):
                body = json.dumps(INSPECT).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            body = json.dumps({"message": f"No such container: {cid}"}).encode()
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(400)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def docker_socket(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "docker.sock")

    class Handler(_Handler):
        def address_string(self) -> str:
            return "local"

    server = _UnixHTTPServer(path, Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield path
    server.shutdown()
    server.server_close()


def test_split_image_reference() -> None:
    assert split_image("nginx") == ("nginx", None, None)
    assert split_image("nginx:1.25") == ("nginx", "1.25", None)
    assert split_image("reg:5000/team/app:2@sha256:ab") == ("reg:5000/team/app", "2", "sha256:ab")
    assert split_image("reg:5000/team/app") == ("reg:5000/team/app", None, None)


def test_parse_inspect_document() -> None:
    info = parse_inspect(INSPECT)
    assert info.id == CID[:12]
    assert info.name == "web"
    assert info.image_repository == "registry.example.com:5000/team/nginx"
    assert info.image_tag == "1.25"
    assert info.privileged is True
    assert [m.source for m in info.mounts] == ["/var/run/docker.sock", "/etc"]
    assert info.mounts[1].rw is False
    assert info.pod_name == "web-7d4b9" and info.pod_namespace == "shop"
    assert info.ports == ["0.0.0.0:8080->80/tcp"]
    assert info.start_ts == 1795597201123456789


def test_resolver_against_engine_api(docker_socket: str) -> None:
    resolver = DockerResolver(docker_socket)
    info = resolver(CID[:12])
    assert info is not None and info.name == "web"
    assert resolver("000000000000") is None
    resolver.close()


def _event(cid: str) -> SimpleNamespace:
    return SimpleNamespace(thread=SimpleNamespace(container_id=cid), name="execve")


def test_fields_resolve_asynchronously_and_drive_rules(docker_socket: str) -> None:
    store = MetadataStore(deadline=0.0)
    resolver = DockerResolver(docker_socket)
    store.add_resolver(resolver)
    table = FieldTable("syscall")
    table.extend(metadata_fields(store))
    from lanner.sources.memory import dict_field

    table.add(dict_field("container.id"))
    source = SourceSpec("syscall", table)
    engine = Engine([source], hostname="h")
    outcome = engine.load_rules(
        contents=[
            (
                "r.yaml",
                """
- rule: Privileged web container with docker socket
  desc: d
  condition: >
    container.privileged = true and container.mount.source intersects (/var/run/docker.sock)
    and k8s.ns.name = shop and container.image.repository endswith /nginx
  output: pod=%k8s.pod.name ns=%k8s.ns.name image=%container.image.repository:%container.image.tag
  priority: WARNING
""",
            )
        ]
    )
    assert outcome.successful, [r.as_text(True) for r in outcome.results]
    ev = _event(CID[:12])
    # the first sight of a container starts the lookup without waiting for it
    first = engine.process(ev, "syscall")
    store.wait(CID[:12], timeout=5)
    later = engine.process(ev, "syscall")
    assert first == [] or first[0].rule == later[0].rule
    assert len(later) == 1
    assert (
        "pod=web-7d4b9 ns=shop image=registry.example.com:5000/team/nginx:1.25" in later[0].output
    )
    # host threads never trigger a lookup and read as not containerised
    assert engine.process(_event("host"), "syscall") == []
    resolver.close()
    store.close()


def test_deadline_waits_for_metadata(docker_socket: str) -> None:
    store = MetadataStore(deadline=5.0)
    store.add_resolver(DockerResolver(docker_socket))
    info = store.get(CID[:12])
    assert info is not None and info.privileged is True
    store.close()


def test_failing_runtime_is_counted_not_raised(tmp_path: Path) -> None:
    store = MetadataStore(deadline=5.0)
    store.add_resolver(DockerResolver(str(tmp_path / "missing.sock")))
    assert store.get("abcdefabcdef") is None
    assert store.failures == 1
    store.close()


def test_failed_lookup_is_retried_after_back_off(docker_socket: str, tmp_path: Path) -> None:
    from lanner.sources.syscall.containers.store import MetadataStore as Store

    calls = {"n": 0}
    real = DockerResolver(docker_socket)

    def flaky(cid: str):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("runtime restarting")
        return real(cid)

    store = Store(deadline=5.0)
    store.MAX_BACKOFF = 0.0  # retry at once for the test
    store.add_resolver(flaky)
    assert store.get(CID[:12]) is None  # the runtime failed: detection goes on
    info = store.get(CID[:12])  # next event retries and the metadata fills in
    assert info is not None and info.name == "web"
    assert calls["n"] == 2 and store.failures == 1
    real.close()
    store.close()


def test_configure_runtimes_skips_missing_sockets(docker_socket: str, tmp_path: Path) -> None:
    from lanner.sources.syscall.containers.runtimes import configure_runtimes

    store = MetadataStore()
    used = configure_runtimes(
        store,
        {
            "docker": {"enabled": True, "sockets": [docker_socket, str(tmp_path / "none.sock")]},
            "cri": {"enabled": True, "sockets": [str(tmp_path / "no-cri.sock")]},
            "podman": {"enabled": False},
        },
    )
    assert used == [docker_socket]
    assert store.wait(CID[:12], timeout=5) is not None
    store.close()
