"""Message outputs beyond the chat webhooks: Webex, Zoho Cliq, Telegram, Gotify.

Payloads follow each service's published API and Falcosidekick's choices of content, so a
channel fed by Falcosidekick looks the same when fed by Lanner.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from ..alert import Alert, Priority
from ..schema import Opt
from .base import HttpOutput, dumps, falco_payload, register
from .chat import ICON, WebhookChat


def _value(value: Any) -> str:
    return "" if value is None else str(value)


def _sorted_fields(alert: Alert) -> list[tuple[str, str]]:
    return [(k, _value(v)) for k, v in sorted(alert.output_fields.items())]


@register
class Webex(WebhookChat):
    """Webex incoming webhook: one `markdown` message (rule, output, host, source, priority,
    tags, fields)."""

    kind = "webex"
    options: ClassVar[dict[str, Opt]] = {"webhookurl": Opt("str", "")}

    def body(self, alert: Alert) -> dict[str, Any]:
        """`{"markdown": ...}` as Webex's incoming webhooks take it."""
        lines = [
            f"# Falco Rule '{alert.rule}'",
            f"### {alert.output}",
            "Additional informations:",
            f"  * Hostname: {alert.hostname}",
            f"  * Source:   {alert.source}",
            f"  * Priority: {alert.priority.label}",
            "  * Tags:",
            *(f"    * {t}" for t in sorted(alert.tags)),
            "  * Fields:",
            *(f"    * {k}: {v}" for k, v in _sorted_fields(alert)),
        ]
        return {"markdown": "\n".join(lines) + "\n"}


_CLIQ_EMOJI = {
    Priority.EMERGENCY: "\U0001f6a8",
    Priority.ALERT: "\U0001f7e0",
    Priority.CRITICAL: "\U0001f7e0",
    Priority.ERROR: "\U0001f6a8",
    Priority.WARNING: "\U0001f7e1",
    Priority.NOTICE: "\U0001f535",
    Priority.INFORMATIONAL: "\U0001f7e2",
    Priority.DEBUG: "\u26aa",
}


@register
class Cliq(WebhookChat):
    """Zoho Cliq message (channel webhook with `zapikey`): `text`, a `bot`, and slides: the
    output as a text slide (with `messageformat`) and a field/value table slide."""

    kind = "cliq"
    options: ClassVar[dict[str, Opt]] = {
        "webhookurl": Opt("str", ""),
        "icon": Opt("str", ICON),
        "outputformat": Opt("choice", "all", choices=("all", "text", "fields")),
        "messageformat": Opt("template"),
        "useemoji": Opt("bool", False),
    }

    def body(self, alert: Alert) -> dict[str, Any]:
        """The Cliq message object."""
        fmt = self.settings["outputformat"]
        slides: list[dict[str, Any]] = []
        text = self.message_text(alert)
        if text and fmt in ("all", "text"):
            slides.append({"type": "text", "data": alert.output})
        text = text or alert.output
        if fmt in ("all", "fields"):
            rows = [{"field": "rule", "value": alert.rule}]
            rows.append({"field": "priority", "value": alert.priority.label})
            if alert.hostname:
                rows.append({"field": "hostname", "value": alert.hostname})
            rows += [{"field": k, "value": v} for k, v in _sorted_fields(alert)]
            rows.append({"field": "time", "value": alert.time})
            slides.append({"type": "table", "data": {"headers": ["field", "value"], "rows": rows}})
        if self.settings["useemoji"]:
            text = f"{_CLIQ_EMOJI[alert.priority]} {text}"
        msg: dict[str, Any] = {
            "text": text,
            "bot": {"name": "Falcosidekick", "image": self.settings["icon"] or ICON},
        }
        if slides:
            msg["slides"] = slides
        return msg


_MARKDOWN_V2 = re.compile(r"([_*\[\]()~`>#+\-=|{}.!\\])")


def markdown_v2(text: Any) -> str:
    """Escape text for Telegram's MarkdownV2 (every reserved character gets a backslash)."""
    return _MARKDOWN_V2.sub(r"\\\1", _value(text))


