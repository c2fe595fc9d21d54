"""OpenTelemetry outputs: each alert as a span (`otlp.traces`) or a log record
(`otlp.logs`), exported through the official OTLP exporters (HTTP/protobuf or gRPC).

An alert is exported synchronously, one per export call in a worker thread, so that a
failed export is a DeliveryError and the delivery worker retries it (the SDK's batching
processors would acknowledge an alert before the collector has it).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from typing import Any, ClassVar

from lanner.exceptions import DeliveryError

from ..alert import Alert
from ..schema import Opt
from .base import Output, OutputContext, alert_uuid, register

SERVICE = {"service.name": "falco", "service.version": "v0.1.0"}  # Falcosidekick's resource

_FNV128_OFFSET = 0x6C62272E07BB014262B821756295C58D
_FNV128_PRIME = 0x0000000001000000000000000000013B


def fnv1a_128(data: bytes) -> int:
    """FNV-1a, 128 bits (the hash Falcosidekick derives trace ids with)."""
    value = _FNV128_OFFSET
    for byte in data:
        value = ((value ^ byte) * _FNV128_PRIME) & ((1 << 128) - 1)
    return value


def trace_id(alert: Alert) -> int:
    """The alert's trace id, as Falcosidekick makes it: FNV-1a 128 of `<ns>:<pod>`, else the
    container id (not `host`), else `evt.hostname`, so a pod's alerts share a trace. Where
    none is set (Falcosidekick drops the alert) the event uuid is hashed instead."""
    fields = alert.output_fields
    ns, pod = fields.get("k8s.ns.name"), fields.get("k8s.pod.name")
    container, host = fields.get("container.id"), fields.get("evt.hostname")
    if isinstance(ns, str) and ns and isinstance(pod, str) and pod:
        key = f"{ns}:{pod}"
    elif isinstance(container, str) and container and container != "host":
        key = container
    elif isinstance(host, str) and host:
        key = host
    else:
        key = alert_uuid(alert)
    return fnv1a_128(key.encode())


OTLP_OPTIONS: dict[str, Opt] = {
    "endpoint": Opt("str", ""),
    "protocol": Opt("choice", "http/protobuf", choices=("http/protobuf", "grpc")),
    "headers": Opt("str", ""),
    "timeout": Opt("int", 10000, minimum=1),
    "tls": Opt("bool", False),
    "checkcert": Opt("bool", True),
    "extraenvvars": Opt("map"),
}


def _headers(text: str) -> dict[str, str]:
    out = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            out[key.strip()] = value.strip()
    return out


class OtlpOutput(Output):
    """Shared setup: exporter options from Falcosidekick's keys, export in a thread."""

    family = "traces"
    enable_key = "endpoint"
    signal: ClassVar[str]

    def __init__(self, settings: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(settings, ctx)
        self._exporter: Any = None

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """The HTTP endpoint is a URL; gRPC takes `host:port` or a URL."""
        value = settings["endpoint"]
        url = value.lower().startswith(("http://", "https://"))
        if value and settings["protocol"] == "http/protobuf" and not url:
            return "endpoint", f"expected http(s)://host:4318/v1/{cls.signal}, got {value!r}"
        return None

    def exporter_kwargs(self) -> dict[str, Any]:
        """Endpoint, headers, timeout and TLS for the exporter constructor."""
        s = self.settings
        for name, value in s["extraenvvars"].items():
            os.environ[name] = value  # as Falcosidekick: e.g. OTEL_RESOURCE_ATTRIBUTES
        kwargs: dict[str, Any] = {
            "endpoint": s["endpoint"],
            "headers": _headers(s["headers"]),
            "timeout": s["timeout"] / 1000,
        }
        if s["protocol"] == "grpc":
            kwargs["insecure"] = not s["tls"] and not s["endpoint"].startswith("https://")
        elif not s["checkcert"]:
            import requests

            session = requests.Session()
            session.verify = False
            kwargs["session"] = session
        elif self.ctx.extra_ca:
            kwargs["certificate_file"] = self.ctx.extra_ca
        return kwargs

    def make_exporter(self) -> Any:
        """The OTLP exporter for this signal."""
        raise NotImplementedError

    def record(self, alert: Alert) -> Any:
        """The span or log record of one alert."""
        raise NotImplementedError

    async def send(self, alert: Alert) -> None:
        """Export one alert; a failed export raises DeliveryError (retried)."""
        if self._exporter is None:
            self._exporter = self.make_exporter()
        result = await asyncio.to_thread(self._exporter.export, [self.record(alert)])
        if getattr(result, "name", "") != "SUCCESS":
            raise DeliveryError(f"{self.kind}: export to {self.settings['endpoint']} failed")

    async def close(self) -> None:
        """Shut the exporter down."""
        if self._exporter is not None:
            await asyncio.to_thread(self._exporter.shutdown)
            self._exporter = None


@register
class OtlpTraces(OtlpOutput):
    """A span per alert: name = rule, kind SERVER, start = alert time, end = start +
    `duration` ms, attributes uuid/source/priority/rule/hostname/tags and every output field
    (as strings), one span event carrying the output; resource service.name `falco`."""

    kind = "otlptraces"
    section = "otlp.traces"
    signal = "traces"
    options: ClassVar[dict[str, Opt]] = {
        **OTLP_OPTIONS,
        "duration": Opt("int", 1000, minimum=0),
        "synced": Opt("bool", False),  # Lanner always exports one alert at a time
    }

    def make_exporter(self) -> Any:
        """HTTP/protobuf or gRPC span exporter."""
        if self.settings["protocol"] == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
                OTLPSpanExporter as GrpcSpanExporter,
            )

            return GrpcSpanExporter(**self.exporter_kwargs())
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(**self.exporter_kwargs())

    def record(self, alert: Alert) -> Any:
        """The span (ids derived from the alert, so a retry sends the same span)."""
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import Event, ReadableSpan
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope
        from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

        event_id = alert_uuid(alert)
        span_id = int.from_bytes(hashlib.sha256(event_id.encode()).digest()[:8], "big") or 1
        context = SpanContext(
            trace_id(alert), span_id, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)
        )
        start = alert.time_ns
        attributes: dict[str, Any] = {
            "uuid": event_id,
            "source": alert.source,
            "priority": alert.priority.label,
            "rule": alert.rule,
            "hostname": alert.hostname,
            "tags": list(alert.tags),
        }
        for key, value in alert.output_fields.items():
            attributes[key] = "" if value is None else str(value)
        return ReadableSpan(
            name=alert.rule,
            context=context,
            resource=Resource.create(SERVICE),
            attributes=attributes,
            events=[Event(alert.output, timestamp=start)],
            kind=SpanKind.SERVER,
            start_time=start,
            end_time=start + self.settings["duration"] * 1_000_000,
            instrumentation_scope=InstrumentationScope("falco-event"),
        )


