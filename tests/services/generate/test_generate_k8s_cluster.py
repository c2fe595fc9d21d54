"""With --kubeconfig, k8s actions make the real API calls (on a recording fake API server):
a private namespace, pods bound to no node, every object deleted again."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from lanner.exceptions import ActionError
from lanner.services.generate.action import RunContext
from lanner.services.generate.k8s_cluster import NO_NODE
from lanner.services.generate.registry import select


class FakeApi:
    """Records requests; answers 201/200 with the body (or a Status)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.auth: set[str | None] = set()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                api.requests.append((self.command, self.path, body))
                api.auth.add(self.headers.get("Authorization"))
                code = 201 if self.command == "POST" else 200
                data = json.dumps(body or {"kind": "Status", "status": "Success"}).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def calls(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p, _ in self.requests]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[FakeApi, str]]:
    api = FakeApi()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": api.url}}],
                "users": [{"name": "u", "user": {"token": "t0ken"}}],
                "contexts": [{"name": "c", "context": {"cluster": "fake", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    yield api, str(kubeconfig)
    api.server.shutdown()
    api.server.server_close()


def run(name: str, kubeconfig: str) -> str:
    (action,) = [a for a in select(source="k8s_audit") if a.name == name]
    return action.run(RunContext(kubeconfig=kubeconfig)).marker


def test_privileged_pod_in_a_private_namespace_on_no_node(cluster: tuple[FakeApi, str]) -> None:
    api, kubeconfig = cluster
    m = run("k8s_privileged_pod", kubeconfig)
    assert api.calls() == [
        ("POST", "/api/v1/namespaces"),
        ("POST", f"/api/v1/namespaces/{m}/pods"),
        ("DELETE", f"/api/v1/namespaces/{m}/pods/{m}"),
        ("DELETE", f"/api/v1/namespaces/{m}"),
    ]
    pod = api.requests[1][2]
    assert pod["metadata"] == {"name": m, "namespace": m}
    assert pod["spec"]["nodeName"] == NO_NODE
    assert pod["spec"]["containers"][0]["securityContext"] == {"privileged": True}
    assert api.auth == {"Bearer t0ken"}


def test_secret_read_creates_reads_and_deletes(cluster: tuple[FakeApi, str]) -> None:
    api, kubeconfig = cluster
    m = run("k8s_secret_read", kubeconfig)
    assert api.calls() == [
        ("POST", "/api/v1/namespaces"),
        ("POST", f"/api/v1/namespaces/{m}/secrets"),
        ("GET", f"/api/v1/namespaces/{m}/secrets/{m}"),
        ("DELETE", f"/api/v1/namespaces/{m}/secrets/{m}"),
        ("DELETE", f"/api/v1/namespaces/{m}"),
    ]


def test_namespace_deleted_deletes_only_its_own_namespace(cluster: tuple[FakeApi, str]) -> None:
    api, kubeconfig = cluster
    m = run("k8s_namespace_deleted", kubeconfig)
    assert api.calls() == [("POST", "/api/v1/namespaces"), ("DELETE", f"/api/v1/namespaces/{m}")]


def test_cluster_role_is_removed(cluster: tuple[FakeApi, str]) -> None:
    api, kubeconfig = cluster
    m = run("k8s_wildcard_role", kubeconfig)
    base = "/apis/rbac.authorization.k8s.io/v1/clusterroles"
    assert api.calls() == [("POST", base), ("DELETE", f"{base}/{m}")]


@pytest.mark.parametrize("name", ["k8s_exec_into_pod", "k8s_csr_approved", "k8s_anonymous_request"])
def test_calls_not_made_on_a_real_cluster_are_clear_errors(
    name: str, cluster: tuple[FakeApi, str]
) -> None:
    api, kubeconfig = cluster
    with pytest.raises(ActionError, match="not made on a real cluster"):
        run(name, kubeconfig)
    assert api.requests == []
