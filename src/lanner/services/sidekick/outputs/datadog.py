"""Datadog outputs: events (API v1) and logs (HTTP intake v2)."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from ..alert import Alert, Priority
from ..schema import Opt
from .base import HttpOutput, dumps, falco_payload, register


def _alert_type(priority: Priority) -> str:
    if priority.at_least(Priority.ERROR):
        return "error"
    return "warning" if priority is Priority.WARNING else "info"


@register
class Datadog(HttpOutput):
    """Datadog event: `POST <host>/api/v1/events?api_key=<apikey>` with title (rule), text
    (output), alert_type (error/warning/info), source_type_name `falco`, and tags
    `<field>:<value>`, `source:<source>`, `source:falco`, `hostname:<host>` and the alert's."""

    kind = "datadog"
    family = "metrics"
    enable_key = "apikey"
    options: ClassVar[dict[str, Opt]] = {
        "apikey": Opt("str", "", secret=True),
        "host": Opt("str", "https://api.datadoghq.com"),
    }

    def url(self, alert: Alert) -> str:
        """The events API with the key."""
        host = self.settings["host"].rstrip("/")
        return f"{host}/api/v1/events?api_key={quote(self.settings['apikey'], safe='')}"

    def body(self, alert: Alert) -> dict[str, Any]:
        """The event."""
        tags = [f"{k}:{v}" for k, v in sorted(alert.output_fields.items())]
        tags += [f"source:{alert.source}", "source:falco"]
        if alert.hostname:
            tags.append(f"hostname:{alert.hostname}")
        tags += sorted(alert.tags)
        return {
            "title": alert.rule,
            "text": alert.output,
            "alert_type": _alert_type(alert.priority),
            "source_type_name": "falco",
            "tags": tags,
        }


@register
class DatadogLogs(HttpOutput):
    """Datadog log: `POST <host>/api/v2/logs`, `DD-API-KEY` header, `ddsource: falco`,
    `hostname`, `service`, `ddtags` (the alert's tags) and `message` (the event JSON)."""

    kind = "datadoglogs"
    family = "logs"
    enable_key = "apikey"
    options: ClassVar[dict[str, Opt]] = {
        "apikey": Opt("str", "", secret=True),
        "host": Opt("str", "https://http-intake.logs.datadoghq.com/"),
        "service": Opt("str", ""),
    }

    def url(self, alert: Alert) -> str:
        """The logs intake."""
        return self.settings["host"].rstrip("/") + "/api/v2/logs"

    def headers(self, alert: Alert) -> dict[str, str]:
        """The API key."""
        return {"DD-API-KEY": self.settings["apikey"]}

    def body(self, alert: Alert) -> dict[str, Any]:
        """The log entry (empty attributes left out)."""
        entry = {
            "ddsource": "falco",
            "hostname": alert.hostname,
            "service": self.settings["service"],
            "message": dumps(falco_payload(alert)).decode(),
            "ddtags": ",".join(sorted(alert.tags)),
        }
        return {k: v for k, v in entry.items() if v}
