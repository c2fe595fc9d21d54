"""Queue outputs: NATS subjects by priority and rule, Redis lists/streams, Kafka REST proxy."""

from __future__ import annotations

import base64
import contextlib
from typing import TYPE_CHECKING, Any, ClassVar

from lanner.exceptions import DeliveryError

from ..alert import Alert
from ..schema import Opt
from .base import HttpOutput, Output, OutputContext, dumps, register, slug

if TYPE_CHECKING:  # client libraries load only when their output is configured
    from nats.aio.client import Client as NatsClient


@register
class Nats(Output):
    """Publishes the alert JSON on `falco.<priority>.<rule>` (subjecttemplate)."""

    kind = "nats"
    family = "queues"
    enable_key = "hostport"
    options: ClassVar[dict[str, Opt]] = {
        "hostport": Opt("str", ""),
        "subjecttemplate": Opt("str", "falco.<priority>.<rule>"),
        "user": Opt("str", ""),
        "password": Opt("str", "", secret=True),
        "token": Opt("str", "", secret=True),
    }

    def __init__(self, settings: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(settings, ctx)
        self._nc: NatsClient | None = None

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """hostport is a nats:// or tls:// URL."""
        hostport = settings["hostport"]
        if hostport and not hostport.startswith(("nats://", "tls://")):
            return "hostport", f"expected nats://host:port or tls://host:port, got {hostport!r}"
        return None

    def subject(self, alert: Alert) -> str:
        """The subject: `<priority>` lower-case, `<rule>` slugged (`a-z0-9_`)."""
        return (
            self.settings["subjecttemplate"]
            .replace("<priority>", alert.priority.name.lower())
            .replace("<rule>", slug(alert.rule))
        )

    async def _connect(self) -> NatsClient:
        import nats

        if self._nc is None or not self._nc.is_connected:
            if self._nc is not None:
                await self._safe_close()
            kwargs: dict[str, Any] = {
                "servers": [self.settings["hostport"]],
                "connect_timeout": self.ctx.timeout,
                "allow_reconnect": False,
                "max_reconnect_attempts": 0,
            }
            if self.settings["user"]:
                kwargs.update(user=self.settings["user"], password=self.settings["password"])
            if self.settings["token"]:
                kwargs["token"] = self.settings["token"]
            if self.settings["hostport"].startswith("tls://"):
                kwargs["tls"] = self.ctx.ssl_context(True, bool(self.ctx.client_cert))
            self._nc = await nats.connect(**kwargs)
        return self._nc

    async def send(self, alert: Alert) -> None:
        """Publish and flush, so success means the server has it."""
        try:
            nc = await self._connect()
            await nc.publish(self.subject(alert), dumps(alert.to_dict()))
            await nc.flush(timeout=self.ctx.timeout)  # type: ignore[arg-type]  # seconds, a float
        except Exception as exc:  # nats-py raises many unrelated types
            await self._safe_close()
            raise DeliveryError(f"nats: {exc!r}") from exc

    async def _safe_close(self) -> None:
        nc, self._nc = self._nc, None
        if nc is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail
                await nc.close()

    async def close(self) -> None:
        """Close the connection."""
        await self._safe_close()


@register
class Redis(Output):
    """Stores the alert JSON in Redis: RPUSH to a list, HSET in a hash, or XADD to a stream."""

    kind = "redis"
    family = "queues"
    enable_key = "address"
    options: ClassVar[dict[str, Opt]] = {
        "address": Opt("str", ""),
        "password": Opt("str", "", secret=True),
        "database": Opt("int", 0, minimum=0),
        "storagetype": Opt("choice", "list", choices=("list", "hashmap", "stream")),
        "key": Opt("str", "falco"),
        "maxlen": Opt("int", 0, minimum=0),
    }

    def __init__(self, settings: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(settings, ctx)
        import redis.asyncio as aioredis
        from redis.exceptions import RedisError

        self._errors: tuple[type[Exception], ...] = (RedisError, OSError)
        address = settings["address"]
        url = address if "://" in address else f"redis://{address}"
        self._client = aioredis.Redis.from_url(
            url,
            db=settings["database"],
            password=settings["password"] or None,
            socket_timeout=ctx.timeout,
            socket_connect_timeout=ctx.timeout,
        )

    async def send(self, alert: Alert) -> None:
        """Write the alert with the configured storage type."""
        data = dumps(alert.to_dict())
        key = self.settings["key"]
        try:
            kind = self.settings["storagetype"]
            if kind == "list":
                await self._client.rpush(key, data)
            elif kind == "hashmap":
                await self._client.hset(key, f"{alert.time}:{alert.rule}", data)
            else:
                maxlen = self.settings["maxlen"] or None
                fields = {
                    "rule": alert.rule,
                    "priority": alert.priority.label,
                    "source": alert.source,
                    "alert": data,
                }
                await self._client.xadd(key, fields, maxlen=maxlen, approximate=True)  # type: ignore[arg-type]
        except self._errors as exc:
            raise DeliveryError(f"redis: {exc!r}") from exc

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


@register
class KafkaRest(HttpOutput):
    """Kafka via the Confluent REST Proxy: `POST /topics/<topic>` with base64 records."""

    kind = "kafkarest"
    family = "queues"
    enable_key = "address"
    options: ClassVar[dict[str, Opt]] = {
        "address": Opt("str", ""),
        "version": Opt("int", 2, minimum=1, maximum=2),
    }

    @property
    def content_type(self) -> str:  # type: ignore[override]
        """The REST proxy's binary embedded format of the configured API version."""
        return f"application/vnd.kafka.binary.v{self.settings['version']}+json"

    def url(self, alert: Alert) -> str:
        """The topic URL."""
        return self.settings["address"]

    def body(self, alert: Alert) -> dict[str, Any]:
        """One record whose value is the base64 of the alert JSON."""
        value = base64.b64encode(dumps(alert.to_dict())).decode()
        return {"records": [{"value": value}]}
