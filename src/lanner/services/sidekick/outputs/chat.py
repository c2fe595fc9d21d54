"""Chat outputs: Slack, Mattermost, Rocket.Chat, Microsoft Teams, Discord, Google Chat."""

from __future__ import annotations

from typing import Any, ClassVar

from ..alert import Alert, Priority
from ..schema import Opt
from ..template import Template
from .base import HttpOutput, register

ICON = "https://raw.githubusercontent.com/falcosecurity/falcosidekick/master/imgs/falcosidekick_color.png"
FOOTER = "lanner sidekick"

# One colour per priority band, as hex without '#'.
_COLORS = {
    Priority.EMERGENCY: "e20b0b",
    Priority.ALERT: "ff5400",
    Priority.CRITICAL: "ff9000",
    Priority.ERROR: "ffc700",
    Priority.WARNING: "ffff00",
    Priority.NOTICE: "5bffb5",
    Priority.INFORMATIONAL: "68c2ff",
    Priority.DEBUG: "ccfff2",
}


def color(priority: Priority) -> str:
    """The priority's colour as `#rrggbb`."""
    return "#" + _COLORS[priority]


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def summary_fields(alert: Alert) -> list[tuple[str, str]]:
    """(title, value) pairs shown by chat outputs: rule, priority, source, host, tags, fields."""
    pairs = [("rule", alert.rule), ("priority", alert.priority.label)]
    if alert.source:
        pairs.append(("source", alert.source))
    if alert.hostname:
        pairs.append(("hostname", alert.hostname))
    if alert.tags:
        pairs.append(("tags", ", ".join(sorted(alert.tags))))
    pairs.extend((k, _text(v)) for k, v in sorted(alert.output_fields.items()))
    return pairs


def template_root(alert: Alert) -> dict[str, Any]:
    """The `.` of messageformat templates, with Falcosidekick's field names."""
    return {
        "Rule": alert.rule,
        "Priority": alert.priority.label,
        "Output": alert.output,
        "Source": alert.source,
        "Hostname": alert.hostname,
        "Tags": alert.tags,
        "Time": alert.time,
        "OutputFields": alert.output_fields,
    }


def truncate(text: str, limit: int) -> str:
    """Cut `text` to `limit` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


CHAT_OPTIONS: dict[str, Opt] = {
    "webhookurl": Opt("str", ""),
    "outputformat": Opt("choice", "all", choices=("all", "text", "fields")),
    "messageformat": Opt("template"),
    "username": Opt("str", "Falcosidekick"),
    "icon": Opt("str", ICON),
    "footer": Opt("str", FOOTER),
}


class WebhookChat(HttpOutput):
    """Chat services reached by one webhook URL."""

    family = "chat"
    enable_key = "webhookurl"
    options: ClassVar[dict[str, Opt]] = CHAT_OPTIONS

    def url(self, alert: Alert) -> str:
        """The webhook URL."""
        return self.settings["webhookurl"]

    def message_text(self, alert: Alert) -> str:
        """The `messageformat` text, empty when none is configured."""
        tmpl: Template | None = self.settings.get("messageformat")
        return tmpl.render(template_root(alert)) if tmpl else ""


@register
class Slack(WebhookChat):
    """Slack incoming webhook: `text` plus one attachment with fields."""

    kind = "slack"
    options: ClassVar[dict[str, Opt]] = {**CHAT_OPTIONS, "channel": Opt("str", "")}

    def attachment(self, alert: Alert) -> dict[str, Any]:
        """The attachment, per Slack's legacy attachment fields."""
        fmt = self.settings["outputformat"]
        att: dict[str, Any] = {"fallback": alert.output, "color": color(alert.priority)}
        if fmt in ("all", "text"):
            att["text"] = alert.output
        if fmt in ("all", "fields"):
            att["fields"] = [
                {"title": k, "value": v, "short": len(v) < 36} for k, v in summary_fields(alert)
            ]
        att["footer"] = self.settings["footer"]
        att["ts"] = int(alert.timestamp.timestamp())
        return att

    def body(self, alert: Alert) -> dict[str, Any]:
        """The message."""
        msg: dict[str, Any] = {
            "text": self.message_text(alert),
            "username": self.settings["username"],
            "icon_url": self.settings["icon"],
            "attachments": [self.attachment(alert)],
        }
        if self.settings.get("channel"):
            msg["channel"] = self.settings["channel"]
        return msg


@register
class Mattermost(Slack):
    """Mattermost incoming webhook (Slack-compatible payload)."""

    kind = "mattermost"
    options: ClassVar[dict[str, Opt]] = CHAT_OPTIONS


