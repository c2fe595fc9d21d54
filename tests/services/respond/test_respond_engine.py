"""The response loop: rules -> actions -> audit and metrics, de-duplication, dry-run,
retries with back-off, and failures that never escape."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from respond_fake_k8s import FakeKube
from respond_helpers import make_alert, rules_from

from lanner.exceptions import AlertError
from lanner.services.respond.actions import ACTIONS
from lanner.services.respond.actions.kube import KubeClients
from lanner.services.respond.audit import AuditLog
from lanner.services.respond.dedup import Deduplicator
from lanner.services.respond.engine import Dispatcher, Responder

ISOLATE_AND_LABEL = """\
- rule: contain
  match: {rules: [Outbound Connection to C2 Servers], priority: ">=Warning"}
  actions:
    - action: kubernetes:isolate
      parameters: {deny: [egress]}
    - action: kubernetes:label
      parameters: {labels: {lanner.dev/isolated: "true"}}
"""


class Clock:
    """A hand-moved clock for the de-duplication window."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def pod(fake_kube: FakeKube) -> FakeKube:
    fake_kube.add_pod("default", "web-1", {"app": "web"})
    fake_kube.add_pod("default", "web-2", {"app": "web2"})
    return fake_kube


def _responder(tmp_path: Path, kube: KubeClients, text: str, **kw: Any) -> Responder:
    kw.setdefault("sleep", lambda s: None)
    return Responder(rules_from(tmp_path, text), kube=kube, **kw)


def _metric(responder: Responder, name: str, **labels: str) -> float:
    value = responder.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


def test_alert_runs_rule_actions_and_is_audited(
    tmp_path: Path, pod: FakeKube, kube_clients: KubeClients
) -> None:
    audit = AuditLog(tmp_path / "audit" / "respond.jsonl")
    responder = _responder(tmp_path, kube_clients, ISOLATE_AND_LABEL, audit=audit)
    records = responder.handle(make_alert(), "http")
    assert [(r.action, r.result, r.target) for r in records] == [
        ("kubernetes:isolate", "ok", "pod default/web-1"),
        ("kubernetes:label", "ok", "pod default/web-1"),
    ]
    assert pod.get("networkpolicies", "default", "lanner-isolate-web-1") is not None
    assert pod.get("pods", "default", "web-1")["metadata"]["labels"]["lanner.dev/isolated"] == (
        "true"
    )
    lines = [json.loads(x) for x in audit.path.read_text().splitlines()]
    assert [(x["action"], x["result"], x["response_rule"], x["dry_run"]) for x in lines] == [
        ("kubernetes:isolate", "ok", "contain", False),
        ("kubernetes:label", "ok", "contain", False),
    ]
    assert lines[0]["alert_rule"] == "Outbound Connection to C2 Servers"
    assert lines[0]["changes"]["networkpolicy"]["spec"]["policyTypes"] == ["Egress"]
    assert _metric(responder, "lanner_respond_alerts_received_total", input="http") == 1
    assert _metric(responder, "lanner_respond_rule_matches_total", rule="contain") == 1
    assert (
        _metric(responder, "lanner_respond_actions_total", action="kubernetes:isolate", result="ok")
        == 1
    )


def test_non_matching_alert_does_nothing(
    tmp_path: Path, pod: FakeKube, kube_clients: KubeClients
) -> None:
    responder = _responder(tmp_path, kube_clients, ISOLATE_AND_LABEL)
    assert responder.handle(make_alert(priority="Notice")) == []
    assert responder.handle(make_alert(rule="Something else")) == []
    assert pod.writes() == []


def test_invalid_payload_is_rejected_and_counted(tmp_path: Path, kube_clients: KubeClients) -> None:
    responder = _responder(tmp_path, kube_clients, ISOLATE_AND_LABEL)
    with pytest.raises(AlertError):
        responder.handle({"output": "no rule"}, "http")
    with pytest.raises(AlertError, match="unknown priority"):
        responder.handle(make_alert(priority="Severe"), "http")
    assert _metric(responder, "lanner_respond_alerts_invalid_total", input="http") == 2


