"""Log-ingest services: Splunk HEC, Sumo Logic, Zincsearch, OpenObserve, Quickwit,
Dynatrace log ingest, Spyderbat (HTTP), and Logstash (JSON lines over TCP, optionally TLS)."""

from __future__ import annotations

import asyncio
import gzip
import logging
import re
import ssl
import time
from typing import Any, ClassVar

import httpx
import orjson

from lanner.exceptions import DeliveryError, PermanentError

from ..alert import Alert
from ..schema import Opt
from .base import HttpOutput, Output, OutputContext, alert_uuid, dumps, falco_payload, register

log = logging.getLogger("lanner.sidekick")


class EventIngest(HttpOutput):
    """POST the event JSON (Falcosidekick's, with `uuid`)."""

    family = "logs"
    enable_key = "hostport"

    def body(self, alert: Alert) -> Any:
        """The event."""
        return falco_payload(alert)

    def auth(self) -> httpx.Auth | None:
        """Basic authentication when `username` and `password` are both set."""
        user = self.settings.get("username", "")
        password = self.settings.get("password", "")
        return httpx.BasicAuth(user, password) if user and password else None


@register
class Splunk(EventIngest):
    """Splunk HTTP Event Collector at `host` (the full `/services/collector/event` URL):
    `{"event": <event>, "sourcetype": "falcosidekick"}`, `Authorization: Splunk <token>`."""

    kind = "splunk"
    enable_key = "host"
    options: ClassVar[dict[str, Opt]] = {
        "host": Opt("str", ""),
        "token": Opt("str", "", secret=True),
    }

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """host is the collector URL."""
        value = settings["host"]
        if value and not value.lower().startswith(("http://", "https://")):
            return "host", f"expected the HEC URL (http(s)://host:8088/...), got {value!r}"
        return None

    def url(self, alert: Alert) -> str:
        """The collector endpoint."""
        return self.settings["host"]

    def headers(self, alert: Alert) -> dict[str, str]:
        """The HEC token."""
        token = self.settings["token"]
        return {"Authorization": f"Splunk {token}"} if token else {}

    def body(self, alert: Alert) -> dict[str, Any]:
        """The HEC event."""
        return {"event": falco_payload(alert), "sourcetype": "falcosidekick"}


@register
class SumoLogic(EventIngest):
    """Sumo Logic hosted HTTP source: the event JSON to `receiverurl`, with `sourcecategory`,
    `sourcehost`, `name` as `X-Sumo-Category`, `X-Sumo-Host`, `X-Sumo-Name`."""

    kind = "sumologic"
    enable_key = "receiverurl"
    options: ClassVar[dict[str, Opt]] = {
        "receiverurl": Opt("str", ""),
        "sourcecategory": Opt("str", ""),
        "sourcehost": Opt("str", ""),
        "name": Opt("str", ""),
    }

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """receiverurl is a URL."""
        value = settings["receiverurl"]
        if value and not value.lower().startswith(("http://", "https://")):
            return "receiverurl", f"expected an http:// or https:// URL, got {value!r}"
        return None

    def url(self, alert: Alert) -> str:
        """The source's URL."""
        return self.settings["receiverurl"]

    def headers(self, alert: Alert) -> dict[str, str]:
        """Source metadata overrides."""
        names = {"sourcecategory": "X-Sumo-Category", "sourcehost": "X-Sumo-Host"}
        names["name"] = "X-Sumo-Name"
        return {h: self.settings[k] for k, h in names.items() if self.settings[k]}


@register
class Zincsearch(EventIngest):
    """Zincsearch document API: `POST <hostport>/api/<index>/_doc`, basic auth."""

    kind = "zincsearch"
    options: ClassVar[dict[str, Opt]] = {
        "hostport": Opt("str", ""),
        "index": Opt("str", "falco"),
        "username": Opt("str", ""),
        "password": Opt("str", "", secret=True),
    }

    def url(self, alert: Alert) -> str:
        """The index's document endpoint."""
        return f"{self.settings['hostport'].rstrip('/')}/api/{self.settings['index']}/_doc"


