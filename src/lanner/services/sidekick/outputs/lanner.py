"""Lanner's own services: the UI's event store and the response engine."""

from __future__ import annotations

from typing import Any, ClassVar

from ..alert import Alert
from ..schema import Opt
from .base import HttpOutput, register


class _LannerService(HttpOutput):
    family = "lanner"
    enable_key = "address"
    path: ClassVar[str] = ""
    options: ClassVar[dict[str, Opt]] = {
        "address": Opt("str", ""),
        "token": Opt("str", "", secret=True),
    }

    def url(self, alert: Alert) -> str:
        """address + the service's ingest path."""
        return self.settings["address"].rstrip("/") + self.path

    def headers(self, alert: Alert) -> dict[str, str]:
        """Bearer token when set."""
        return (
            {"Authorization": f"Bearer {self.settings['token']}"} if self.settings["token"] else {}
        )

    def body(self, alert: Alert) -> dict[str, Any]:
        """The alert, unchanged (the contract)."""
        return alert.to_dict()


@register
class LannerUI(_LannerService):
    """`lanner ui`: `POST <address>/api/v1/events`."""

    kind = "lannerui"
    path = "/api/v1/events"


@register
class LannerRespond(_LannerService):
    """`lanner respond`: `POST <address>/` with the alert."""

    kind = "lannerrespond"
    path = "/"