def test_dedup_window(tmp_path: Path, pod: FakeKube, kube_clients: KubeClients) -> None:
    clock = Clock()
    responder = _responder(
        tmp_path, kube_clients, ISOLATE_AND_LABEL, dedup=Deduplicator(60, clock=clock)
    )
    assert len(responder.handle(make_alert())) == 2
    writes = len(pod.writes())
    # the same alert again (other pid and time) within the window: ignored
    fields = {**make_alert()["output_fields"], "proc.pid": 9999, "evt.time": 1}
    clock.now += 59
    assert responder.handle(make_alert(output_fields=fields, time="later")) == []
    assert len(pod.writes()) == writes
    assert _metric(responder, "lanner_respond_alerts_deduplicated_total") == 1
    # another pod is another alert
    other = {**fields, "k8s.pod.name": "web-2"}
    assert len(responder.handle(make_alert(output_fields=other))) == 2
    # once the window has passed, the first alert is acted upon again
    clock.now += 1
    assert len(responder.handle(make_alert())) == 2
    assert _metric(responder, "lanner_respond_alerts_deduplicated_total") == 1


def test_dedup_zero_window_is_off(tmp_path: Path, pod: FakeKube, kube_clients: KubeClients) -> None:
    responder = _responder(tmp_path, kube_clients, ISOLATE_AND_LABEL, dedup=Deduplicator(0))
    assert len(responder.handle(make_alert())) == 2
    assert len(responder.handle(make_alert())) == 2


@pytest.mark.parametrize(
    ("text", "global_dry"),
    [
        (ISOLATE_AND_LABEL, True),
        (ISOLATE_AND_LABEL.replace("  actions:", "  dry_run: true\n  actions:"), False),
    ],
)
def test_dry_run_global_and_per_rule(
    tmp_path: Path, pod: FakeKube, kube_clients: KubeClients, text: str, global_dry: bool
) -> None:
    responder = _responder(tmp_path, kube_clients, text, dry_run=global_dry)
    records = responder.handle(make_alert())
    assert [(r.result, r.dry_run) for r in records] == [("dry_run", True), ("dry_run", True)]
    assert records[0].detail == "would create NetworkPolicy lanner-isolate-web-1"
    assert pod.writes() == []
    assert (
        _metric(
            responder, "lanner_respond_actions_total", action="kubernetes:label", result="dry_run"
        )
        == 1
    )


def test_dry_run_per_action(tmp_path: Path, pod: FakeKube, kube_clients: KubeClients) -> None:
    text = ISOLATE_AND_LABEL.replace(
        "      parameters: {deny: [egress]}",
        "      parameters: {deny: [egress]}\n      dry_run: true",
    )
    records = _responder(tmp_path, kube_clients, text).handle(make_alert())
    assert [r.result for r in records] == ["dry_run", "ok"]
    assert pod.get("networkpolicies", "default", "lanner-isolate-web-1") is None
    assert [r.method for r in pod.writes()] == ["PATCH"]


def test_transient_failure_is_retried_with_backoff(
    tmp_path: Path, pod: FakeKube, kube_clients: KubeClients
) -> None:
    sleeps: list[float] = []
    pod.fail_next += [("POST", "networkpolicies$", 503), ("POST", "networkpolicies$", 500)]
    responder = _responder(
        tmp_path, kube_clients, ISOLATE_AND_LABEL, retries=2, backoff=0.25, sleep=sleeps.append
    )
    records = responder.handle(make_alert())
    assert [(r.result, r.attempts) for r in records] == [("ok", 3), ("ok", 1)]
    assert sleeps == [0.25, 0.5]
    assert pod.get("networkpolicies", "default", "lanner-isolate-web-1") is not None