@register
class OpenObserve(EventIngest):
    """OpenObserve `_multi` ingestion: `POST <hostport>/api/<organizationname>/<streamname>
    /_multi`, basic auth, custom headers."""

    kind = "openobserve"
    options: ClassVar[dict[str, Opt]] = {
        "hostport": Opt("str", ""),
        "organizationname": Opt("str", "default"),
        "streamname": Opt("str", "falco"),
        "username": Opt("str", ""),
        "password": Opt("str", "", secret=True),
    }

    def url(self, alert: Alert) -> str:
        """The stream's ingestion endpoint."""
        s = self.settings
        return f"{s['hostport'].rstrip('/')}/api/{s['organizationname']}/{s['streamname']}/_multi"


_QUICKWIT_FIELDS = [
    ("time", "datetime", True),
    ("uuid", "text", True),
    ("hostname", "text", True),
    ("priority", "text", True),
    ("source", "text", True),
    ("output", "text", False),
    ("rule", "text", True),
    ("tags", "array<text>", True),
    ("output_fields", "json", True),
]


@register
class Quickwit(EventIngest):
    """Quickwit ingest API: `POST <hostport>/<apiendpoint>/<index>/ingest`; with
    `autocreateindex` the index is created at start (dynamic mapping, timestamp `time`)
    when `GET .../indexes/<index>/describe` does not find it."""

    kind = "quickwit"
    options: ClassVar[dict[str, Opt]] = {
        "hostport": Opt("str", ""),
        "apiendpoint": Opt("str", "api/v1"),
        "index": Opt("str", "falco"),
        "version": Opt("str", "0.7"),
        "autocreateindex": Opt("bool", False),
    }

    def base(self) -> str:
        """`<hostport>/<apiendpoint>`."""
        s = self.settings
        return f"{s['hostport'].rstrip('/')}/{s['apiendpoint'].strip('/')}"

    def url(self, alert: Alert) -> str:
        """The index's ingest endpoint."""
        return f"{self.base()}/{self.settings['index']}/ingest"

    def index_config(self) -> dict[str, Any]:
        """The index created by `autocreateindex`."""
        return {
            "version": self.settings["version"],
            "index_id": self.settings["index"],
            "doc_mapping": {
                "mode": "dynamic",
                "store_source": True,
                "timestamp_field": "time",
                "dynamic_mapping": {
                    "description": "Falco",
                    "indexed": True,
                    "stored": True,
                    "fast": True,
                    "expand_dots": True,
                    "record": "basic",
                    "tokenizer": "raw",
                },
                "field_mappings": [
                    {"name": n, "type": t, "fast": f} for n, t, f in _QUICKWIT_FIELDS
                ],
            },
            "search_settings": {
                "default_search_fields": [
                    "rule",
                    "source",
                    "output",
                    "priority",
                    "hostname",
                    "tags",
                ]
            },
        }

    async def start(self) -> None:
        """Create the index when asked and missing; a failure is logged (sends retry)."""
        if not self.settings["autocreateindex"]:
            return
        headers = {"Content-Type": "application/json", **self.settings["customheaders"]}
        try:
            found = await self.request(
                "GET", f"{self.base()}/indexes/{self.settings['index']}/describe", b"", headers
            )
            if found.status_code == 200:
                return
            made = await self.request(
                "POST", f"{self.base()}/indexes", dumps(self.index_config()), headers
            )
            if not 200 <= made.status_code < 300:
                log.error("quickwit: creating index: HTTP %s %s", made.status_code, made.text[:200])
        except DeliveryError as exc:
            log.error("quickwit: creating index: %s", exc)


_MITRE_TECHNIQUE = re.compile(r"T\d+\.?\d*")
_MITRE_TACTIC = re.compile(r"mitre_\w+")
_DYNATRACE_FIELDS = {
    "container.id": "container.id",
    "container.name": "container.name",
    "container.image": "container.image.name",
    "k8s.ns.name": "k8s.namespace.name",
    "ka.target.namespace": "k8s.namespace.name",
    "k8s.pod.name": "k8s.pod.name",
    "k8s.pod.id": "k8s.pod.uid",
    "proc.name": "process.executable.name",
}


