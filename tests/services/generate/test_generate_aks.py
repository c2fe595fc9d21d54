"""``lanner generate test --aks-eventhub`` proves the k8saudit-aks source end to end (issue
25): a real ``lanner run`` with the k8saudit-aks plugin and the upstream
k8s_audit_rules.yaml reads the Event Hub the generator sends each k8s audit action's
events to, as AKS's diagnostic settings send them. The namespace is a DOUBLE
(tests/helpers/eventhubs_double.py: AMQP 1.0 on Qpid Proton; no Event Hubs server can run
here); both sides use Microsoft's client (azure-eventhub). Every enabled rule of the file
is proved, or said why it cannot be here."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import shared_fixture, wait_until
from helpers.eventhubs_double import EventHubsDouble
from lanner.services.generate.registry import UNCOVERED_FALCO

from .lanner_proc import LANNER, LannerRun, enabled_rules, report_rows


@pytest.fixture
def hub() -> Iterator[EventHubsDouble]:
    double = EventHubsDouble(hub="aks-audit", partitions=2)
    yield double
    double.close()


def test_generate_proves_k8s_audit_rules_through_an_event_hub(
    tmp_path: Path, hub: EventHubsDouble
) -> None:
    rules = shared_fixture("rules", "k8s_audit_rules.yaml")
    (tmp_path / "alerts.json").touch()
    plugin = {"name": "k8saudit-aks", "open_params": "gen",
              "init_config": {"event_hub_namespace_connection_string": hub.connection_string(),
                              "event_hub_name": "aks-audit"}}  # fmt: skip
    run = LannerRun(tmp_path, [rules], args=("--disable-source", "syscall"),
                    rule_matching="all", priority="debug",
                    load_plugins=["k8saudit-aks", "json"],
                    plugins=[plugin, {"name": "json"}])  # fmt: skip
    alerts = run.alerts
    try:
        # lanner reads from the newest events on: its receivers first
        wait_until(lambda: len(hub.store.receivers) >= 2 or run.proc.poll() is not None,
                   timeout=60, what="lanner's receivers on both partitions")  # fmt: skip
        assert run.proc.poll() is None, run.log_text()[-3000:]
        env = {**os.environ, "LANNER_GENERATE_AKS_EVENTHUB": hub.connection_string()}
        gen = subprocess.run([*LANNER, "generate", "test", "--alerts", str(alerts),
                              "--timeout", "30", "--runtime-socket", "none", "--rules",
                              str(rules), "--aks-eventhub-name", "aks-audit"],
                             env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    finally:
        run.stop()
    lanner_log = run.log_text()
    out = gen.stdout
    rows = report_rows(out)
    uncovered = {u.rule for u in UNCOVERED_FALCO}
    enabled = enabled_rules(rules)
    assert enabled
    for rule in enabled:
        want = "cannot run here" if rule in uncovered else "proved"
        got = rows.get(rule) or rows.get(rule.strip())
        assert got == want or (want == "cannot run here" and got == "proved"), (
            f"{rule}: {got}\n{out}\n{gen.stderr}\n{lanner_log[-3000:]}"
        )
    assert gen.returncode == 0, out + gen.stderr
    assert hub.bodies(), "nothing reached the Event Hub"