def test_retries_run_out_and_later_actions_are_skipped(
    tmp_path: Path, pod: FakeKube, kube_clients: KubeClients
) -> None:
    sleeps: list[float] = []
    pod.fail_next += [("POST", "networkpolicies$", 503)] * 2
    responder = _responder(
        tmp_path, kube_clients, ISOLATE_AND_LABEL, retries=1, sleep=sleeps.append
    )
    records = responder.handle(make_alert())
    assert [(r.action, r.result, r.attempts) for r in records] == [
        ("kubernetes:isolate", "failed", 2),
        ("kubernetes:label", "skipped", 0),
    ]
    assert "HTTP 503" in records[0].detail
    assert records[1].detail == "skipped: earlier action kubernetes:isolate failed"
    assert len(sleeps) == 1
    labels = pod.get("pods", "default", "web-1")["metadata"]["labels"]
    assert "lanner.dev/isolated" not in labels  # the skipped label action did nothing
    assert (
        _metric(
            responder, "lanner_respond_actions_total", action="kubernetes:isolate", result="failed"
        )
        == 1
    )


def test_permanent_failure_is_not_retried(
    tmp_path: Path, pod: FakeKube, kube_clients: KubeClients
) -> None:
    sleeps: list[float] = []
    pod.fail_next.append(("POST", "networkpolicies$", 403))
    records = _responder(tmp_path, kube_clients, ISOLATE_AND_LABEL, sleep=sleeps.append).handle(
        make_alert()
    )
    assert (records[0].result, records[0].attempts, sleeps) == ("failed", 1, [])


def test_ignore_errors_and_action_continue(
    tmp_path: Path, pod: FakeKube, kube_clients: KubeClients
) -> None:
    text = """\
- rule: r
  actions:
    - action: kubernetes:delete
      parameters: {pod_field: no.such.field}
      ignore_errors: true
    - action: kubernetes:label
      parameters: {labels: {a: b}}
      continue: false
    - action: kubernetes:cordon
"""
    records = _responder(tmp_path, kube_clients, text).handle(make_alert())
    assert [(r.action, r.result) for r in records] == [
        ("kubernetes:delete", "failed"),
        ("kubernetes:label", "ok"),
    ]
    assert "unschedulable" not in pod.get("nodes", "", "node-1")["spec"]