@register
class Dynatrace(HttpOutput):
    """Dynatrace log ingest API v2: `POST <apiurl>/v2/logs/ingest`, `Api-Token` auth, one
    log record per alert with Dynatrace semantic attributes (event.*, host.name, k8s.*,
    container.*, mitre.*) and the alert in `content`."""

    kind = "dynatrace"
    family = "metrics"
    enable_key = "apitoken"
    content_type = "application/json; charset=utf-8"
    options: ClassVar[dict[str, Opt]] = {
        "apitoken": Opt("str", "", secret=True),
        "apiurl": Opt("str", ""),
    }

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """Token and URL go together."""
        if settings["apitoken"] and not settings["apiurl"]:
            return "apiurl", "dynatrace needs apiurl (https://<env>.live.dynatrace.com/api)"
        value = settings["apiurl"]
        if value and not value.lower().startswith(("http://", "https://")):
            return "apiurl", f"expected an http:// or https:// URL, got {value!r}"
        return None

    def url(self, alert: Alert) -> str:
        """The ingest endpoint."""
        return self.settings["apiurl"].rstrip("/") + "/v2/logs/ingest"

    def headers(self, alert: Alert) -> dict[str, str]:
        """The API token."""
        return {"Authorization": f"Api-Token {self.settings['apitoken']}"}

    def body(self, alert: Alert) -> list[dict[str, Any]]:
        """A list of one log record."""
        record: dict[str, Any] = {
            "timestamp": alert.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "event.id": alert_uuid(alert),
            "event.name": alert.rule,
            "event.provider": "Falco",
            "severity": alert.priority.label,
        }
        if alert.hostname:
            record["host.name"] = alert.hostname
        if alert.source:
            record["log.source"] = alert.source
        content: dict[str, Any] = {"output": alert.output, "output_fields": alert.output_fields}
        if alert.tags:
            content["tags"] = alert.tags
        record["content"] = content
        for field, attribute in _DYNATRACE_FIELDS.items():
            value = alert.output_fields.get(field)
            if isinstance(value, str) and value:
                record[attribute] = value
        if alert.output_fields.get("span.id") is not None:
            record["span.id"] = str(alert.output_fields["span.id"])
        for tag in alert.tags:
            if _MITRE_TECHNIQUE.search(tag):
                record["mitre.technique"] = tag
            elif _MITRE_TACTIC.search(tag):
                record["mitre.tactic"] = tag
        return [record]


_INDEXED_KEY = re.compile(r"\[(\d+)\]")


