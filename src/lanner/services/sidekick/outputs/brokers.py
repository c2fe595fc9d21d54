"""Message brokers over their own protocols: RabbitMQ (AMQP 0-9-1, aio-pika) and MQTT
(aiomqtt, on paho-mqtt). Each keeps one connection and opens a new one after a failure."""

from __future__ import annotations

import contextlib
import uuid
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from lanner.exceptions import DeliveryError, PermanentError

from ..alert import Alert
from ..schema import Opt
from .base import Output, OutputContext, dumps, falco_payload, register

if TYPE_CHECKING:  # client libraries load only when their output is configured
    import aio_pika.abc
    import aiomqtt


@register
class RabbitMQ(Output):
    """Publishes the alert JSON (`text/plain`, as Falcosidekick) to `queue` through the
    default exchange, with publisher confirms and `mandatory`: success means the broker
    routed it to the queue; a missing queue or a closed connection is retried."""

    kind = "rabbitmq"
    family = "queues"
    enable_key = "url"
    options: ClassVar[dict[str, Opt]] = {"url": Opt("str", ""), "queue": Opt("str", "")}

    def __init__(self, settings: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(settings, ctx)
        self._connection: aio_pika.abc.AbstractConnection | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """url is amqp:// or amqps://, and a queue goes with it."""
        url = settings["url"]
        if url and not url.startswith(("amqp://", "amqps://")):
            return "url", f"expected amqp://user:password@host:port/vhost, got {url!r}"
        if url and not settings["queue"]:
            return "queue", "required with rabbitmq.url"
        return None

    async def _open(self) -> aio_pika.abc.AbstractChannel:
        import aio_pika

        if self._channel is None or self._channel.is_closed:
            await self._drop()
            url = self.settings["url"]
            ssl_context = None
            if url.startswith("amqps://"):
                ssl_context = self.ctx.ssl_context(True, bool(self.ctx.client_cert))
            self._connection = await aio_pika.connect(
                url, timeout=self.ctx.timeout, ssl_context=ssl_context
            )
            self._channel = await self._connection.channel(
                publisher_confirms=True, on_return_raises=True
            )
        return self._channel

    async def send(self, alert: Alert) -> None:
        """Publish and wait for the broker's confirm."""
        import aio_pika
        from aio_pika.exceptions import AMQPError
        from aio_pika.exceptions import DeliveryError as NotRouted

        message = aio_pika.Message(dumps(falco_payload(alert)), content_type="text/plain")
        try:
            channel = await self._open()
            await channel.default_exchange.publish(
                message, routing_key=self.settings["queue"], mandatory=True,
                timeout=self.ctx.timeout,
            )  # fmt: skip
        except NotRouted as exc:  # the broker has no such queue (yet): keep the alert
            raise DeliveryError(
                f"rabbitmq: not routed to queue {self.settings['queue']!r}"
            ) from exc
        except (AMQPError, OSError, TimeoutError, ConnectionError) as exc:
            await self._drop()
            raise DeliveryError(f"rabbitmq: {exc!r}") from exc

    async def _drop(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail
                await connection.close()

    async def close(self) -> None:
        """Close the connection."""
        await self._drop()


@register
class Mqtt(Output):
    """Publishes the alert JSON on `topic` with `qos` and `retained`. The broker is
    `tcp://host:port`, `ssl://host:port` (TLS, `checkcert`) or `host:port`. With qos 0
    (the default) MQTT itself gives no acknowledgement, so an alert in flight when the
    broker dies can be lost; qos 1 or 2 waits for the broker's."""

    kind = "mqtt"
    family = "queues"
    enable_key = "broker"
    options: ClassVar[dict[str, Opt]] = {
        "broker": Opt("str", ""),
        "topic": Opt("str", "falco/events"),
        "qos": Opt("int", 0, minimum=0, maximum=2),
        "retained": Opt("bool", False),
        "user": Opt("str", ""),
        "password": Opt("str", "", secret=True),
        "checkcert": Opt("bool", True),
    }

    def __init__(self, settings: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(settings, ctx)
        self._client: aiomqtt.Client | None = None
        self._stack: contextlib.AsyncExitStack | None = None

    @staticmethod
    def parse_broker(broker: str) -> tuple[str, str, int]:
        """(scheme, host, port) of `tcp://host:port`, `ssl://host:port` or `host:port`."""
        text = broker if "://" in broker else f"tcp://{broker}"
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if scheme not in ("tcp", "mqtt", "ssl", "tls", "mqtts") or not parts.hostname:
            raise ValueError(f"expected tcp://host:port or ssl://host:port, got {broker!r}")
        secure = scheme in ("ssl", "tls", "mqtts")
        return (
            ("ssl" if secure else "tcp"),
            parts.hostname,
            parts.port or (8883 if secure else 1883),
        )

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """broker must parse."""
        if settings["broker"]:
            try:
                cls.parse_broker(settings["broker"])
            except ValueError as exc:
                return "broker", str(exc)
        return None

    async def _connect(self) -> aiomqtt.Client:
        import aiomqtt

        if self._client is None:
            scheme, host, port = self.parse_broker(self.settings["broker"])
            tls = None
            if scheme == "ssl":
                tls = self.ctx.ssl_context(self.settings["checkcert"], False)
            client = aiomqtt.Client(
                host,
                port,
                username=self.settings["user"] or None,
                password=self.settings["password"] or None,
                identifier=f"falcosidekick-{uuid.uuid4().hex[:6]}",
                timeout=self.ctx.timeout,
                tls_context=tls,
            )
            stack = contextlib.AsyncExitStack()
            await stack.enter_async_context(client)
            self._client, self._stack = client, stack
        return self._client

    async def send(self, alert: Alert) -> None:
        """Publish (waiting for PUBACK/PUBCOMP with qos 1/2)."""
        import aiomqtt

        try:
            client = await self._connect()
            await client.publish(
                self.settings["topic"],
                dumps(falco_payload(alert)),
                qos=self.settings["qos"],
                retain=self.settings["retained"],
                timeout=self.ctx.timeout,
            )
        except ValueError as exc:  # e.g. a topic with wildcards
            raise PermanentError(f"mqtt: {exc}") from exc
        except (aiomqtt.MqttError, OSError, TimeoutError) as exc:
            await self._drop()
            raise DeliveryError(f"mqtt: {exc!r}") from exc

    async def _drop(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail
                await stack.aclose()

    async def close(self) -> None:
        """Disconnect."""
        await self._drop()
