"""Metric outputs: Prometheus series on /metrics, InfluxDB line protocol, Wavefront points
(StatsD and DogStatsD: `statsd.py`)."""

from __future__ import annotations

import asyncio
import gzip
import re
from typing import Any, ClassVar

import httpx
from prometheus_client import CollectorRegistry, Counter

from lanner.exceptions import DeliveryError

from ..alert import Alert, Priority
from ..schema import Opt
from .base import HttpOutput, Output, OutputContext, label_name, register

EVENTS_METRIC = "falcosecurity_falcosidekick_falco_events"
_BASE_LABELS = (
    "hostname",
    "rule",
    "priority",
    "priority_raw",
    "source",
    "k8s_ns_name",
    "k8s_pod_name",
)


def falcosidekick_priority(priority: Priority) -> int:
    """Falcosidekick's priority number: Debug 1 .. Warning 4 .. Emergency 8 (0 is its
    "no priority", which a valid alert never has)."""
    return priority.severity + 1


@register
class Prometheus(Output):
    """Counts alerts as `falcosecurity_falcosidekick_falco_events_total` on `GET /metrics`.

    The series name and labels are Falcosidekick's, so existing dashboards keep working.
    Enabled unless `prometheus.disabled` is true.
    """

    kind = "prometheus"
    family = "metrics"
    enable_key = None
    options: ClassVar[dict[str, Opt]] = {"disabled": Opt("bool", False), "extralabels": Opt("list")}

    def __init__(self, settings: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(settings, ctx)
        self.extra = {label_name(k): k for k in settings["extralabels"]}
        self.custom = {label_name(k): k for k in [*ctx.customfields, *ctx.templatedfields]}
        names = list(_BASE_LABELS)
        for name in [*self.custom, *self.extra]:
            if name not in names:
                names.append(name)
        registry: CollectorRegistry = ctx.registry
        self.counter = Counter(
            EVENTS_METRIC, "Falco events received, by rule and priority", names, registry=registry
        )
        self.names = names
        self._children: dict[tuple[str, ...], Any] = {}  # label values -> series, looked up once

    # counting is cheap, waking the worker is not: it counts what waits at once, up to 1,024
    # alerts, once per event-loop turn. It does not wait for more (it gathered them for 50 ms:
    # what came meanwhile was then counted in one turn, 1,500-2,000 alerts at 30-40 k/s,
    # holding up every answer for about 10 ms; issue 23)
    max_batch: ClassVar[int] = 1024
    batch_window = 0.0

    def bounded(self) -> bool:
        """Counting never waits: no timer needed around it."""
        return True

    async def send(self, alert: Alert) -> None:
        """Increment the alert's series."""
        self._count(alert)

    async def send_batch(self, alerts: list[Alert]) -> list[Alert]:
        """Increment each alert's series; none is refused."""
        for alert in alerts:
            self._count(alert)
        return []

    def _count(self, alert: Alert) -> None:
        fields = alert.output_fields
        values = {
            "hostname": alert.hostname or "unknown",
            "rule": alert.rule,
            "priority": str(falcosidekick_priority(alert.priority)),
            "priority_raw": alert.priority.name.lower(),
            "source": alert.source,
            "k8s_ns_name": str(fields.get("k8s.ns.name") or ""),
            "k8s_pod_name": str(fields.get("k8s.pod.name") or ""),
        }
        for name, key in {**self.custom, **self.extra}.items():
            values.setdefault(name, "" if fields.get(key) is None else str(fields.get(key)))
        key = tuple(values.get(n, "") for n in self.names)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.counter.labels(*key)
        child.inc()


def _tag(value: str) -> str:
    return (
        value.replace("\n", " ")
        .replace("\\", "\\\\")
        .replace(",", "\\,")
        .replace("=", "\\=")
        .replace(" ", "\\ ")
    )


def _field(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@register
class InfluxDB(HttpOutput):
    """InfluxDB line protocol: v1 `/write?db=` or, with a token, v2 `/api/v2/write`."""

    kind = "influxdb"
    family = "metrics"
    enable_key = "hostport"
    content_type = "text/plain; charset=utf-8"
    options: ClassVar[dict[str, Opt]] = {
        "hostport": Opt("str", ""),
        "database": Opt("str", "falco"),
        "organization": Opt("str", ""),
        "bucket": Opt("str", "falco"),
        "precision": Opt("choice", "ns", choices=("ns", "us", "ms", "s")),
        "user": Opt("str", ""),
        "password": Opt("str", "", secret=True),
        "token": Opt("str", "", secret=True),
    }

    def url(self, alert: Alert) -> str:
        """The write endpoint (query string built by httpx params)."""
        base = self.settings["hostport"].rstrip("/")
        precision = self.settings["precision"]
        if self.settings["token"]:
            q = httpx.QueryParams(
                org=self.settings["organization"],
                bucket=self.settings["bucket"],
                precision=precision,
            )
            return f"{base}/api/v2/write?{q}"
        params = {"db": self.settings["database"], "precision": precision}
        if self.settings["user"]:
            params.update(u=self.settings["user"], p=self.settings["password"])
        return f"{base}/write?{httpx.QueryParams(params)}"

    def body(self, alert: Alert) -> bytes:
        """One point in measurement `events`, tagged by rule, priority, source, host, fields."""
        tags = {"rule": alert.rule, "priority": alert.priority.label}
        if alert.source:
            tags["source"] = alert.source
        if alert.hostname:
            tags["hostname"] = alert.hostname
        for key, value in sorted(alert.output_fields.items()):
            if value is not None and value != "" and not isinstance(value, list):
                tags.setdefault(key, str(value))
        tag_text = ",".join(f"{_tag(k)}={_tag(v)}" for k, v in tags.items() if v)
        divisor = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
        stamp = alert.time_ns // divisor[self.settings["precision"]]
        return f"events,{tag_text} value={_field(alert.output)} {stamp}".encode()

    def headers(self, alert: Alert) -> dict[str, str]:
        """Token authorisation (v2)."""
        return (
            {"Authorization": f"Token {self.settings['token']}"} if self.settings["token"] else {}
        )


@register
class Wavefront(Output):
    """Wavefront (VMware Aria Operations for Applications): one point per alert, metric
    `metricname` (default `falco.alert`) = 1 at the alert time (ns, as Falcosidekick sends),
    source `falco-exporter`, point tags severity, rule, source, hostname, the string output
    fields and the alert tags; line format by the official SDK (`wavefront-sdk-python`).
    `endpointtype: proxy` writes the line over TCP to `endpointhost:endpointmetricport`;
    `direct` posts it gzip-compressed to `https://<endpointhost>/report?f=wavefront` with the
    `endpointtoken` as Bearer token (the direct ingestion API)."""

    kind = "wavefront"
    family = "metrics"
    enable_key = "endpointhost"
    options: ClassVar[dict[str, Opt]] = {
        "endpointtype": Opt("choice", "", choices=("", "direct", "proxy")),
        "endpointhost": Opt("str", ""),
        "endpointtoken": Opt("str", "", secret=True),
        "endpointmetricport": Opt("int", 2878, minimum=1, maximum=65535),
        "metricname": Opt("str", "falco.alert"),
        "flushintervalseconds": Opt("int", 1, minimum=0),
        "batchsize": Opt("int", 10000, minimum=0),
    }

    def __init__(self, settings: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(settings, ctx)
        self._writer: asyncio.StreamWriter | None = None
        self._reader: asyncio.StreamReader | None = None
        self._http: _WavefrontDirect | None = None

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """A host needs a type (Falcosidekick enables Wavefront with both)."""
        if settings["endpointhost"] and not settings["endpointtype"]:
            return "endpointtype", "wavefront needs endpointtype: direct or proxy"
        return None

    def line(self, alert: Alert) -> str:
        """The point in Wavefront's data format."""
        from wavefront_sdk.common.utils import metric_to_line_data

        tags = {"severity": alert.priority.label, "rule": alert.rule, "source": alert.source}
        if alert.hostname:
            tags["hostname"] = alert.hostname
        for key, value in alert.output_fields.items():
            if isinstance(value, str):
                tags[key] = value
        if alert.tags:
            tags["tags"] = ", ".join(alert.tags)
        clean = {re.sub(r"[^A-Za-z0-9._-]", "_", k): v for k, v in tags.items() if v.strip()}
        return metric_to_line_data(
            self.settings["metricname"], 1, alert.time_ns, "falco-exporter", clean, "falco"
        )

    async def send(self, alert: Alert) -> None:
        """Send the point to the proxy or the direct ingestion API."""
        data = self.line(alert)
        if self.settings["endpointtype"] == "direct":
            if self._http is None:
                self._http = _WavefrontDirect(self.settings, self.ctx)
            await self._http.send(alert, data)
            return
        try:
            if self._reader is not None and self._reader.at_eof():
                await self.close()
            if self._writer is None or self._writer.is_closing():
                self._reader, self._writer = await asyncio.wait_for(
                    asyncio.open_connection(
                        self.settings["endpointhost"], self.settings["endpointmetricport"]
                    ),
                    self.ctx.timeout,
                )
            writer = self._writer
            assert writer is not None
            writer.write(data.encode())
            await asyncio.wait_for(writer.drain(), self.ctx.timeout)
        except (OSError, TimeoutError) as exc:
            await self.close()
            raise DeliveryError(f"wavefront: {exc!r}") from exc

    async def close(self) -> None:
        """Close the proxy connection and the HTTP client."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self._reader = None
        if self._http is not None:
            await self._http.close()
            self._http = None


class _WavefrontDirect(HttpOutput):
    """The direct ingestion request of the Wavefront output (not registered on its own)."""

    kind = "wavefront"
    family = "metrics"
    enable_key = "endpointhost"
    content_type = "application/octet-stream"

    def __init__(self, settings: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__({**settings, "customheaders": {}}, ctx)
        self._line = ""

    async def send(self, alert: Alert, line: str = "") -> None:  # type: ignore[override]
        """POST one line."""
        self._line = line
        await super().send(alert)

    def url(self, alert: Alert) -> str:
        """`https://<host>/report?f=wavefront` (a host given with a scheme keeps it)."""
        host = self.settings["endpointhost"].rstrip("/")
        base = host if "://" in host else f"https://{host}"
        return f"{base}/report?f=wavefront"

    def headers(self, alert: Alert) -> dict[str, str]:
        """Token and compression."""
        return {
            "Authorization": f"Bearer {self.settings['endpointtoken']}",
            "Content-Encoding": "gzip",
        }

    def body(self, alert: Alert) -> bytes:
        """The gzip-compressed line."""
        return gzip.compress(self._line.encode())