def test_a_crashing_action_is_reported_not_raised(
    tmp_path: Path, pod: FakeKube, kube_clients: KubeClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(self: Any, ctx: Any) -> Any:
        raise RuntimeError("bug in an action")

    monkeypatch.setattr(ACTIONS["kubernetes:isolate"], "run", boom)
    responder = _responder(tmp_path, kube_clients, ISOLATE_AND_LABEL)
    records = responder.handle(make_alert())
    assert records[0].result == "failed"
    assert records[0].detail == "RuntimeError: bug in an action"
    # the responder keeps working
    monkeypatch.undo()
    assert [r.result for r in responder.handle(make_alert())] == ["ok", "ok"]


def test_unreachable_api_server_fails_cleanly(tmp_path: Path) -> None:
    dead = tmp_path / "kubeconfig"
    dead.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    from lanner.services.respond.actions.kube import KubeConfig

    sleeps: list[float] = []
    responder = _responder(
        tmp_path,
        KubeClients(KubeConfig(kubeconfig=str(dead))),
        ISOLATE_AND_LABEL,
        retries=1,
        sleep=sleeps.append,
    )
    records = responder.handle(make_alert())
    assert [(r.result, r.attempts) for r in records] == [("failed", 2), ("skipped", 0)]
    assert sleeps == [0.5]


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append({"body": json.loads(body), "auth": self.headers.get("X-Token")})
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def hook() -> Any:
    received: list[dict[str, Any]] = []
    handler = type("Hook", (_Hook,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    yield server, handler, received
    server.shutdown()
    server.server_close()


def test_webhook_reports_what_was_done(
    tmp_path: Path, pod: FakeKube, kube_clients: KubeClients, hook: Any
) -> None:
    server, _handler, received = hook
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    text = ISOLATE_AND_LABEL + (
        f"    - action: notify:webhook\n      parameters:\n        url: {url}\n"
        "        headers: {X-Token: s3cret}\n        message: 'isolated ${k8s.pod.name}'\n"
    )
    records = _responder(tmp_path, kube_clients, text).handle(make_alert())
    assert [r.result for r in records] == ["ok", "ok", "ok"]
    [got] = received
    assert got["auth"] == "s3cret"
    body = got["body"]
    assert body["text"] == "isolated web-1"
    assert body["response_rule"] == "contain"
    assert body["alert"] == make_alert()
    assert [(a["action"], a["result"]) for a in body["actions"]] == [
        ("kubernetes:isolate", "ok"),
        ("kubernetes:label", "ok"),
    ]


def test_webhook_server_error_is_retried_then_reported(
    tmp_path: Path, kube_clients: KubeClients, hook: Any
) -> None:
    server, handler, received = hook
    handler.status = 502
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    text = (
        f"- rule: n\n  actions:\n    - action: notify:webhook\n      parameters: {{url: '{url}'}}\n"
    )
    [record] = _responder(tmp_path, kube_clients, text, retries=2).handle(make_alert())
    assert (record.result, record.attempts) == ("failed", 3)
    assert len(received) == 3 and "HTTP 502" in record.detail


def test_dispatcher_works_off_a_queue(
    tmp_path: Path, pod: FakeKube, kube_clients: KubeClients
) -> None:
    responder = _responder(tmp_path, kube_clients, ISOLATE_AND_LABEL)
    dispatcher = Dispatcher(responder, workers=2)
    try:
        with pytest.raises(AlertError):
            dispatcher.submit({"priority": "Warning"}, "http")
        for name in ("web-1", "web-2"):
            fields = {**make_alert()["output_fields"], "k8s.pod.name": name}
            dispatcher.submit(make_alert(output_fields=fields), "http")
        dispatcher.join()
    finally:
        dispatcher.stop()
    assert pod.get("networkpolicies", "default", "lanner-isolate-web-1") is not None
    assert pod.get("networkpolicies", "default", "lanner-isolate-web-2") is not None
    assert len(responder.audit.recent) == 4


def test_an_alert_lacking_the_pod_opens_no_dedup_window(
    tmp_path: Path, pod: FakeKube, kube_clients: KubeClients
) -> None:
    """Issue 24: a first alert without k8s.pod.name (container metadata not there yet)
    fails its actions but must not hide the complete alert that follows."""
    clock = Clock()
    responder = _responder(
        tmp_path,
        kube_clients,
        ISOLATE_AND_LABEL,
        dedup=Deduplicator(60, key_fields=("k8s.ns.name", "container.id"), clock=clock),
    )
    fields = {k: v for k, v in make_alert()["output_fields"].items() if k != "k8s.pod.name"}
    incomplete = responder.handle(make_alert(output_fields=fields))
    assert [r.result for r in incomplete] == ["failed", "skipped"]
    assert "no 'k8s.pod.name'" in incomplete[0].detail
    clock.now += 1
    complete = responder.handle(make_alert())  # same dedup key, now with the pod
    assert [r.result for r in complete] == ["ok", "ok"]
    assert _metric(responder, "lanner_respond_alerts_deduplicated_total") == 0
    clock.now += 1
    assert responder.handle(make_alert()) == []  # the complete one did open a window
    assert _metric(responder, "lanner_respond_alerts_deduplicated_total") == 1


def test_duplicates_are_counted_and_logged_at_debug_and_unmatched_alerts_not_at_all(
    tmp_path: Path, pod: FakeKube, kube_clients: KubeClients, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 28: repeats are a DEBUG line and a metric, never INFO; alerts no rule matches
    are not de-duplicated (nothing to do for them)."""
    responder = _responder(tmp_path, kube_clients, ISOLATE_AND_LABEL, dedup=Deduplicator(60))
    caplog.set_level(logging.DEBUG, logger="lanner.respond")
    responder.handle(make_alert())
    caplog.clear()
    for _ in range(5):
        assert responder.handle(make_alert()) == []
        assert responder.handle(make_alert(rule="Some other rule")) == []
    assert _metric(responder, "lanner_respond_alerts_deduplicated_total") == 5
    duplicates = [r for r in caplog.records if "duplicate" in r.getMessage()]
    assert len(duplicates) == 5
    assert {r.levelno for r in duplicates} == {logging.DEBUG}
    assert all("Some other rule" not in r.getMessage() for r in caplog.records)
