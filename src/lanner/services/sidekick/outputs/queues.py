"""Queue outputs: NATS and NATS Streaming subjects by priority and rule, Redis lists/streams,
Kafka REST proxy."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
from typing import TYPE_CHECKING, Any, ClassVar

from lanner.exceptions import DeliveryError, PermanentError, StanError

from ..alert import Alert
from ..schema import Opt
from .base import HttpOutput, Output, OutputContext, dumps, falco_payload, register, slug

if TYPE_CHECKING:  # client libraries load only when their output is configured
    from nats.aio.client import Client as NatsClient

    from ..stan import StanConnection

DEFAULT_SUBJECT = "falco.<priority>.<rule>"  # Falcosidekick's, for NATS and STAN
_SUBJECT_TOKEN = re.compile(r"[^\s.*>]+")
_STAN_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]+")  # what a streaming server accepts


def subject_for(template: str, alert: Alert) -> str:
    """The subject of an alert: `<priority>` lower-case, `<rule>` slugged (`a-z0-9_`)."""
    return template.replace("<priority>", alert.priority.name.lower()).replace(
        "<rule>", slug(alert.rule)
    )


def bad_subject(template: str) -> str | None:
    """Why a subject template cannot make a valid subject (no wildcards, blanks or empty
    tokens), else None."""
    sample = template.replace("<priority>", "p").replace("<rule>", "r")
    if not all(_SUBJECT_TOKEN.fullmatch(token) for token in sample.split(".")):
        return f"{template!r} is not a subject (dot-separated tokens without blanks, * or >)"
    return None


@register
class Nats(Output):
    """Publishes the alert JSON on `falco.<priority>.<rule>` (subjecttemplate)."""

    kind = "nats"
    family = "queues"
    enable_key = "hostport"
    options: ClassVar[dict[str, Opt]] = {
        "hostport": Opt("str", ""),
        "subjecttemplate": Opt("str", DEFAULT_SUBJECT),
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
        return subject_for(self.settings["subjecttemplate"], alert)

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
class Stan(Output):
    """NATS Streaming, as Falcosidekick's STAN output: Falcosidekick's payload (the alert and
    its `uuid`) on channel `falco.<priority>.<rule>` (subjecttemplate), each message
    acknowledged by the server (PubAck) before it counts as delivered; no PubAck in
    `delivery.timeout`, a refusal or a lost connection is retried on a new connection.
    Falcosidekick connects once per alert; Lanner keeps one connection and closes it
    properly at shutdown, so `clientid` can reconnect at once."""

    kind = "stan"
    family = "queues"
    enable_key = "hostport"
    options: ClassVar[dict[str, Opt]] = {
        "hostport": Opt("str", ""),
        "clusterid": Opt("str", ""),
        "clientid": Opt("str", ""),
        "subjecttemplate": Opt("str", DEFAULT_SUBJECT),
        "checkcert": Opt("bool", True),
        "mutualtls": Opt("bool", False),
        "maxconcurrentrequests": Opt("int", None, minimum=0, maximum=65535),
    }

    def __init__(self, settings: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(settings, ctx)
        self._conn: StanConnection | None = None
        self._connecting = asyncio.Lock()

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """hostport is nats://, stan:// or tls:// host:port; clusterid and clientid are
        required with it and valid for a streaming server; the template makes subjects."""
        hostport = settings["hostport"]
        if not hostport:
            return None
        if not re.fullmatch(r"(nats|stan|tls)://[^/\s]+", hostport):
            return "hostport", f"expected nats://host:port or tls://host:port, got {hostport!r}"
        for key in ("clusterid", "clientid"):
            if not settings[key]:
                return key, "required with stan.hostport"
        if bad_subject(settings["clusterid"]):
            return "clusterid", f"{settings['clusterid']!r} is not a valid subject token list"
        if not _STAN_CLIENT_ID.fullmatch(settings["clientid"]):
            return "clientid", (
                f"{settings['clientid']!r}: only letters, digits, '-' and '_' (the server's rule)"
            )
        reason = bad_subject(settings["subjecttemplate"])
        return ("subjecttemplate", reason) if reason else None

    def subject(self, alert: Alert) -> str:
        """The channel: `<priority>` lower-case, `<rule>` slugged, as Falcosidekick."""
        return subject_for(self.settings["subjecttemplate"], alert)

    async def _connection(self) -> StanConnection:
        from ..stan import StanConnection

        async with self._connecting:  # concurrent sends share one connection
            if self._conn is None or self._conn.lost:
                await self._drop()
                url = self.settings["hostport"]
                tls = None
                if url.startswith("tls://"):
                    checkcert, mutualtls = self.settings["checkcert"], self.settings["mutualtls"]
                    tls = self.ctx.ssl_context(checkcert, mutualtls)
                elif url.startswith("stan://"):  # Falcosidekick's docs write stan://
                    url = "nats://" + url.removeprefix("stan://")
                self._conn = await StanConnection.connect(
                    url,
                    self.settings["clusterid"],
                    self.settings["clientid"],
                    timeout=self.ctx.timeout,
                    tls=tls,
                )
            return self._conn

    async def send(self, alert: Alert) -> None:
        """Publish and wait for the server's PubAck."""
        from nats.errors import MaxPayloadError

        data = dumps(falco_payload(alert))
        try:
            conn = await self._connection()
            await conn.publish(self.subject(alert), data)
        except MaxPayloadError as exc:  # the alert itself is too large for this server
            raise PermanentError(f"stan: {exc!r}") from exc
        except StanError as exc:  # refused, unacknowledged or lost: a new connection
            await self._drop()
            raise DeliveryError(str(exc)) from exc
        except Exception as exc:  # nats-py raises many unrelated types
            await self._drop()
            raise DeliveryError(f"stan: {exc!r}") from exc

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def close(self) -> None:
        """Close the connection (CloseRequest, then NATS)."""
        await self._drop()


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
