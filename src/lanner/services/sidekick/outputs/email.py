"""SMTP email output: one message per alert, HTML with a text alternative, or text only."""

from __future__ import annotations

import asyncio
import html
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any, ClassVar

from lanner.exceptions import DeliveryError, PermanentError

from ..alert import Alert
from ..schema import Opt
from .base import Output, register
from .chat import color, summary_fields


@register
class Smtp(Output):
    """Sends through an SMTP server (STARTTLS when `tls`, AUTH PLAIN when a user is set)."""

    kind = "smtp"
    family = "email"
    enable_key = "hostport"
    options: ClassVar[dict[str, Opt]] = {
        "hostport": Opt("str", ""),
        "tls": Opt("bool", False),
        "authmechanism": Opt("choice", "plain", choices=("plain", "none")),
        "user": Opt("str", ""),
        "password": Opt("str", "", secret=True),
        "from": Opt("str", ""),
        "to": Opt("list"),
        "outputformat": Opt("choice", "html", choices=("html", "text")),
        "checkcert": Opt("bool", True),
    }

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """from and to are required, hostport is host:port."""
        if not settings["hostport"]:
            return None
        if not settings["from"]:
            return "from", "required when smtp.hostport is set"
        if not settings["to"]:
            return "to", "required when smtp.hostport is set"
        host, _, port = settings["hostport"].rpartition(":")
        if not host or not port.isdigit():
            return "hostport", f"expected host:port, got {settings['hostport']!r}"
        return None

    def message(self, alert: Alert) -> EmailMessage:
        """The email."""
        msg = EmailMessage()
        msg["Subject"] = f"[{alert.priority.label}] {alert.rule}"
        msg["From"] = self.settings["from"]
        msg["To"] = ", ".join(self.settings["to"])
        pairs = summary_fields(alert)
        text = alert.output + "\n\n" + "\n".join(f"{k}: {v}" for k, v in pairs) + "\n"
        msg.set_content(text)
        if self.settings["outputformat"] == "html":
            rows = "".join(
                f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                for k, v in pairs
            )
            msg.add_alternative(
                f"<html><body><p style='border-left:6px solid {color(alert.priority)};"
                f"padding-left:6px'>{html.escape(alert.output)}</p>"
                f"<table>{rows}</table></body></html>",
                subtype="html",
            )
        return msg

    def _send_sync(self, msg: EmailMessage) -> None:
        host, _, port = self.settings["hostport"].rpartition(":")
        with smtplib.SMTP(host, int(port), timeout=self.ctx.timeout) as smtp:
            if self.settings["tls"]:
                ctx = ssl.create_default_context()
                if not self.settings["checkcert"]:
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                smtp.starttls(context=ctx)
            if self.settings["authmechanism"] == "plain" and self.settings["user"]:
                smtp.login(self.settings["user"], self.settings["password"])
            smtp.send_message(msg)

    async def send(self, alert: Alert) -> None:
        """Send in a worker thread (smtplib blocks)."""
        try:
            await asyncio.to_thread(self._send_sync, self.message(alert))
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentError(f"smtp: recipients refused {exc.recipients}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"smtp: {exc!r}") from exc
