"""Alerting outputs: Prometheus Alertmanager, PagerDuty (Events API v2), Opsgenie (Alert API)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from ..alert import Alert, Priority
from ..schema import Opt
from .base import HttpOutput, label_name, register
from .chat import truncate

_AM_SEVERITY = {
    Priority.EMERGENCY: "critical",
    Priority.ALERT: "critical",
    Priority.CRITICAL: "critical",
    Priority.ERROR: "warning",
    Priority.WARNING: "warning",
    Priority.NOTICE: "information",
    Priority.INFORMATIONAL: "information",
    Priority.DEBUG: "information",
}


def _rfc3339(alert: Alert, delta: timedelta = timedelta(0)) -> str:
    return (alert.timestamp + delta).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@register
class Alertmanager(HttpOutput):
    """Alertmanager `POST /api/v2/alerts`: one alert with labels and annotations."""

    kind = "alertmanager"
    family = "alerting"
    enable_key = "hostport"
    options: ClassVar[dict[str, Opt]] = {
        "hostport": Opt("str", ""),
        "endpoint": Opt("str", "/api/v2/alerts"),
        "expiresafter": Opt("int", 0, minimum=0),
        "extralabels": Opt("map"),
        "extraannotations": Opt("map"),
        "customseveritymap": Opt("map"),
    }

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """customseveritymap keys must be priorities."""
        problem = super().validate(settings)
        if problem:
            return problem
        for key in settings["customseveritymap"]:
            try:
                Priority.parse(key)
            except ValueError:
                return "customseveritymap", f"{key!r} is not a priority"
        return None

    def url(self, alert: Alert) -> str:
        """hostport + endpoint."""
        return self.settings["hostport"].rstrip("/") + self.settings["endpoint"]

    def severity(self, priority: Priority) -> str:
        """The severity label, after customseveritymap."""
        for key, value in self.settings["customseveritymap"].items():
            if Priority.parse(key) == priority:
                return value
        return _AM_SEVERITY[priority]

    def body(self, alert: Alert) -> list[dict[str, Any]]:
        """The postable alerts list."""
        labels: dict[str, str] = {
            "alertname": alert.rule,
            "source": "falco",
            "rule": alert.rule,
            "priority": alert.priority.name.lower(),
            "severity": self.severity(alert.priority),
        }
        if alert.source:
            labels["eventsource"] = alert.source
        if alert.hostname:
            labels["hostname"] = alert.hostname
        for key, value in sorted(alert.output_fields.items()):
            if isinstance(value, str | int | float) and not isinstance(value, bool) and value != "":
                labels.setdefault(label_name(key), str(value))
        if alert.tags:
            labels["tags"] = ",".join(sorted(alert.tags))
        labels.update(self.settings["extralabels"])
        annotations = {"info": alert.output, "summary": alert.rule, "description": alert.output}
        annotations.update(self.settings["extraannotations"])
        item: dict[str, Any] = {
            "labels": labels,
            "annotations": annotations,
            "startsAt": _rfc3339(alert),
        }
        if self.settings["expiresafter"]:
            item["endsAt"] = _rfc3339(alert, timedelta(seconds=self.settings["expiresafter"]))
        return [item]


_PD_SEVERITY = {
    Priority.EMERGENCY: "critical",
    Priority.ALERT: "critical",
    Priority.CRITICAL: "critical",
    Priority.ERROR: "error",
    Priority.WARNING: "warning",
    Priority.NOTICE: "info",
    Priority.INFORMATIONAL: "info",
    Priority.DEBUG: "info",
}


@register
class PagerDuty(HttpOutput):
    """PagerDuty Events API v2 `POST /v2/enqueue` with a `trigger` event."""

    kind = "pagerduty"
    family = "alerting"
    enable_key = "routingkey"
    options: ClassVar[dict[str, Opt]] = {
        "routingkey": Opt("str", "", secret=True),
        "region": Opt("choice", "us", choices=("us", "eu")),
        "apiurl": Opt("str", ""),
    }

    def url(self, alert: Alert) -> str:
        """The regional Events API, unless apiurl overrides it (proxies, tests)."""
        if self.settings["apiurl"]:
            return self.settings["apiurl"]
        host = (
            "events.eu.pagerduty.com" if self.settings["region"] == "eu" else "events.pagerduty.com"
        )
        return f"https://{host}/v2/enqueue"

    def body(self, alert: Alert) -> dict[str, Any]:
        """The event."""
        details: dict[str, Any] = {
            "rule": alert.rule,
            "priority": alert.priority.label,
            "output": alert.output,
            "tags": alert.tags,
            "fields": alert.output_fields,
        }
        payload: dict[str, Any] = {
            "summary": truncate(alert.output or alert.rule, 1024),
            "source": alert.hostname or "falco",
            "severity": _PD_SEVERITY[alert.priority],
            "timestamp": _rfc3339(alert),
            "custom_details": details,
        }
        if alert.source:
            payload["component"] = alert.source
        return {
            "routing_key": self.settings["routingkey"],
            "event_action": "trigger",
            "payload": payload,
        }


_OG_PRIORITY = {
    Priority.EMERGENCY: "P1",
    Priority.ALERT: "P1",
    Priority.CRITICAL: "P2",
    Priority.ERROR: "P3",
    Priority.WARNING: "P4",
    Priority.NOTICE: "P5",
    Priority.INFORMATIONAL: "P5",
    Priority.DEBUG: "P5",
}


@register
class Opsgenie(HttpOutput):
    """Opsgenie Alert API `POST /v2/alerts` with `Authorization: GenieKey <key>`."""

    kind = "opsgenie"
    family = "alerting"
    enable_key = "apikey"
    options: ClassVar[dict[str, Opt]] = {
        "apikey": Opt("str", "", secret=True),
        "region": Opt("choice", "us", choices=("us", "eu")),
        "apiurl": Opt("str", ""),
    }

    def url(self, alert: Alert) -> str:
        """The regional Alert API, unless apiurl overrides it."""
        if self.settings["apiurl"]:
            return self.settings["apiurl"]
        host = "api.eu.opsgenie.com" if self.settings["region"] == "eu" else "api.opsgenie.com"
        return f"https://{host}/v2/alerts"

    def headers(self, alert: Alert) -> dict[str, str]:
        """GenieKey authorisation."""
        return {"Authorization": f"GenieKey {self.settings['apikey']}"}

    def body(self, alert: Alert) -> dict[str, Any]:
        """The alert; Opsgenie limits message to 130 and description to 15000 characters."""
        details = {k: "" if v is None else str(v) for k, v in alert.output_fields.items()}
        details.update(rule=alert.rule, priority=alert.priority.label)
        if alert.source:
            details["source"] = alert.source
        if alert.hostname:
            details["hostname"] = alert.hostname
        return {
            "message": truncate(alert.rule, 130),
            "description": truncate(alert.output, 15000),
            "priority": _OG_PRIORITY[alert.priority],
            "source": "Falco",
            "tags": [truncate(t, 50) for t in alert.tags][:20],
            "details": details,
            "entity": truncate(alert.hostname, 512) if alert.hostname else "Falco",
        }