@register
class RocketChat(WebhookChat):
    """Rocket.Chat incoming webhook: `text`, `alias`, `avatar`, attachments."""

    kind = "rocketchat"

    def body(self, alert: Alert) -> dict[str, Any]:
        """The message."""
        fmt = self.settings["outputformat"]
        att: dict[str, Any] = {"color": color(alert.priority)}
        if fmt in ("all", "text"):
            att["text"] = alert.output
        if fmt in ("all", "fields"):
            att["fields"] = [
                {"title": k, "value": v, "short": len(v) < 36} for k, v in summary_fields(alert)
            ]
        return {
            "text": self.message_text(alert),
            "alias": self.settings["username"],
            "avatar": self.settings["icon"],
            "attachments": [att],
        }


@register
class Teams(WebhookChat):
    """Microsoft Teams: an Office 365 connector MessageCard, or (`cardtype: adaptive`) an
    Adaptive Card message as Teams Workflows webhooks expect."""

    kind = "teams"
    options: ClassVar[dict[str, Opt]] = {
        "webhookurl": Opt("str", ""),
        "activityimage": Opt("str", ICON),
        "outputformat": Opt("choice", "all", choices=("all", "text", "facts")),
        "cardtype": Opt("choice", "messagecard", choices=("messagecard", "adaptive")),
    }

    def body(self, alert: Alert) -> dict[str, Any]:
        """The card."""
        if self.settings["cardtype"] == "adaptive":
            return self.adaptive(alert)
        fmt = self.settings["outputformat"]
        section: dict[str, Any] = {
            "activityTitle": "Lanner Sidekick",
            "activitySubtitle": alert.time,
            "activityImage": self.settings["activityimage"],
        }
        if fmt in ("all", "text"):
            section["text"] = alert.output
        if fmt in ("all", "facts"):
            section["facts"] = [{"name": k, "value": v} for k, v in summary_fields(alert)]
        return {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": truncate(alert.output or alert.rule, 200),
            "themeColor": color(alert.priority)[1:],
            "sections": [section],
        }

    def adaptive(self, alert: Alert) -> dict[str, Any]:
        """An Adaptive Card 1.4 in a `message` with one attachment."""
        fmt = self.settings["outputformat"]
        body: list[dict[str, Any]] = [
            {
                "type": "TextBlock",
                "text": f"{alert.priority.label}: {alert.rule}",
                "weight": "Bolder",
                "size": "Medium",
                "color": "Attention" if alert.priority.at_least(Priority.ERROR) else "Warning",
                "wrap": True,
            }
        ]
        if fmt in ("all", "text"):
            body.append({"type": "TextBlock", "text": alert.output, "wrap": True})
        if fmt in ("all", "facts"):
            facts = [{"title": k, "value": v} for k, v in summary_fields(alert)]
            body.append({"type": "FactSet", "facts": facts})
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": body,
        }
        return {
            "type": "message",
            "attachments": [
                {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
            ],
        }


@register
class Discord(WebhookChat):
    """Discord webhook: `content` and one embed; Discord's size limits are enforced."""

    kind = "discord"
    options: ClassVar[dict[str, Opt]] = {
        "webhookurl": Opt("str", ""),
        "icon": Opt("str", ICON),
        "username": Opt("str", "Falcosidekick"),
    }

    def body(self, alert: Alert) -> dict[str, Any]:
        """The execute-webhook payload."""
        fields = [
            {"name": truncate(k, 256), "value": truncate(v or "-", 1024), "inline": True}
            for k, v in summary_fields(alert)
        ][:25]
        embed = {
            "title": truncate(alert.rule, 256),
            "description": truncate(alert.output, 4096),
            "color": int(_COLORS[alert.priority], 16),
            "timestamp": alert.time,
            "fields": fields,
        }
        return {
            "content": truncate(f"{alert.priority.label}: {alert.rule}", 2000),
            "username": self.settings["username"],
            "avatar_url": self.settings["icon"],
            "embeds": [embed],
        }


@register
class GoogleChat(WebhookChat):
    """Google Chat incoming webhook: `text`, plus a cardsV2 card of fields when `all`."""

    kind = "googlechat"
    options: ClassVar[dict[str, Opt]] = {
        "webhookurl": Opt("str", ""),
        "outputformat": Opt("choice", "all", choices=("all", "text")),
        "messageformat": Opt("template"),
    }

    def body(self, alert: Alert) -> dict[str, Any]:
        """The message."""
        head = self.message_text(alert)
        msg: dict[str, Any] = {"text": f"{head}\n{alert.output}" if head else alert.output}
        if self.settings["outputformat"] == "all":
            widgets = [
                {"decoratedText": {"topLabel": k, "text": v}} for k, v in summary_fields(alert)
            ]
            msg["cardsV2"] = [
                {
                    "cardId": "lanner-alert",
                    "card": {
                        "header": {"title": alert.rule, "subtitle": alert.priority.label},
                        "sections": [{"widgets": widgets}],
                    },
                }
            ]
        return msg
