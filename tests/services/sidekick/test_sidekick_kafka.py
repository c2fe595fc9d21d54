"""The Kafka output through aiokafka against a DOUBLE of a Kafka broker (kafka_double.py:
no Kafka server can be installed here), with an outage."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from lanner.exceptions import ConfigError, DeliveryError
from lanner.services.sidekick.alert import Alert
from lanner.services.sidekick.config import load_config
from lanner.services.sidekick.delivery import Dispatcher, RetryPolicy
from lanner.services.sidekick.stats import Stats

from .cloud_util import event
from .helpers import make_alert, wait_until
from .kafka_double import PRODUCE, KafkaDouble
from .outputs_util import outputs_from_env, send

pytestmark = pytest.mark.servers


def test_kafka_produce_round_robin_acks(tmp: Path) -> None:
    broker = KafkaDouble(partitions=2)
    try:
        outs = outputs_from_env(
            {
                "KAFKA_HOSTPORT": f"127.0.0.1:{broker.port}",
                "KAFKA_TOPIC": "falco",
                "KAFKA_REQUIREDACKS": "ALL",
                "KAFKA_CLIENTID": "sk-test",
            }
        )
        alerts = [make_alert(rule=f"r{i}") for i in range(4)]
        send(outs["kafka"], *alerts)
        assert [event(json.loads(v)) for _, _, v in broker.records] == alerts
        assert {t for t, _, _ in broker.records} == {"falco"}
        assert [p for _, p, _ in broker.records] == [0, 1, 0, 1]  # round_robin
        assert ("sk-test") in {c for _, _, c in broker.requests}
        assert any(k == PRODUCE for k, _, _ in broker.requests)
    finally:
        broker.stop()


def test_kafka_sasl_plain() -> None:
    broker = KafkaDouble(partitions=1, users={"falco": "s3cret"})
    try:
        env = {
            "KAFKA_HOSTPORT": f"127.0.0.1:{broker.port}",
            "KAFKA_TOPIC": "falco",
            "KAFKA_SASL": "PLAIN",
            "KAFKA_USERNAME": "falco",
            "KAFKA_REQUIREDACKS": "ONE",
        }
        with pytest.raises(DeliveryError):
            send(outputs_from_env({**env, "KAFKA_PASSWORD": "wrong"})["kafka"], make_alert())
        assert broker.records == []
        send(outputs_from_env({**env, "KAFKA_PASSWORD": "s3cret"})["kafka"], make_alert())
        assert len(broker.records) == 1
        assert ("falco", False) in broker.logins and ("falco", True) in broker.logins
    finally:
        broker.stop()


def test_kafka_outage_retried_none_lost() -> None:
    broker = KafkaDouble(partitions=1)
    out = outputs_from_env(
        {"KAFKA_HOSTPORT": f"127.0.0.1:{broker.port}", "KAFKA_TOPIC": "falco",
         "KAFKA_REQUIREDACKS": "ONE"}
    )["kafka"]  # fmt: skip
    stats = Stats(CollectorRegistry())

    async def run() -> None:
        dispatcher = Dispatcher([out], stats, RetryPolicy(0, 0.05, 0.3), timeout=3)
        await dispatcher.start()
        try:
            dispatcher.submit(Alert.from_dict(make_alert(rule="before")))
            await asyncio.to_thread(wait_until, lambda: len(broker.records) == 1, 20)
            broker.stop()
            for i in range(3):
                dispatcher.submit(Alert.from_dict(make_alert(rule=f"during {i}")))
            await asyncio.to_thread(wait_until, lambda: stats.tally[("kafka", "failed")] >= 1, 30)
            broker.start()
            assert await dispatcher.drain(40)
        finally:
            await dispatcher.stop()
            broker.stop()

    asyncio.run(run())
    rules = [json.loads(v)["rule"] for _, _, v in broker.records]
    # at least once: each alert is there, in order; a retried one may appear twice
    deduped = [r for i, r in enumerate(rules) if r not in rules[:i]]
    assert deduped == ["before"] + [f"during {i}" for i in range(3)]
    assert stats.tally[("kafka", "dropped")] == 0


def test_kafka_config() -> None:
    base = {"PROMETHEUS_DISABLED": "true"}
    with pytest.raises(ConfigError, match=r"^kafka\.topic: required"):
        load_config(None, {**base, "KAFKA_HOSTPORT": "k:9092"})
    with pytest.raises(ConfigError, match=r"^kafka\.requiredacks: 'most' is not one of NONE"):
        load_config(None, {**base, "KAFKA_HOSTPORT": "k", "KAFKA_TOPIC": "t",
                           "KAFKA_REQUIREDACKS": "most"})  # fmt: skip
    (kafka,) = load_config(
        None, {**base, "KAFKA_HOSTPORT": "a, b:9093", "KAFKA_TOPIC": "t"}
    ).outputs
    assert kafka.settings["requiredacks"] == "NONE"  # Falcosidekick's default
    out = outputs_from_env({"KAFKA_HOSTPORT": "a, b:9093", "KAFKA_TOPIC": "t"})["kafka"]
    assert out.bootstrap() == ["a:9092", "b:9093"]  # type: ignore[attr-defined]
