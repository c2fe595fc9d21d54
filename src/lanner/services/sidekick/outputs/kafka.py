"""Apache Kafka over its own protocol (aiokafka): the event JSON as one record on `topic`.

Falcosidekick's keys: `hostport` (comma-separated bootstrap brokers, port 9092 when left
out), `topic`, `sasl` (PLAIN, SCRAM_SHA256, SCRAM_SHA512) with `username`/`password`, `tls`,
`clientid`, `compression` (NONE, GZIP, SNAPPY, LZ4, ZSTD), `requiredacks` (NONE, ONE, ALL),
`balancer`, `async`, `topiccreation`. With `requiredacks: NONE` (Falcosidekick's default)
the broker does not answer a produce, so an alert sent as the broker fails can be lost:
`ONE` or `ALL` makes each alert count as sent only once the broker acknowledged it.
"""

from __future__ import annotations

import contextlib
import itertools
import random
from typing import TYPE_CHECKING, Any, ClassVar

from lanner.exceptions import DeliveryError

from ..alert import Alert
from ..schema import Opt
from .base import Output, OutputContext, dumps, falco_payload, register

if TYPE_CHECKING:  # aiokafka loads only when the output is configured
    from aiokafka import AIOKafkaProducer

_ACKS: dict[str, int | str] = {"none": 0, "one": 1, "all": "all"}
_SASL = {"plain": "PLAIN", "scram_sha256": "SCRAM-SHA-256", "scram_sha512": "SCRAM-SHA-512"}
_BALANCERS = ("round_robin", "least_bytes", "crc32", "crc32_random", "murmur2", "murmur2_random")


@register
class Kafka(Output):
    """Produces the event JSON (no key) to `topic`."""

    kind = "kafka"
    family = "queues"
    enable_key = "hostport"
    options: ClassVar[dict[str, Opt]] = {
        "hostport": Opt("str", ""),
        "topic": Opt("str", ""),
        "sasl": Opt("str", ""),
        "tls": Opt("bool", False),
        "username": Opt("str", ""),
        "password": Opt("str", "", secret=True),
        "balancer": Opt("str", "round_robin"),
        "clientid": Opt("str", ""),
        "compression": Opt("str", "NONE"),
        "async": Opt("bool", False),
        "requiredacks": Opt("str", "NONE"),
        "topiccreation": Opt("bool", False),
    }

    def __init__(self, settings: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(settings, ctx)
        self._producer: AIOKafkaProducer | None = None
        self._next = itertools.count()

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """The choices Falcosidekick accepts (any case), and a topic with the brokers."""
        if settings["hostport"] and not settings["topic"]:
            return "topic", "required with kafka.hostport"
        checks = {
            "sasl": ("", *_SASL),
            "compression": ("none", "gzip", "snappy", "lz4", "zstd"),
            "requiredacks": tuple(_ACKS),
            "balancer": _BALANCERS,
        }
        for key, allowed in checks.items():
            if settings[key].lower() not in allowed:
                names = ", ".join(a.upper() if key != "balancer" else a for a in allowed if a)
                return key, f"{settings[key]!r} is not one of {names}"
        return None

    def bootstrap(self) -> list[str]:
        """The bootstrap servers, port 9092 where none is given."""
        hosts = [h.strip() for h in self.settings["hostport"].split(",") if h.strip()]
        return [h if ":" in h.rsplit("]", 1)[-1] else f"{h}:9092" for h in hosts]

    def partition(self, key: bytes, all_partitions: list[int], available: list[int]) -> int:
        """`round_robin` (and `least_bytes`) cycle through the partitions; the hashing
        balancers of Falcosidekick hash the record key, which is empty: a random one."""
        partitions = available or all_partitions
        if self.settings["balancer"].lower() in ("round_robin", "least_bytes"):
            return partitions[next(self._next) % len(partitions)]
        return random.choice(partitions)

    async def _connect(self) -> AIOKafkaProducer:
        from aiokafka import AIOKafkaProducer

        if self._producer is None:
            s = self.settings
            sasl = s["sasl"].lower()
            protocol = ("SASL_" if sasl else "") + ("SSL" if s["tls"] else "PLAINTEXT")
            compression = s["compression"].lower()
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap(),
                client_id=s["clientid"] or "lanner-sidekick",
                acks=_ACKS[s["requiredacks"].lower()],
                compression_type=None if compression == "none" else compression,
                security_protocol=protocol,
                sasl_mechanism=_SASL.get(sasl, "PLAIN"),
                sasl_plain_username=s["username"] or None,
                sasl_plain_password=s["password"] or None,
                ssl_context=self.ctx.ssl_context(True, False) if s["tls"] else None,
                request_timeout_ms=int(self.ctx.timeout * 1000),
                partitioner=self.partition,
            )
            try:
                await producer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def send(self, alert: Alert) -> None:
        """Produce; wait for the broker's answer unless `async` (and for the write with
        `requiredacks: NONE`)."""
        from aiokafka.errors import KafkaError

        try:
            producer = await self._connect()
            pending = await producer.send(self.settings["topic"], dumps(falco_payload(alert)))
            if not self.settings["async"]:
                await pending
        except (KafkaError, OSError, TimeoutError) as exc:
            await self._drop()
            raise DeliveryError(f"kafka: {exc!r}") from exc

    async def _drop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):  # stopping a broken producer may fail
                await producer.stop()

    async def close(self) -> None:
        """Flush and stop the producer."""
        await self._drop()
