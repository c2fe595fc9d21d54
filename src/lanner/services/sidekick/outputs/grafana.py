"""Grafana outputs: annotations (HTTP API) and Grafana OnCall (its formatted webhook)."""

from __future__ import annotations

from typing import Any, ClassVar

from ..alert import Alert
from ..schema import Opt
from .base import HttpOutput, alert_uuid, register


@register
class Grafana(HttpOutput):
    """An annotation per alert, `POST <hostport>/api/annotations` with a service-account
    token (`apikey`) as Bearer: time = timeEnd = the alert time in ms, tags falco, priority,
    rule, source, hostname (with `allfieldsastags`, every field value and alert tag too),
    optional `dashboardid`/`panelid`."""

    kind = "grafana"
    family = "logs"
    enable_key = "hostport"
    options: ClassVar[dict[str, Opt]] = {
        "hostport": Opt("str", ""),
        "apikey": Opt("str", "", secret=True),
        "dashboardid": Opt("int", 0, minimum=0),
        "panelid": Opt("int", 0, minimum=0),
        "allfieldsastags": Opt("bool", False),
    }

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """hostport needs apikey (Falcosidekick enables Grafana with both)."""
        if settings["hostport"] and not settings["apikey"]:
            return "apikey", "grafana needs apikey (a service account token) with hostport"
        return super().validate(settings)

    def url(self, alert: Alert) -> str:
        """The annotations API."""
        return self.settings["hostport"].rstrip("/") + "/api/annotations"

    def headers(self, alert: Alert) -> dict[str, str]:
        """The token."""
        return {"Authorization": f"Bearer {self.settings['apikey']}"}

    def body(self, alert: Alert) -> dict[str, Any]:
        """The annotation."""
        tags = ["falco", alert.priority.label, alert.rule, alert.source]
        if alert.hostname:
            tags.append(alert.hostname)
        if self.settings["allfieldsastags"]:
            tags += [str(v) for _, v in sorted(alert.output_fields.items())]
            tags += list(alert.tags)
        millis = alert.time_ns // 1_000_000
        out: dict[str, Any] = {
            "time": millis,
            "timeEnd": millis,
            "tags": tags,
            "text": alert.output,
        }
        if self.settings["dashboardid"]:
            out["dashboardId"] = self.settings["dashboardid"]
        if self.settings["panelid"]:
            out["panelId"] = self.settings["panelid"]
        return out


@register
class GrafanaOnCall(HttpOutput):
    """Grafana OnCall's "Formatted webhook" integration: `alert_uid` (the event uuid),
    `state: alerting`, `title` `[<Priority>] <rule>`, `message` the output."""

    kind = "grafanaoncall"
    family = "alerting"
    enable_key = "webhookurl"
    options: ClassVar[dict[str, Opt]] = {"webhookurl": Opt("str", "")}

    def url(self, alert: Alert) -> str:
        """The integration URL."""
        return self.settings["webhookurl"]

    def body(self, alert: Alert) -> dict[str, Any]:
        """The formatted-webhook alert."""
        return {
            "alert_uid": alert_uuid(alert),
            "state": "alerting",
            "title": f"[{alert.priority.label}] {alert.rule}",
            "message": alert.output,
        }
