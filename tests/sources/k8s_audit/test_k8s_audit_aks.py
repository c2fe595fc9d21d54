"""The k8saudit-aks plugin in ``lanner run``: AKS audit events, sent as AKS's diagnostic
settings send them (``{"records": [{"category": "kube-audit", "properties": {"log": ...}}]}``)
with Microsoft's client (azure-eventhub) to a DOUBLE of an Event Hubs namespace
(tests/helpers/eventhubs_double.py: AMQP 1.0 on Qpid Proton; no Event Hubs server can run
here), are received by Lanner through the same client and the upstream
k8s_audit_rules.yaml fire on them, or stay quiet, exactly as on the webhook (the positive
and negative events of test_k8s_audit_rules); malformed events are logged and counted while
the source goes on; a restart with ``stateFile`` neither loses nor repeats events."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from azure.eventhub import EventData, EventHubProducerClient
from k8s_audit_testutil import K8S_RULES, fired, sentinel, until_events
from test_k8s_audit_rules import NEGATIVE, POSITIVE

from helpers import free_port, wait_until
from helpers.eventhubs_double import EventHubsDouble
from helpers.lanner_process import LANNER_RUN, LannerProcess, metrics
from lanner.sources.k8s_audit.aks import AksConfigError, AksOpen

PLUGIN = "k8saudit-aks"


@pytest.fixture
def hub() -> Iterator[EventHubsDouble]:
    double = EventHubsDouble(hub="aks-audit", partitions=2)
    yield double
    double.close()


def record(event: dict[str, Any] | str, category: str = "kube-audit") -> dict[str, Any]:
    """One diagnostic-settings record carrying an audit event."""
    text = event if isinstance(event, str) else json.dumps(event)
    return {
        "operationName": "Microsoft.ContainerService/managedClusters/diagnosticLogs/Read",
        "category": category,
        "ccpNamespace": "0123456789abcdef",
        "resourceId": "/SUBSCRIPTIONS/0000/RESOURCEGROUPS/RG/PROVIDERS/"
        "MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/PROD",
        "properties": {"log": text, "stream": "stdout", "pod": "kube-apiserver-7d9f"},
        "time": "2026-12-07T22:00:00.0000000Z",
    }


def send(hub: EventHubsDouble, bodies: list[bytes]) -> None:
    """Each body as one Event Hubs event, through the real client."""
    producer = EventHubProducerClient.from_connection_string(
        hub.connection_string(), eventhub_name=hub.store.hub
    )
    with producer:
        for body in bodies:
            producer.send_batch([EventData(body)])


def records_body(*records: dict[str, Any]) -> bytes:
    return json.dumps({"records": list(records)}).encode()


def write_config(tmp: Path, hub: EventHubsDouble, web_port: int, **init: Any) -> Path:
    init = {"event_hub_namespace_connection_string": hub.connection_string(),
            "event_hub_name": hub.store.hub, **init}  # fmt: skip
    cfg = {
        "json_output": True, "stdout_output": {"enabled": True}, "log_level": "info",
        "priority": "debug", "rule_matching": "all",
        "load_plugins": [PLUGIN, "json"],
        "plugins": [{"name": PLUGIN, "init_config": json.dumps(init), "open_params": "prod"},
                    {"name": "json"}],
        "append_output": [{"match": {"source": "k8s_audit"}, "extra_fields": ["ka.auditid"]}],
        "webserver": {"enabled": True, "listen_port": web_port, "listen_address": "127.0.0.1"},
    }  # fmt: skip
    path = tmp / "lanner-aks.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def start_lanner(cfg: Path, err: Path, hub: EventHubsDouble) -> LannerProcess:
    """``lanner run`` with k8saudit-aks, its alerts read as they come, once its receivers
    on both partitions are attached (events sent from then on are read)."""
    before = len(hub.store.receivers)
    lanner = LannerProcess(cfg, [K8S_RULES], err)
    wait_until(lambda: len(hub.store.receivers) >= before + 2 or lanner.proc.poll() is not None,
               timeout=60, what="Lanner's receivers on both partitions")  # fmt: skip
    assert lanner.proc.poll() is None, lanner.log()[-3000:]
    return lanner


def test_upstream_rules_fire_and_stay_quiet_on_event_hubs_events(
    tmp_path: Path, hub: EventHubsDouble
) -> None:
    """Every positive event fires its rule with the webhook's output, every negative one
    leaves its rule quiet; other categories and malformed events are not evaluated (logged
    and counted); a restart reads what was sent while down once, and nothing again."""
    positives = list(POSITIVE)
    negatives = list(NEGATIVE)
    other = sentinel("from-the-kube-apiserver-category")
    bodies = [records_body(*[record(e) for _r, e, _m in positives[i : i + 5]])
              for i in range(0, len(positives), 5)]  # fmt: skip
    bodies += [
        b"not json {",
        b'{"no": "records"}',
        records_body({"category": "kube-audit", "properties": {}}),
        records_body(record("{broken")),
        records_body(record('{"kind":"Pod","apiVersion":"v1"}')),
        records_body(record(other, category="kube-apiserver")),
    ]
    bodies += [records_body(record(e)) for _r, e in negatives]
    end = sentinel("sentinel-1")
    bodies.append(records_body(record(end)))
    web = free_port()
    cfg = write_config(tmp_path, hub, web, stateFile=str(tmp_path / "aks-state.json"))
    lanner = start_lanner(cfg, tmp_path / "first.err", hub)
    try:
        send(hub, bodies)
        every = {e["auditID"] for _r, e, _m in positives} | {end["auditID"]}
        alerts = until_events(lanner, every)
        wait_until(lambda: "bad_event" in metrics(web), timeout=20, what="the error counters")
        counters = metrics(web)
    finally:
        assert lanner.stop() == 0, lanner.log()[-3000:]
    by_event = fired(alerts)
    for rule, event, message in positives:
        assert rule in by_event.get(event["auditID"], set()), (rule, by_event)
        mine = [a for a in alerts if a["output_fields"]["ka.auditid"] == event["auditID"]]
        assert any(message in a["output"] for a in mine if a["rule"] == rule), (rule, message)
    for rule, event in negatives:
        assert rule not in by_event.get(event["auditID"], set()), (rule, event)
    assert other["auditID"] not in by_event
    log = lanner.log()
    assert "not JSON" in log and "no records list" in log and "no properties.log" in log, log
    for kind, count in (("bad_json", 2), ("bad_record", 2), ("bad_event", 1)):
        line = f'lanner_input_errors_total{{kind="{kind}",source="{PLUGIN}"}} {count}.0'
        assert line in counters, (line, [m for m in counters.splitlines() if "input_err" in m])
    state = json.loads((tmp_path / "aks-state.json").read_text())
    assert {c["partition_id"] for c in state["checkpoints"].values()} == {"0", "1"}

    # sent while Lanner is down: read once after the restart, nothing older again
    later = [sentinel(f"written-while-down-{i}") for i in range(4)]
    send(hub, [records_body(record(e)) for e in later])
    again = start_lanner(cfg, tmp_path / "second.err", hub)
    try:
        second = until_events(again, {e["auditID"] for e in later})
        last = sentinel("written-while-up")
        send(hub, [records_body(record(last))])
        second += until_events(again, {last["auditID"]})
    finally:
        assert again.stop() == 0, again.log()[-3000:]
    expected = [e["auditID"] for e in [*later, last]]
    assert set(fired(second)) == set(expected), second
    ids = [a["output_fields"]["ka.auditid"] for a in second if a["rule"] == "Disallowed K8s User"]
    assert sorted(ids) == sorted(expected), second  # each once


def test_wrong_key_is_logged_counted_and_the_source_goes_on(tmp_path: Path) -> None:
    """A connection string with the wrong key: the namespace refuses the token (401); the
    error is logged and counted, Lanner keeps running and retrying."""
    hub = EventHubsDouble(hub="aks-audit", partitions=1)
    try:
        web = free_port()
        cfg = write_config(tmp_path, hub, web, event_hub_namespace_connection_string=
                           hub.connection_string(key="d3Jvbmc="))  # fmt: skip
        err = tmp_path / "wrong.err"
        with open(err, "w") as fh:
            proc = subprocess.Popen([*LANNER_RUN, "-c", str(cfg), "-r", str(K8S_RULES),
                                     "--disable-source", "syscall"], stdout=subprocess.DEVNULL,
                                    stderr=fh)  # fmt: skip
        try:
            metric = f'lanner_input_errors_total{{kind="auth",source="{PLUGIN}"}}'
            wait_until(lambda: metric in metrics(web), timeout=60, what="the auth error counted")
            assert proc.poll() is None
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0, err.read_text()[-3000:]
        assert any(status == 401 for _, status in hub.store.tokens)
        assert "AuthenticationError" in err.read_text(), err.read_text()[-3000:]
    finally:
        hub.close()


@pytest.mark.parametrize(
    ("init", "needle"),
    [
        ({"event_hub_name": "h"}, "event_hub_namespace_connection_string: missing"),
        ({"event_hub_namespace_connection_string": "garbage", "event_hub_name": "h"},
         "event_hub_namespace_connection_string"),
        ({"event_hub_namespace_connection_string": "Endpoint=sb://x/;SharedAccessKeyName=a;"
          "SharedAccessKey=b", "event_hub_name": "h", "blob_storage_connection_string": "c",
          "blob_storage_container_name": "d"}, "stateFile"),
        ({"event_hub_namespace_connection_string": "Endpoint=sb://x/;SharedAccessKeyName=a;"
          "SharedAccessKey=b"}, "event_hub_name: missing"),
        ({"event_hub_name": "h", "rate_limit_burst": "many"}, "rate_limit_burst"),
        ({"event_hub_name": "h", "eventHubName": "h"}, "eventHubName"),
    ],
)  # fmt: skip
def test_bad_configuration_is_a_startup_error(
    tmp_path: Path, init: dict[str, Any], needle: str
) -> None:
    entry = {"name": PLUGIN, "init_config": init, "open_params": "prod"}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"load_plugins": [PLUGIN], "plugins": [entry]}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVENTHUB_", "BLOB_"))}
    args = [*LANNER_RUN, "-c", str(path), "-r", str(K8S_RULES), "--disable-source", "syscall"]
    res = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    assert res.returncode != 0 and needle in res.stderr and PLUGIN in res.stderr, res.stderr


def test_plugin_environment_variables_are_defaults() -> None:
    conn = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=a;SharedAccessKey=b"
    env = {"EVENTHUB_NAMESPACE_CONNECTION_STRING": conn, "EVENTHUB_NAME": "audit",
           "RATE_LIMIT_EVENTS_PER_SECOND": "5"}  # fmt: skip
    opened = AksOpen.parse("", "prod", env=env)
    assert (opened.connection_string, opened.event_hub, opened.rate, opened.burst) == (
        conn, "audit", 5, 200)  # fmt: skip
    assert opened.state_file is None and opened.consumer_group == "$Default"
    with pytest.raises(AksConfigError, match="RATE_LIMIT_BURST"):
        AksOpen.parse("", "prod", env={**env, "RATE_LIMIT_BURST": "x"})


def test_an_outage_is_counted_and_reading_goes_on(tmp_path: Path, hub: EventHubsDouble) -> None:
    """The namespace cuts every connection and refuses new ones for a while: the client
    reconnects by itself (its own retries, nothing the source has to count), and events
    sent after it are read, none before it again."""
    web = free_port()
    cfg = write_config(tmp_path, hub, web, stateFile=str(tmp_path / "aks-state.json"))
    lanner = start_lanner(cfg, tmp_path / "outage.err", hub)
    try:
        before = sentinel("before-the-outage")
        send(hub, [records_body(record(before))])
        until_events(lanner, {before["auditID"]})
        attached = len(hub.store.receivers)
        hub.down()
        time.sleep(3)
        hub.up()
        # reconnected: both partitions' receivers attached again
        wait_until(lambda: len(hub.store.receivers) >= attached + 2, timeout=90,
                   what="the receivers again after the outage")  # fmt: skip
        after = sentinel("after-the-outage")
        send(hub, [records_body(record(after))])
        alerts = until_events(lanner, {after["auditID"]})
    finally:
        assert lanner.stop() == 0, lanner.log()[-3000:]
    assert before["auditID"] not in fired(alerts)  # not read twice