@register
class Telegram(HttpOutput):
    """Telegram Bot API `sendMessage` to `chatid` (and `messagethreadid`), MarkdownV2."""

    kind = "telegram"
    family = "chat"
    enable_key = "token"
    options: ClassVar[dict[str, Opt]] = {
        "host": Opt("str", "https://api.telegram.org"),
        "token": Opt("str", "", secret=True),
        "chatid": Opt("str", ""),
        "messagethreadid": Opt("str", ""),
    }

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """Token and chat id go together; host is a URL."""
        if bool(settings["token"]) != bool(settings["chatid"]):
            return ("chatid" if settings["token"] else "token"), "telegram needs token and chatid"
        if settings["token"] and not re.match(r"^https?://", settings["host"]):
            return "host", f"expected an http:// or https:// URL, got {settings['host']!r}"
        return None

    def url(self, alert: Alert) -> str:
        """`<host>/bot<token>/sendMessage`."""
        return f"{self.settings['host'].rstrip('/')}/bot{self.settings['token']}/sendMessage"

    def body(self, alert: Alert) -> dict[str, Any]:
        """The sendMessage parameters."""
        e = markdown_v2
        lines = [
            f"*\\[Falco\\] \\[{e(alert.priority.label)}\\] {e(alert.rule)}*",
            f"• *Time*: {e(alert.time)}",
            f"• *Source*: {e(alert.source)}",
            f"• *Hostname*: {e(alert.hostname)}",
            f"• *Tags*: {' '.join(e(t) for t in sorted(alert.tags))}",
            "• *Fields*:",
            *(f"\t  • *{e(k)}*: {e(v)}" for k, v in _sorted_fields(alert)),
            "",
            f"**Output**: {e(alert.output)}",
        ]
        msg: dict[str, Any] = {
            "text": "\n".join(lines) + "\n",
            "parse_mode": "MarkdownV2",
            "disable_web_page_preview": True,
            "chat_id": self.settings["chatid"],
        }
        if self.settings["messagethreadid"]:
            msg["message_thread_id"] = self.settings["messagethreadid"]
        return msg


@register
class Gotify(HttpOutput):
    """Gotify `POST /message` with the app token in `X-Gotify-Key`; `format` markdown
    (default), plaintext or json; Gotify priority = Falcosidekick's number (Warning 4);
    `extras.client::display.contentType` as Gotify documents it (`text/markdown`,
    `text/plain`)."""

    kind = "gotify"
    family = "chat"
    enable_key = "hostport"
    options: ClassVar[dict[str, Opt]] = {
        "hostport": Opt("str", ""),
        "token": Opt("str", "", secret=True),
        "format": Opt("choice", "markdown", choices=("markdown", "plaintext", "text", "json")),
    }

    def url(self, alert: Alert) -> str:
        """`<hostport>/message`."""
        return self.settings["hostport"].rstrip("/") + "/message"

    def headers(self, alert: Alert) -> dict[str, str]:
        """The application token."""
        token = self.settings["token"]
        return {"X-Gotify-Key": token} if token else {}

    def body(self, alert: Alert) -> dict[str, Any]:
        """Title, priority, message and the display content type in `extras`."""
        fmt = self.settings["format"]
        tags = "".join(f"{t} " for t in sorted(alert.tags))
        if fmt == "json":
            message, content_type = dumps(falco_payload(alert)).decode(), "text/plain"
        elif fmt in ("plaintext", "text"):
            content_type = "text/plain"
            message = "\n".join(
                [
                    f"Priority: {alert.priority.label}",
                    f"Rule: {alert.rule}",
                    f"Output: {alert.output}",
                    f"Source: {alert.source}",
                    f"Tags: {tags}",
                    f"Time: {alert.time}",
                    "Fields:",
                    *(f"- {k}: {v}" for k, v in _sorted_fields(alert)),
                ]
            )
        else:
            content_type = "text/markdown"
            message = "\n".join(
                [
                    f"- **Priority**: {alert.priority.label}",
                    f"- **Rule**: {alert.rule}",
                    f"- **Output**: {alert.output}",
                    f"- **Source**: {alert.source}",
                    f"- **Tags**: {tags}",
                    f"- **Time**: {alert.time}",
                    "- **Fields**:",
                    *(f"\t- **{k}**: {v}" for k, v in _sorted_fields(alert)),
                ]
            )
        return {
            "title": f"[Falco] [{alert.priority.label}] {alert.rule}",
            "priority": alert.priority.severity + 1,
            "message": message + "\n",
            "extras": {"client::display": {"contentType": content_type}},
        }
