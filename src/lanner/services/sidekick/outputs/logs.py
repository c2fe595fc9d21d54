"""Log outputs: Loki, Elasticsearch, OpenSearch, syslog, and a local JSON-lines file."""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any, ClassVar

import httpx
import orjson

from lanner.exceptions import DeliveryError, PermanentError

from ..alert import Alert, Priority
from ..schema import Opt
from .base import HttpOutput, Output, OutputContext, dumps, label_name, register


@register
class Loki(HttpOutput):
    """Grafana Loki push API (`/loki/api/v1/push`), one stream per alert's label set."""

    kind = "loki"
    family = "logs"
    enable_key = "hostport"
    options: ClassVar[dict[str, Opt]] = {
        "hostport": Opt("str", ""),
        "endpoint": Opt("str", "/loki/api/v1/push"),
        "user": Opt("str", ""),
        "apikey": Opt("str", "", secret=True),
        "tenant": Opt("str", ""),
        "extralabels": Opt("list"),
        "format": Opt("choice", "text", choices=("text", "json")),
    }

    def url(self, alert: Alert) -> str:
        """hostport + endpoint."""
        return self.settings["hostport"].rstrip("/") + self.settings["endpoint"]

    def labels(self, alert: Alert) -> dict[str, str]:
        """Stream labels: rule, priority, source, hostname, tags, custom fields, extra labels."""
        labels = {"rule": alert.rule, "priority": alert.priority.label}
        if alert.source:
            labels["source"] = alert.source
        if alert.hostname:
            labels["hostname"] = alert.hostname
        if alert.tags:
            labels["tags"] = ",".join(sorted(alert.tags))
        for key in self.ctx.customfields:
            value = alert.output_fields.get(key)
            if value is not None:
                labels[label_name(key)] = str(value)
        for key in self.settings["extralabels"]:
            value = alert.output_fields.get(key)
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                labels[label_name(key)] = str(value)
        return labels

    def body(self, alert: Alert) -> dict[str, Any]:
        """The push request."""
        return {"streams": [{"stream": self.labels(alert), "values": [self._entry(alert)]}]}

    max_batch = 500

    def _entry(self, alert: Alert) -> list[str]:
        line = (
            alert.output if self.settings["format"] == "text" else dumps(alert.to_dict()).decode()
        )
        return [str(alert.time_ns), line]

    async def send_batch(self, alerts: list[Alert]) -> list[Alert]:
        """One push for several alerts, grouped into one stream per label set (Loki
        drops an entry identical to one it has, so a re-push after a partial refusal adds
        no duplicates)."""
        streams: dict[tuple[tuple[str, str], ...], tuple[dict[str, str], list[list[str]]]] = {}
        for alert in alerts:
            labels = self.labels(alert)
            key = tuple(labels.items())
            if key not in streams:
                streams[key] = (labels, [])
            streams[key][1].append(self._entry(alert))
        body = {"streams": [{"stream": lab, "values": vals} for lab, vals in streams.values()]}
        headers = {"Content-Type": self.content_type, **self.headers(alerts[0])}
        headers.update(self.settings.get("customheaders") or {})
        self.check(await self.request("POST", self.url(alerts[0]), dumps(body), headers))
        return []

    def headers(self, alert: Alert) -> dict[str, str]:
        """X-Scope-OrgID when a tenant is set."""
        return {"X-Scope-OrgID": self.settings["tenant"]} if self.settings["tenant"] else {}

    def auth(self) -> httpx.Auth | None:
        """Basic auth with user/apikey (Grafana Cloud)."""
        if self.settings["user"] and self.settings["apikey"]:
            return httpx.BasicAuth(self.settings["user"], self.settings["apikey"])
        return None


