"""The HTTP receiver: POST /, /healthz, /metrics, /audit and the bearer token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from respond_fake_k8s import FakeKube
from respond_helpers import make_alert, rules_from

from lanner.services.respond.actions.kube import KubeClients
from lanner.services.respond.app import create_app
from lanner.services.respond.engine import Dispatcher, Responder

RULES = """\
- rule: contain
  match: {priority: ">=Warning"}
  actions:
    - action: kubernetes:isolate
"""


@pytest.fixture
def dispatcher(
    tmp_path: Path, fake_kube: FakeKube, kube_clients: KubeClients
) -> Iterator[Dispatcher]:
    fake_kube.add_pod("default", "web-1", {"app": "web"})
    d = Dispatcher(Responder(rules_from(tmp_path, RULES), kube=kube_clients), workers=1)
    yield d
    d.stop()


def test_post_alert_isolates_the_pod(dispatcher: Dispatcher, fake_kube: FakeKube) -> None:
    client = TestClient(create_app(dispatcher))
    resp = client.post("/", json=make_alert())
    assert resp.status_code == 202 and resp.json() == {"accepted": 1}
    dispatcher.join()
    np = fake_kube.get("networkpolicies", "default", "lanner-isolate-web-1")
    uid = fake_kube.get("pods", "default", "web-1")["metadata"]["uid"]
    assert np["spec"]["podSelector"] == {"matchLabels": {"lanner.dev/quarantine": uid}}
    audit = client.get("/audit").json()
    assert [(a["action"], a["result"]) for a in audit] == [("kubernetes:isolate", "ok")]
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'lanner_respond_actions_total{action="kubernetes:isolate",result="ok"} 1.0' in (
        metrics.text
    )
    assert 'lanner_respond_alerts_received_total{input="http"} 1.0' in metrics.text


def test_a_list_of_alerts_is_accepted(dispatcher: Dispatcher) -> None:
    client = TestClient(create_app(dispatcher))
    resp = client.post("/", json=[make_alert(), make_alert(priority="Debug")])
    assert resp.json() == {"accepted": 2}


def test_bad_payloads(dispatcher: Dispatcher, fake_kube: FakeKube) -> None:
    client = TestClient(create_app(dispatcher))
    resp = client.post("/", content=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json()["error"].startswith("invalid JSON: ")
    resp = client.post("/", json={"rule": "x"})
    assert resp.status_code == 400 and "no 'priority'" in resp.json()["error"]
    resp = client.post("/", content=b"[" + b" " * (1 << 20) + b"]")
    assert resp.status_code == 413
    # a lone surrogate is not valid JSON text (it cannot be encoded again later)
    resp = client.post("/", content=b'{"rule": "\\ud800", "priority": "Critical"}')
    assert resp.status_code == 400 and "invalid JSON" in resp.json()["error"]
    deep = json.dumps(make_alert())[:-1] + ', "extra": ' + '{"x": ' * 1000 + "1" + "}" * 1001
    resp = client.post("/", content=deep.encode())
    assert resp.status_code == 400
    assert resp.json()["error"].startswith("JSON nested deeper than 32 levels (at $.extra.x.x")
    dispatcher.join()
    assert fake_kube.writes() == []
    text = client.get("/metrics").text
    assert 'lanner_respond_alerts_invalid_total{input="http"} 4.0' in text


def test_content_length_that_is_not_a_number_is_400(dispatcher: Dispatcher) -> None:
    """Sent as raw ASGI (an HTTP client library would not send it): answered 400."""
    import asyncio

    app = create_app(dispatcher, token="s3cret")
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/", "raw_path": b"/", "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2804),
        "headers": [(b"content-length", b"abc"), (b"authorization", b"Bearer s3cret")],
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 400
    assert b"Content-Length 'abc' is not a number of bytes" in sent[1]["body"]  # type: ignore[operator]


def test_bearer_token(dispatcher: Dispatcher) -> None:
    client = TestClient(create_app(dispatcher, token="s3cret"))
    assert client.post("/", json=make_alert()).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.post("/", json=make_alert(), headers=wrong).status_code == 401
    assert client.get("/audit").status_code == 401
    good = {"Authorization": "Bearer s3cret"}
    assert client.post("/", json=make_alert(), headers=good).status_code == 202
    assert client.get("/audit", headers=good).status_code == 200
    # probes stay open
    assert client.get("/healthz").json() == {
        "status": "ok",
        "rules": 1,
        "rules_generation": 0,
        "dry_run": False,
    }
    assert client.get("/metrics").status_code == 200


def test_full_queue_answers_503(tmp_path: Path, kube_clients: KubeClients) -> None:
    responder = Responder(rules_from(tmp_path, RULES), kube=kube_clients)
    stalled = Dispatcher(responder, workers=0, max_queue=1)  # nobody takes work off
    client = TestClient(create_app(stalled))
    assert client.post("/", json=make_alert()).status_code == 202
    resp = client.post("/", json=make_alert())
    assert resp.status_code == 503 and resp.headers["retry-after"] == "1"
    assert 'lanner_respond_alerts_dropped_total{input="http"} 1.0' in client.get("/metrics").text
