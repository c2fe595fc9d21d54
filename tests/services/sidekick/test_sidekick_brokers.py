"""RabbitMQ and MQTT outputs against Debian's rabbitmq-server and mosquitto on loopback,
each with an outage (broker stopped, alerts accepted and retried, none lost)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aio_pika
import aiomqtt
import pytest

from lanner.exceptions import ConfigError
from lanner.services.sidekick.config import load_config

from .cloud_util import Relay, event, mosquitto, rabbitmq_server
from .helpers import Sidekick, make_alert, metric_value, wait_until
from .outputs_util import outputs_from_env, send

pytestmark = pytest.mark.servers

FAST_RETRY = {"backoff": 0.05, "maxbackoff": 0.3, "timeout": 2}


async def drain_queue(url: str, queue: str, count: int, timeout: float = 30) -> list[Any]:
    """Consume `count` messages from `queue` (declared durable by the test)."""
    connection = await aio_pika.connect(url)
    out: list[Any] = []
    try:
        channel = await connection.channel()
        q = await channel.declare_queue(queue, durable=True)
        if not count:
            return out
        async with asyncio.timeout(timeout), q.iterator() as messages:
            async for message in messages:
                async with message.process():
                    out.append((message.content_type, event(json.loads(message.body))))
                if len(out) >= count:
                    break
    finally:
        await connection.close()
    return out


def test_rabbitmq_publish_and_outage(tmp: Path, sidekicks: list) -> None:
    with rabbitmq_server(tmp) as port:
        url = f"amqp://guest:guest@127.0.0.1:{port}/"
        asyncio.run(drain_queue(url, "falco", 0, 5))  # declares the queue
        alert = make_alert(priority="Error")
        send(outputs_from_env({"RABBITMQ_URL": url, "RABBITMQ_QUEUE": "falco"})["rabbitmq"], alert)
        assert asyncio.run(drain_queue(url, "falco", 1)) == [("text/plain", alert)]

        # the broker is reached through a relay the test can switch off
        relay = Relay(port)
        sk = Sidekick(
            tmp,
            {
                "rabbitmq": {
                    "url": f"amqp://guest:guest@127.0.0.1:{relay.port}/",
                    "queue": "falco",
                },
                "delivery": FAST_RETRY,
            },
        )
        sidekicks.append(sk)
        assert sk.post(make_alert(rule="before")).status_code == 200
        assert [a["rule"] for _, a in asyncio.run(drain_queue(url, "falco", 1))] == ["before"]
        relay.down()
        for i in range(4):
            assert sk.post(make_alert(rule=f"during {i}")).status_code == 200
        wait_until(
            lambda: metric_value(sk.metrics(), "lanner_sidekick_outputs_total",
                                 destination="rabbitmq", status="failed") >= 1,
            20, "failed attempts while the broker is unreachable",
        )  # fmt: skip
        relay.up()
        got = asyncio.run(drain_queue(url, "falco", 4))
        assert [a["rule"] for _, a in got] == [f"during {i}" for i in range(4)]
        relay.down()


def test_rabbitmq_missing_queue_is_retried_not_dropped(tmp: Path) -> None:
    """Falcosidekick publishes without `mandatory`, so a message to a queue that does not
    exist vanishes; here the broker's return makes it a retried failure."""
    with rabbitmq_server(tmp) as port:
        url = f"amqp://guest:guest@127.0.0.1:{port}/"
        out = outputs_from_env({"RABBITMQ_URL": url, "RABBITMQ_QUEUE": "nowhere"})["rabbitmq"]
        from lanner.exceptions import DeliveryError

        with pytest.raises(DeliveryError, match="not routed to queue 'nowhere'"):
            send(out, make_alert())


def test_broker_config_errors() -> None:
    base = {"PROMETHEUS_DISABLED": "true"}
    with pytest.raises(ConfigError, match=r"^rabbitmq\.queue: required"):
        load_config(None, {**base, "RABBITMQ_URL": "amqp://127.0.0.1/"})
    with pytest.raises(ConfigError, match=r"^rabbitmq\.url: expected amqp://"):
        load_config(None, {**base, "RABBITMQ_URL": "http://x", "RABBITMQ_QUEUE": "q"})
    with pytest.raises(ConfigError, match=r"^mqtt\.broker: expected tcp://"):
        load_config(None, {**base, "MQTT_BROKER": "http://x:1"})
    with pytest.raises(ConfigError, match=r"^mqtt\.qos \(env MQTT_QOS\): must be at most 2"):
        load_config(None, {**base, "MQTT_BROKER": "tcp://x:1", "MQTT_QOS": "3"})
    (mqtt,) = load_config(None, {**base, "MQTT_BROKER": "127.0.0.1:1883"}).outputs
    assert mqtt.settings["topic"] == "falco/events"  # Falcosidekick's default
    assert (mqtt.settings["qos"], mqtt.settings["retained"]) == (0, False)


