"""NATS input against a real nats-server on a free loopback port."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from respond_fake_k8s import FakeKube, free_port
from respond_helpers import make_alert, rules_from

from lanner.services.respond.actions.kube import KubeClients
from lanner.services.respond.engine import Dispatcher, Responder
from lanner.services.respond.nats_input import NatsInput

pytestmark = pytest.mark.servers


async def _publish(url: str, messages: list[tuple[str, bytes]]) -> None:
    import nats

    nc = await nats.connect(url)
    for subject, data in messages:
        await nc.publish(subject, data)
    await nc.flush()
    await nc.drain()


def _wait_for(predicate: object, what: str) -> None:
    deadline = time.monotonic() + 20
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_alerts_from_subscribed_subjects_are_acted_upon(
    tmp_path: Path, nats_url: str, fake_kube: FakeKube, kube_clients: KubeClients
) -> None:
    fake_kube.add_pod("default", "web-1", {"app": "web"})
    fake_kube.add_pod("default", "web-2", {"app": "web2"})
    fake_kube.add_pod("default", "web-3", {"app": "web3"})
    rules = rules_from(tmp_path, "- rule: c\n  actions: [{action: kubernetes:isolate}]\n")
    responder = Responder(rules, kube=kube_clients)
    dispatcher = Dispatcher(responder, workers=1)
    nats_input = NatsInput(nats_url, ["falco.critical", "falco.warning.>"], dispatcher)
    nats_input.start()
    try:

        def alert_for(pod: str) -> bytes:
            fields = {**make_alert()["output_fields"], "k8s.pod.name": pod}
            return json.dumps(make_alert(output_fields=fields)).encode()

        asyncio.run(
            _publish(
                nats_url,
                [
                    ("falco.critical", alert_for("web-1")),
                    ("falco.warning.syscall", alert_for("web-2")),
                    ("falco.notice", alert_for("web-3")),  # not subscribed
                    ("falco.critical", b"not json"),
                    ("falco.critical", b'{"rule": "no priority"}'),
                ],
            )
        )
        metrics = responder.metrics.registry

        def seen_all() -> bool:
            received = metrics.get_sample_value(
                "lanner_respond_alerts_received_total", {"input": "nats"}
            )
            invalid = metrics.get_sample_value(
                "lanner_respond_alerts_invalid_total", {"input": "nats"}
            )
            return (received or 0) >= 3 and (invalid or 0) >= 2

        _wait_for(seen_all, "the NATS messages")
        dispatcher.join()
    finally:
        nats_input.stop()
        dispatcher.stop()
    assert fake_kube.get("networkpolicies", "default", "lanner-isolate-web-1") is not None
    assert fake_kube.get("networkpolicies", "default", "lanner-isolate-web-2") is not None
    assert fake_kube.get("networkpolicies", "default", "lanner-isolate-web-3") is None
    assert [r.target for r in responder.audit.recent] == ["pod default/web-1", "pod default/web-2"]


def test_unreachable_nats_is_reported(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, "- rule: c\n  actions: [{action: kubernetes:cordon}]\n")
    dispatcher = Dispatcher(Responder(rules), workers=1)
    try:
        nats_input = NatsInput(
            f"nats://127.0.0.1:{free_port()}", ["falco.>"], dispatcher, connect_timeout=1
        )
        with pytest.raises(ConnectionError, match=r"NATS nats://127\.0\.0\.1"):
            nats_input.start()
    finally:
        dispatcher.stop()