@register
class OtlpLogs(OtlpOutput):
    """A log record per alert: body = output, timestamp = alert time, severity INFO (as
    Falcosidekick's slog bridge), attributes priority, source, rule, hostname, tags
    (comma-joined), timestamp; resource service.name `falco`."""

    kind = "otlplogs"
    section = "otlp.logs"
    family = "logs"
    signal = "logs"
    options: ClassVar[dict[str, Opt]] = {**OTLP_OPTIONS, "synced": Opt("bool", False)}

    def make_exporter(self) -> Any:
        """HTTP/protobuf or gRPC log exporter."""
        if self.settings["protocol"] == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
                OTLPLogExporter as GrpcLogExporter,
            )

            return GrpcLogExporter(**self.exporter_kwargs())
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

        return OTLPLogExporter(**self.exporter_kwargs())

    def record(self, alert: Alert) -> Any:
        """The log record."""
        from opentelemetry._logs import LogRecord, SeverityNumber
        from opentelemetry.sdk._logs import ReadableLogRecord
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        record = LogRecord(
            timestamp=alert.time_ns,
            observed_timestamp=alert.time_ns,
            severity_text="INFO",
            severity_number=SeverityNumber.INFO,
            body=alert.output,
            attributes={
                "priority": alert.priority.label,
                "source": alert.source,
                "rule": alert.rule,
                "hostname": alert.hostname,
                "tags": ",".join(alert.tags),
                "timestamp": alert.time,
            },
        )
        return ReadableLogRecord(
            record,
            resource=Resource.create(SERVICE),
            instrumentation_scope=InstrumentationScope("falco"),
        )


@register
class OtlpMetrics(OtlpOutput):
    """Falcosidekick's OTLP metric: the counter `falcosecurity_falco_rules_matches_total`
    (attributes source, priority, rule, hostname (`unknown` when empty), tags, the custom
    fields, and the output fields named in `extraattributes`, dots as `_`), exported
    cumulatively by the SDK's periodic reader (interval `OTEL_METRIC_EXPORT_INTERVAL`, e.g.
    through `extraenvvars`; 60 s by default): a failed export is carried by the next one."""

    kind = "otlpmetrics"
    section = "otlp.metrics"
    family = "metrics"
    signal = "metrics"
    options: ClassVar[dict[str, Opt]] = {**OTLP_OPTIONS, "extraattributes": Opt("list")}

    def __init__(self, settings: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(settings, ctx)
        self._provider: Any = None
        self._counter: Any = None
        self._custom = dict(ctx.customfields)

    def make_exporter(self) -> Any:
        """HTTP/protobuf or gRPC metric exporter."""
        if self.settings["protocol"] == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
                OTLPMetricExporter as GrpcMetricExporter,
            )

            return GrpcMetricExporter(**self.exporter_kwargs())
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter(**self.exporter_kwargs())

    async def start(self) -> None:
        """The meter provider (its own, not the global one) and the counter."""
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource

        reader = PeriodicExportingMetricReader(self.make_exporter())
        self._provider = MeterProvider(
            metric_readers=[reader], resource=Resource.create({"service.name": "falco"})
        )
        meter = self._provider.get_meter("falcosecurity.falco.otlpmetrics.meter")
        self._counter = meter.create_counter(
            "falcosecurity_falco_rules_matches_total", description="Falco rules matches"
        )

    def attributes(self, alert: Alert) -> dict[str, Any]:
        """The data point's attributes."""
        attrs: dict[str, Any] = {
            "source": alert.source,
            "priority": alert.priority.label,
            "rule": alert.rule,
            "hostname": alert.hostname or "unknown",
            "tags": list(alert.tags),
        }
        for key, value in self._custom.items():
            attrs[key.replace(".", "_")] = value
        for key in self.settings["extraattributes"]:
            field = alert.output_fields.get(key)
            attrs[key.replace(".", "_")] = field if isinstance(field, str) else ""
        return attrs

    async def send(self, alert: Alert) -> None:
        """Count the alert; the periodic reader exports it."""
        if self._counter is None:
            await self.start()
        self._counter.add(1, self.attributes(alert))

    async def close(self) -> None:
        """Flush and shut the provider down."""
        if self._provider is not None:
            await asyncio.to_thread(self._provider.shutdown)
            self._provider = None
            self._counter = None