async def collect(port: int, topic: str, count: int, ready: asyncio.Event) -> list[Any]:
    got: list[Any] = []
    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.subscribe(topic, qos=1)
        ready.set()
        async with asyncio.timeout(30):
            async for message in client.messages:
                got.append((str(message.topic), message.retain, event(json.loads(message.payload))))
                if len(got) >= count:
                    break
    return got


def test_mqtt_publish_retained(tmp: Path) -> None:
    with mosquitto(tmp) as port:
        alert = make_alert()
        outs = outputs_from_env(
            {"MQTT_BROKER": f"tcp://127.0.0.1:{port}", "MQTT_TOPIC": "sec/falco",
             "MQTT_RETAINED": "true", "MQTT_QOS": "1"}
        )  # fmt: skip
        send(outs["mqtt"], alert)

        async def late_subscriber() -> list[Any]:  # subscribes after: gets the retained one
            return await collect(port, "sec/falco", 1, asyncio.Event())

        assert asyncio.run(late_subscriber()) == [("sec/falco", True, alert)]


def test_mqtt_outage(tmp: Path, sidekicks: list) -> None:
    with mosquitto(tmp) as port:
        relay = Relay(port)  # sidekick reaches the broker through it; the subscriber does not
        sk = Sidekick(
            tmp,
            {"mqtt": {"broker": f"tcp://127.0.0.1:{relay.port}", "qos": 1}, "delivery": FAST_RETRY},
        )
        sidekicks.append(sk)

        async def main() -> list[Any]:
            ready = asyncio.Event()
            task = asyncio.create_task(collect(port, "falco/events", 4, ready))
            await ready.wait()
            assert (await asyncio.to_thread(sk.post, make_alert(rule="before"))).status_code == 200
            await asyncio.to_thread(wait_until, lambda: metric_value(
                sk.metrics(), "lanner_sidekick_outputs_total", destination="mqtt", status="sent"
            ) == 1, 20, "first publish")  # fmt: skip
            relay.down()
            for i in range(3):
                response = await asyncio.to_thread(sk.post, make_alert(rule=f"during {i}"))
                assert response.status_code == 200
            await asyncio.to_thread(wait_until, lambda: metric_value(
                sk.metrics(), "lanner_sidekick_outputs_total", destination="mqtt", status="failed"
            ) >= 1, 20, "failed attempts while the broker is unreachable")  # fmt: skip
            relay.up()
            return await task

        got = asyncio.run(main())
        assert [a["rule"] for _, _, a in got] == ["before"] + [f"during {i}" for i in range(3)]
        relay.down()


def test_mqtt_tls_and_checkcert(tmp: Path) -> None:
    import trustme

    from lanner.exceptions import DeliveryError

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    chain, key, ca_file = tmp / "chain.pem", tmp / "key.pem", tmp / "ca.pem"
    cert.private_key_pem.write_to_path(str(key))
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    ca.cert_pem.write_to_path(str(ca_file))
    with mosquitto(tmp, tls=(chain, key)) as port:
        broker = f"ssl://127.0.0.1:{port}"
        alert = make_alert()
        # trusted through tlsclient.cacertfile
        outs = outputs_from_env({"MQTT_BROKER": broker, "TLSCLIENT_CACERTFILE": str(ca_file),
                                 "MQTT_QOS": "1"})  # fmt: skip
        send(outs["mqtt"], alert)
        # an unknown CA: refused with checkcert (the default), accepted with checkcert false
        with pytest.raises(DeliveryError, match=r"(?i)certificate"):
            send(outputs_from_env({"MQTT_BROKER": broker, "MQTT_QOS": "1"})["mqtt"], alert)
        insecure = {"MQTT_BROKER": broker, "MQTT_QOS": "1", "MQTT_CHECKCERT": "false"}
        send(outputs_from_env(insecure)["mqtt"], alert)
