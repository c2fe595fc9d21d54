"""The manifests' services, run with their own command lines and configuration: an audit
event goes from the engine's webhook through sidekick to the UI, respond and Loki."""

from __future__ import annotations

import json

import httpx

from .conftest import NODE, TOKENS, Stack, engine_alerts, loki_streams, send_audit_event
from .helpers import wait_until

RULE = "K8s exec into pod"


def test_engine_turns_an_audit_event_into_a_falco_alert(stack: Stack) -> None:
    send_audit_event(stack)
    (alert,) = engine_alerts(stack)
    assert alert["rule"] == RULE
    assert alert["source"] == "k8s_audit"
    assert alert["priority"] == "Notice"
    assert alert["hostname"] == NODE  # LANNER_HOSTNAME from spec.nodeName
    assert "user=alice pod=web-1 ns=shop" in alert["output"]
    assert alert["time"].endswith("Z")
    # without a loadable probe, k8saudit keeps the engine up with the syscall source off
    assert any("syscall source disabled" in ln for ln in stack.engine.err.snapshot())


def test_sidekick_forwards_the_alert_to_ui_respond_and_loki(stack: Stack) -> None:
    send_audit_event(stack)
    headers = {"Authorization": f"Bearer {TOKENS['ui-token']}"}

    def in_ui() -> list:
        page = httpx.get(stack.urls["ui"] + "/api/v1/events", headers=headers).json()
        return [e for e in page["events"] if e["rule"] == RULE]

    (event,) = wait_until(in_ui, what="the alert in the UI")
    assert event["hostname"] == NODE
    # without the token the UI refuses
    assert httpx.get(stack.urls["ui"] + "/api/v1/events").status_code == 401
    wait_until(
        lambda: (
            'lanner_respond_alerts_received_total{input="http"} 1.0' in stack.metrics("respond")
        ),
        what="respond to receive the alert",
    )
    (stream,) = wait_until(lambda: loki_streams(stack), what="the Loki push")
    labels = stream["stream"]
    assert labels["rule"] == RULE and labels["priority"] == "Notice"
    assert labels["hostname"] == NODE and labels["source"] == "k8s_audit"
    assert labels["cluster"] == "default"  # customfields from CLUSTER_NAME
    sent = stack.metrics("sidekick")
    for output in ("lannerui", "lannerrespond", "loki"):
        assert f'destination="{output}",priority="notice",status="sent"' in sent, output


def test_respond_needs_its_token_and_matches_nothing_here(stack: Stack) -> None:
    send_audit_event(stack)
    alert = engine_alerts(stack)[0]
    assert httpx.post(stack.urls["respond"] + "/", json=alert).status_code == 401
    # an exec alert is not one the shipped response rules act on
    wait_until(lambda: "lanner_respond_alerts_received_total" in stack.metrics("respond"))
    assert "lanner_respond_rule_matches_total{" not in stack.metrics("respond")
    audit = stack.tmp / "respond.jsonl"
    assert not audit.exists() or audit.read_text() == ""


def test_engine_metrics_count_the_alert(stack: Stack) -> None:
    send_audit_event(stack)
    metrics = stack.metrics("engine")
    assert f'lanner_alerts_total{{priority="Notice",rule="{RULE}",source="k8s_audit"}} 1.0' in (
        metrics
    )
    loaded = next(ln for ln in metrics.splitlines() if ln.startswith("lanner_rules_loaded "))
    assert float(loaded.split()[1]) >= 61 + 26 + 1  # default syscall + audit rules + local
    versions = httpx.get(stack.urls["engine"] + "/versions").json()
    assert {"syscall", "k8s_audit"} <= set(versions["sources"])
    wait_until(
        lambda: 'lanner_output_sent_total{output="http"} 1.0' in stack.metrics("engine"),
        what="the http output to count the alert",
    )
    assert json.loads(httpx.get(stack.urls["engine"] + "/healthz").text) == {"status": "ok"}