@register
class Elasticsearch(HttpOutput):
    """Elasticsearch index API: `POST /<index>-<date suffix>/_doc` with the alert document."""

    kind = "elasticsearch"
    family = "logs"
    enable_key = "hostport"
    options: ClassVar[dict[str, Opt]] = {
        "hostport": Opt("str", ""),
        "index": Opt("str", "falco"),
        "type": Opt("str", "_doc"),
        "suffix": Opt("choice", "daily", choices=("daily", "monthly", "annually", "none")),
        "username": Opt("str", ""),
        "password": Opt("str", "", secret=True),
        "apikey": Opt("str", "", secret=True),
        "pipeline": Opt("str", ""),
    }
    _SUFFIX: ClassVar[dict[str, str]] = {
        "daily": "-%Y.%m.%d",
        "monthly": "-%Y.%m",
        "annually": "-%Y",
        "none": "",
    }

    def index_name(self, alert: Alert) -> str:
        """The index for this alert's date."""
        return self.settings["index"] + alert.timestamp.strftime(
            self._SUFFIX[self.settings["suffix"]]
        )

    def url(self, alert: Alert) -> str:
        """The document URL."""
        base = self.settings["hostport"].rstrip("/")
        url = f"{base}/{self.index_name(alert)}/{self.settings['type']}"
        return url + (f"?pipeline={self.settings['pipeline']}" if self.settings["pipeline"] else "")

    def body(self, alert: Alert) -> dict[str, Any]:
        """The document: the alert plus `@timestamp` for Kibana/Dashboards time pickers."""
        doc = alert.to_dict()
        doc["@timestamp"] = alert.time
        return doc

    max_batch = 500

    async def send_batch(self, alerts: list[Alert]) -> list[Alert]:
        """The `_bulk` API: one request indexing several documents; the documents refused
        one by one (`errors: true`) are returned, to go through the document API alone."""
        lines: list[bytes] = []
        for alert in alerts:
            action: dict[str, str] = {"_index": self.index_name(alert)}
            if self.settings["type"] != "_doc":
                action["_type"] = self.settings["type"]
            lines += (dumps({"index": action}), dumps(self.body(alert)))
        lines.append(b"")
        base = self.settings["hostport"].rstrip("/")
        url = f"{base}/_bulk" + (
            f"?pipeline={self.settings['pipeline']}" if self.settings["pipeline"] else ""
        )
        headers = {"Content-Type": "application/x-ndjson", **self.headers(alerts[0])}
        headers.update(self.settings.get("customheaders") or {})
        response = await self.request("POST", url, b"\n".join(lines), headers)
        self.check(response)
        try:
            answer = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:  # 2xx without the bulk answer: not a bulk API
            raise PermanentError(f"_bulk answer is not JSON: {exc}") from exc
        if not isinstance(answer, dict) or not answer.get("errors"):
            return []
        items = answer.get("items")
        if not isinstance(items, list) or len(items) != len(alerts):
            return alerts  # cannot tell which ones failed: each one again, alone
        refused = []
        for alert, item in zip(alerts, items, strict=True):
            result: Any = next(iter(item.values()), {}) if isinstance(item, dict) and item else {}
            status = result.get("status", 0) if isinstance(result, dict) else 0
            if not (isinstance(status, int) and 200 <= status < 300):
                refused.append(alert)
        return refused

    def headers(self, alert: Alert) -> dict[str, str]:
        """ApiKey authorisation when set."""
        return (
            {"Authorization": f"ApiKey {self.settings['apikey']}"}
            if self.settings["apikey"]
            else {}
        )

    def auth(self) -> httpx.Auth | None:
        """Basic auth when a username is set."""
        if self.settings["username"]:
            return httpx.BasicAuth(self.settings["username"], self.settings["password"])
        return None


@register
class OpenSearch(Elasticsearch):
    """OpenSearch: the same document API as Elasticsearch."""

    kind = "opensearch"


_SYSLOG_SEVERITY = {
    Priority.EMERGENCY: 0,
    Priority.ALERT: 1,
    Priority.CRITICAL: 2,
    Priority.ERROR: 3,
    Priority.WARNING: 4,
    Priority.NOTICE: 5,
    Priority.INFORMATIONAL: 6,
    Priority.DEBUG: 7,
}
_FACILITIES = {
    "kern": 0,
    "user": 1,
    "daemon": 3,
    "auth": 4,
    "syslog": 5,
    "authpriv": 10,
    **{f"local{i}": 16 + i for i in range(8)},
}


