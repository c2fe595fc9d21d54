"""The Kubernetes "standard" overlay's four services, run here as processes.

Each service runs with its container's command line, environment and configuration taken
from the rendered manifests; only what a pod gets from the cluster is replaced: ports on
loopback instead of Service names, temp files instead of volumes, a token instead of the
Secret. An audit event then goes through the whole chain: the API server's webhook call
to the engine, the engine's http_output to sidekick, and sidekick's outputs to the UI,
respond and Loki (a local receiver standing in for Grafana Loki).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from . import apiserver
from .helpers import (
    ROOT,
    Service,
    configmap_file,
    container,
    env_of,
    find,
    free_port,
    rendered,
    wait_until,
)

TOKENS = {"ui-token": "ui-admin-token-0123", "respond-token": "respond-token-4567"}
NODE = "node-1"
EXEC_EVENT = {
    "kind": "Event",
    "apiVersion": "audit.k8s.io/v1",
    "level": "Metadata",
    "auditID": "5b1f2f1e-0000-4000-8000-000000000001",
    "stage": "ResponseComplete",
    "verb": "create",
    "user": {"username": "alice", "groups": ["system:authenticated"]},
    "sourceIPs": ["10.0.0.7"],
    "requestURI": "/api/v1/namespaces/shop/pods/web-1/exec?command=sh&container=web&stdin=true",
    "objectRef": {
        "resource": "pods",
        "namespace": "shop",
        "name": "web-1",
        "subresource": "exec",
        "apiVersion": "v1",
    },
    "responseStatus": {"metadata": {}, "code": 101},
    "requestReceivedTimestamp": "2026-11-25T10:00:00.000000Z",
    "stageTimestamp": "2026-11-25T10:00:01.000000Z",
}


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[apiserver.APIServer]:
    """One real kube-apiserver (and etcd) for the session, sending its audit events to
    ``kube.audit`` (tests start ``lanner run``'s webhook there when they need them)."""
    server = apiserver.start(tmp_path_factory.mktemp("kube"), audit=True)
    try:
        yield server
    finally:
        server.stop()


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.bodies.append((self.path, body))  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _env(c: dict[str, Any], **replace: str) -> dict[str, str]:
    """A container's environment with Secret references filled from TOKENS."""
    out = {}
    for name, value in env_of(c).items():
        if isinstance(value, dict) and "secretKeyRef" in value:
            ref = value["secretKeyRef"]
            if ref["key"] not in TOKENS:
                assert ref.get("optional"), ref
                continue
            value = TOKENS[ref["key"]]
        if isinstance(value, dict) and "fieldRef" in value:
            assert name in replace, f"{name} comes from {value}: the test must give it"
            continue
        assert isinstance(value, str), (name, value)
        out[name] = value
    out.update(replace)
    return out


def _args(c: dict[str, Any], **replace: str) -> list[str]:
    """A container's args, with ``--opt=value`` replaced for the options named."""
    out = []
    for arg in c["args"]:
        opt = arg.split("=", 1)[0].lstrip("-").replace("-", "_")
        out.append(f"{arg.split('=', 1)[0]}={replace[opt]}" if opt in replace else arg)
    return out


@dataclass
class Stack:
    """The running services and what they were given."""

    tmp: Path
    engine: Service
    sidekick: Service
    ui: Service
    respond: Service
    urls: dict[str, str]
    loki: list[tuple[str, bytes]] = field(default_factory=list)

    def metrics(self, name: str) -> str:
        return httpx.get(self.urls[name] + "/metrics", timeout=10).text


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("stack")
    objs = rendered("overlays/standard")
    ports = {n: free_port() for n in ("engine", "audit", "sidekick", "ui", "respond")}
    urls = {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}
    loki = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    loki.bodies = []  # type: ignore[attr-defined]
    threading.Thread(target=loki.serve_forever, daemon=True).start()
    started: list[Service] = []
    try:
        # lanner ui, as the lanner-ui Deployment runs it
        ui_c = container(find(objs, "Deployment", "lanner-ui"))
        ui = Service(
            *_args(ui_c, host="127.0.0.1", port=str(ports["ui"])),
            env=_env(ui_c, LANNER_UI_DB=f"sqlite:///{tmp}/ui.db"),
        )
        started.append(ui)
        # lanner respond with the rules of its ConfigMap
        respond_d = find(objs, "Deployment", "lanner-respond")
        rules = tmp / "respond-rules.yaml"
        rules.write_text(configmap_file(objs, "lanner-respond-rules", "rules.yaml"))
        respond = Service(
            *_args(
                container(respond_d),
                rules=str(rules),
                listen=f"127.0.0.1:{ports['respond']}",
                audit_log=str(tmp / "respond.jsonl"),
            ),
            env=_env(container(respond_d)),
        )
        started.append(respond)
        # lanner sidekick with its ConfigMap and the overlay's env (UI, respond, Loki)
        sk_c = container(find(objs, "Deployment", "lanner-sidekick"))
        sk_conf = tmp / "sidekick.yaml"
        sk_conf.write_text(configmap_file(objs, "lanner-sidekick", "sidekick.yaml"))
        (tmp / "spool").mkdir()
        sk_args = [a if not a.endswith("sidekick.yaml") else str(sk_conf) for a in sk_c["args"]]
        sidekick = Service(
            *sk_args,
            env=_env(
                sk_c,
                LISTENADDRESS="127.0.0.1",
                LISTENPORT=str(ports["sidekick"]),
                DELIVERY_SPOOLDIR=str(tmp / "spool"),
                LANNERUI_ADDRESS=urls["ui"],
                LANNERRESPOND_ADDRESS=urls["respond"],
                LOKI_HOSTPORT=f"http://127.0.0.1:{loki.server_address[1]}",
            ),
        )
        started.append(sidekick)
        # lanner run with the engine's ConfigMap, default rules and the rules ConfigMap
        ds = find(objs, "DaemonSet", "lanner")
        conf = tmp / "lanner.yaml"
        conf.write_text(configmap_file(objs, "lanner-config", "lanner.yaml"))
        rules_d = tmp / "rules.d"
        rules_d.mkdir()
        for name, text in find(objs, "ConfigMap", "lanner-rules")["data"].items():
            (rules_d / name).write_text(text)
        shipped = ROOT / "src/lanner/rules"
        rules_files = [
            str(shipped / "lanner_rules.yaml"),
            str(shipped / "lanner_k8s_audit_rules.yaml"),
            str(rules_d),
        ]
        args = [a if not a.endswith("lanner.yaml") else str(conf) for a in container(ds)["args"]]
        engine = Service(
            *args,
            "-o",
            f"rules_files={json.dumps(rules_files)}",
            "-o",
            "webserver.listen_address=127.0.0.1",
            "-o",
            f"webserver.listen_port={ports['engine']}",
            "-o",
            f"plugins[0].open_params=http://127.0.0.1:{ports['audit']}/k8s-audit",
            "-o",
            f"http_output.url={urls['sidekick']}/",
            # no probe here: the engine must keep serving the webhook without it
            env=_env(container(ds), LANNER_HOSTNAME=NODE, LANNER_PROBE=str(tmp / "no-probe.o")),
        )
        started.append(engine)
        for name in ("engine", "sidekick", "ui", "respond"):
            path = {"sidekick": "/ping"}.get(name, "/healthz")
            wait_until(
                lambda n=name, p=path: (
                    all(s.alive() for s in started) and httpx.get(urls[n] + p).status_code == 200
                ),
                what=f"{name} to answer",
            )
        yield Stack(tmp, engine, sidekick, ui, respond, urls, loki.bodies)  # type: ignore[attr-defined]
    finally:
        for svc in started:
            svc.stop()
        loki.shutdown()


def engine_alerts(stack: Stack) -> list[dict[str, Any]]:
    """The JSON alerts the engine printed."""
    return [json.loads(ln) for ln in stack.engine.out.snapshot() if ln.startswith("{")]


def loki_streams(stack: Stack) -> list[dict[str, Any]]:
    """The streams Loki received."""
    return [s for _, body in stack.loki for s in json.loads(body)["streams"]]


def sidekick_config() -> dict[str, Any]:
    """The sidekick.yaml of the ConfigMap."""
    return yaml.safe_load(
        configmap_file(rendered("overlays/minimal"), "lanner-sidekick", "sidekick.yaml")
    )


def send_audit_event(stack: Stack) -> None:
    """POST the exec audit event to the engine (once) and wait for its alert."""
    if not engine_alerts(stack):
        answer = httpx.post(
            stack.urls["engine"] + "/k8s-audit",
            json={"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [EXEC_EVENT]},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["accepted"] == 1
    wait_until(lambda: engine_alerts(stack), what="the engine's alert")