@register
class Logstash(Output):
    """Logstash `tcp` input (codec `json_lines`): one event JSON per line on
    `address:port`; `tls` / `mutualtls` (with `certfile`, `keyfile`, `cacertfile`, else the
    global client certificate); field keys `a[0]` become `a.0` (Logstash refuses brackets);
    `tags` are appended to the alert's."""

    kind = "logstash"
    family = "logs"
    enable_key = "address"
    options: ClassVar[dict[str, Opt]] = {
        "address": Opt("str", ""),
        "port": Opt("int", 5044, minimum=1, maximum=65535),
        "tls": Opt("bool", False),
        "mutualtls": Opt("bool", False),
        "checkcert": Opt("bool", True),
        "certfile": Opt("str", ""),
        "keyfile": Opt("str", ""),
        "cacertfile": Opt("str", ""),
        "tags": Opt("list"),
    }

    def __init__(self, settings: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(settings, ctx)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    def tls_context(self) -> ssl.SSLContext | None:
        """The TLS context when `tls` or `mutualtls`, else None (plain TCP)."""
        s = self.settings
        if not (s["tls"] or s["mutualtls"]):
            return None
        ctx = self.ctx.ssl_context(s["checkcert"] or s["mutualtls"], s["mutualtls"])
        if s["mutualtls"] and s["certfile"]:
            ctx.load_cert_chain(s["certfile"], s["keyfile"] or None)
        if s["mutualtls"] and s["cacertfile"]:
            ctx.load_verify_locations(s["cacertfile"])
        return ctx

    def line(self, alert: Alert) -> bytes:
        """The event as one JSON line."""
        event = falco_payload(alert)
        event["output_fields"] = {
            _INDEXED_KEY.sub(r".\1", k): v for k, v in alert.output_fields.items()
        }
        event["tags"] = [*alert.tags, *self.settings["tags"]]
        return dumps(event) + b"\n"

    async def send(self, alert: Alert) -> None:
        """Write one line, reconnecting when the connection broke."""
        data = self.line(alert)
        try:
            if self._reader is not None and self._reader.at_eof():
                await self.close()
            if self._writer is None or self._writer.is_closing():
                self._reader, self._writer = await asyncio.wait_for(
                    asyncio.open_connection(
                        self.settings["address"], self.settings["port"], ssl=self.tls_context()
                    ),
                    self.ctx.timeout,
                )
            writer = self._writer
            assert writer is not None
            writer.write(data)
            await asyncio.wait_for(writer.drain(), self.ctx.timeout)
        except (OSError, TimeoutError) as exc:
            await self.close()
            raise DeliveryError(f"logstash: {exc!r}") from exc

    async def close(self) -> None:
        """Close the connection."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self._reader = None


_SPYDERBAT_LEVELS = {
    "EMERGENCY": "critical",
    "ALERT": "high",
    "CRITICAL": "critical",
    "ERROR": "high",
    "WARNING": "medium",
    "NOTICE": "low",
    "INFORMATIONAL": "info",
    "DEBUG": "info",
}


@register
class Spyderbat(HttpOutput):
    """Spyderbat data API: at start the source `falcosidekick_<orguid>` is looked up
    (`GET <apiurl>/api/v1/org/<orguid>/source/`) and created when missing; each alert is
    one `falco_alert::1.0.0` record (time from `evt.time`, `proc.pid`, level, message words,
    `proc.cmdline`, `container.id`), NDJSON gzip-compressed, Bearer `apikey`. An alert
    without `evt.time` or `proc.pid` is refused (Falcosidekick drops it too)."""

    kind = "spyderbat"
    family = "metrics"
    enable_key = "orguid"
    content_type = "application/ndjson"
    options: ClassVar[dict[str, Opt]] = {
        "orguid": Opt("str", ""),
        "apikey": Opt("str", "", secret=True),
        "apiurl": Opt("str", "https://api.spyderbat.com"),
        "source": Opt("str", "falcosidekick"),
        "sourcedescription": Opt("str", ""),
    }

    def __init__(self, settings: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(settings, ctx)
        self._source_ready = False

    def sources_url(self) -> str:
        """The organisation's sources."""
        return f"{self.settings['apiurl'].rstrip('/')}/api/v1/org/{self.settings['orguid']}/source/"

    def source_uid(self) -> str:
        """The source Falcosidekick registers."""
        return f"falcosidekick_{self.settings['orguid']}"

    def url(self, alert: Alert) -> str:
        """The source's data endpoint."""
        return f"{self.sources_url()}{self.source_uid()}/data/sb-agent"

    def headers(self, alert: Alert) -> dict[str, str]:
        """Token and compression."""
        return {"Authorization": f"Bearer {self.settings['apikey']}", "Content-Encoding": "gzip"}

    async def ensure_source(self) -> None:
        """Look the source up; create it when missing (DeliveryError: retried later)."""
        auth = {"Authorization": f"Bearer {self.settings['apikey']}"}
        found = await self.request("GET", self.sources_url(), b"", auth)
        self.check(found)
        uid = self.source_uid()
        try:
            sources = orjson.loads(found.content) if found.content else []
        except orjson.JSONDecodeError as exc:
            raise DeliveryError(f"spyderbat: sources: {exc}") from exc
        if not any(isinstance(s, dict) and s.get("uid") == uid for s in sources):
            body = {
                "name": self.settings["source"],
                "description": self.settings["sourcedescription"],
                "uid": uid,
            }
            made = await self.request(
                "POST",
                self.sources_url(),
                dumps(body),
                {**auth, "Content-Type": "application/json"},
            )
            self.check(made)
        self._source_ready = True

    def body(self, alert: Alert) -> bytes:
        """The gzip-compressed NDJSON record."""
        fields = alert.output_fields
        evt_time, pid = fields.get("evt.time"), fields.get("proc.pid")
        if not isinstance(evt_time, int) or not isinstance(pid, int):
            raise PermanentError("spyderbat: the alert needs integer evt.time and proc.pid")
        now = time.time_ns()
        words = alert.output.split(" ")
        record = {
            "schema": "falco_alert::1.0.0",
            "id": alert_uuid(alert),
            "monotonic_time": time.monotonic_ns(),
            "orc_time": now / 1e9,
            "time": float(evt_time // 1_000_000_000),
            "pid": pid,
            "level": _SPYDERBAT_LEVELS[alert.priority.name],
            "msg": words[2:] if len(words) > 2 else [],
            "args": fields.get("proc.cmdline")
            if isinstance(fields.get("proc.cmdline"), str)
            else "",
            "container": fields.get("container.id")
            if isinstance(fields.get("container.id"), str)
            else "",
        }
        return gzip.compress(dumps(record) + b"\n")

    async def send(self, alert: Alert) -> None:
        """Register the source once, then post the record."""
        if not self._source_ready:
            await self.ensure_source()
        await super().send(alert)