def cef_escape(value: str, header: bool = False) -> str:
    """Escape a CEF header field (`|`) or extension value (`=`), and backslashes."""
    value = value.replace("\\", "\\\\")
    value = value.replace("|", "\\|") if header else value.replace("=", "\\=")
    return value.replace("\r", " ").replace("\n", " ")


@register
class Syslog(Output):
    """RFC 5424 syslog over TCP (newline framed) or UDP; message body JSON or CEF."""

    kind = "syslog"
    family = "logs"
    enable_key = "host"
    options: ClassVar[dict[str, Opt]] = {
        "host": Opt("str", ""),
        "port": Opt("int", 514, minimum=1, maximum=65535),
        "protocol": Opt("choice", "tcp", choices=("tcp", "udp")),
        "format": Opt("choice", "json", choices=("json", "cef")),
        "facility": Opt("choice", "local0", choices=tuple(_FACILITIES)),
        "appname": Opt("str", "lanner-sidekick"),
    }

    def __init__(self, settings: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(settings, ctx)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._udp: socket.socket | None = None
        self._host = ctx.hostname or socket.gethostname()

    def message(self, alert: Alert) -> bytes:
        """One syslog line (no trailing newline)."""
        pri = _FACILITIES[self.settings["facility"]] * 8 + _SYSLOG_SEVERITY[alert.priority]
        if self.settings["format"] == "json":
            msg = dumps(alert.to_dict()).decode()
        else:
            ext = {
                "rt": alert.time,
                "msg": alert.output,
                "src_host": alert.hostname,
                "source": alert.source,
                "tags": ",".join(alert.tags),
                **{k: "" if v is None else str(v) for k, v in alert.output_fields.items()},
            }
            exts = " ".join(f"{k.replace(' ', '_')}={cef_escape(v)}" for k, v in ext.items())
            sev = _SYSLOG_SEVERITY[alert.priority]
            msg = (
                f"CEF:0|Falcosecurity|Falco|1.0|Falco Event|{cef_escape(alert.rule, True)}"
                f"|{10 - sev}|{exts}"
            )
        host = (alert.hostname or self._host).replace(" ", "_") or "-"
        stamp = alert.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # RFC 5424: ≤ 6 digits
        line = f"<{pri}>1 {stamp} {host} {self.settings['appname']} - falco - {msg}"
        return line.replace("\n", " ").encode()

    async def send(self, alert: Alert) -> None:
        """Send one message, reconnecting TCP when the connection broke."""
        data = self.message(alert)
        try:
            if self.settings["protocol"] == "udp":
                if self._udp is None:
                    self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    self._udp.setblocking(False)
                await asyncio.get_running_loop().sock_sendto(
                    self._udp, data, (self.settings["host"], self.settings["port"])
                )
                return
            if self._reader is not None and self._reader.at_eof():
                await self.close()  # the server closed its side: don't write into the void
            if self._writer is None or self._writer.is_closing():
                self._reader, self._writer = await asyncio.wait_for(
                    asyncio.open_connection(self.settings["host"], self.settings["port"]),
                    self.ctx.timeout,
                )
            assert self._writer is not None
            self._writer.write(data + b"\n")
            await asyncio.wait_for(self._writer.drain(), self.ctx.timeout)
        except (OSError, TimeoutError) as exc:
            await self.close()
            raise DeliveryError(f"syslog: {exc!r}") from exc

    async def close(self) -> None:
        """Close sockets."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self._reader = None
        if self._udp is not None:
            self._udp.close()
            self._udp = None


@register
class File(Output):
    """Appends each alert as one JSON line to a local file."""

    kind = "file"
    family = "logs"
    enable_key = "path"
    options: ClassVar[dict[str, Opt]] = {"path": Opt("str", ""), "fsync": Opt("bool", False)}

    def _write(self, line: bytes) -> None:
        fd = os.open(self.settings["path"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line)
            if self.settings["fsync"]:
                os.fsync(fd)
        finally:
            os.close(fd)

    async def send(self, alert: Alert) -> None:
        """Append the alert."""
        try:
            await asyncio.to_thread(self._write, dumps(alert.to_dict()) + b"\n")
        except OSError as exc:
            raise DeliveryError(f"file: {exc}") from exc
