"""Outputs that POST Falcosidekick's event JSON to a web endpoint: Node-RED, n8n, the
Falcosidekick WebUI, Falco Talon, Tekton EventListeners and Fission functions."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

import httpx

from ..alert import Alert
from ..schema import Opt
from .base import HttpOutput, OutputContext, falco_payload, register
from .faas import warn_kubeconfig


class EventPost(HttpOutput):
    """POST the alert as Falcosidekick relays it (its event JSON, with `uuid`)."""

    family = "web"
    enable_key = "address"

    def url(self, alert: Alert) -> str:
        """The configured address."""
        return self.settings[self.enable_key or "address"]

    def body(self, alert: Alert) -> Any:
        """The event."""
        return falco_payload(alert)


class BasicAuthPost(EventPost):
    """An EventPost with HTTP basic authentication when `user` and `password` are set."""

    def auth(self) -> httpx.Auth | None:
        """Basic authentication, when both are set (as Falcosidekick requires)."""
        user, password = self.settings["user"], self.settings["password"]
        return httpx.BasicAuth(user, password) if user and password else None


@register
class NodeRed(BasicAuthPost):
    """Node-RED `http in` node: the event JSON, basic auth, custom headers."""

    kind = "nodered"
    options: ClassVar[dict[str, Opt]] = {
        "address": Opt("str", ""),
        "user": Opt("str", ""),
        "password": Opt("str", "", secret=True),
    }


@register
class N8N(BasicAuthPost):
    """n8n Webhook node: the event JSON; basic auth and/or header auth (name and value)."""

    kind = "n8n"
    family = "workflow"
    options: ClassVar[dict[str, Opt]] = {
        "address": Opt("str", ""),
        "user": Opt("str", ""),
        "password": Opt("str", "", secret=True),
        "headerauthname": Opt("str", ""),
        "headerauthvalue": Opt("str", "", secret=True),
    }

    def headers(self, alert: Alert) -> dict[str, str]:
        """The header credential, when both name and value are set."""
        name, value = self.settings["headerauthname"], self.settings["headerauthvalue"]
        return {name: value} if name and value else {}


@register
class Talon(EventPost):
    """Falco Talon's webhook: the event JSON it matches its rules against."""

    kind = "talon"
    family = "response"
    options: ClassVar[dict[str, Opt]] = {"address": Opt("str", "")}


@register
class Tekton(EventPost):
    """A Tekton Triggers EventListener: the event JSON as the trigger body."""

    kind = "tekton"
    family = "faas"
    enable_key = "eventlistener"
    options: ClassVar[dict[str, Opt]] = {"eventlistener": Opt("str", "")}

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """The event listener is a URL."""
        value = settings["eventlistener"]
        if value and not value.lower().startswith(("http://", "https://")):
            return "eventlistener", f"expected an http:// or https:// URL, got {value!r}"
        return None


@register
class WebUI(HttpOutput):
    """Falcosidekick UI: `{"event": <event JSON>, "outputs": [<enabled outputs>]}` to `url`."""

    kind = "webui"
    family = "web"
    enable_key = "url"
    options: ClassVar[dict[str, Opt]] = {"url": Opt("str", "")}

    def __init__(self, settings: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(settings, ctx)
        self.enabled = list(ctx.enabled)

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """The URL is http(s)."""
        value = settings["url"]
        if value and not value.lower().startswith(("http://", "https://")):
            return "url", f"expected an http:// or https:// URL, got {value!r}"
        return None

    def url(self, alert: Alert) -> str:
        """The UI's URL."""
        return self.settings["url"]

    def body(self, alert: Alert) -> dict[str, Any]:
        """The event and the outputs it was sent to."""
        return {"event": falco_payload(alert), "outputs": self.enabled}


@register
class Fission(HttpOutput):
    """A Fission function through its router:
    `http://<routerservice>.<routernamespace>.svc.cluster.local:<routerport>/fission-function/<function>`
    (or `routeraddress`, a Lanner extension for outside the cluster), the event JSON as body
    and an `event-id` header."""

    kind = "fission"
    family = "faas"
    enable_key = "function"
    options: ClassVar[dict[str, Opt]] = {
        "function": Opt("str", ""),
        "functionnamespace": Opt("str", "fission-function"),
        "routernamespace": Opt("str", "fission"),
        "routerservice": Opt("str", "router"),
        "routerport": Opt("int", 80, minimum=1, maximum=65535),
        "routeraddress": Opt("str", ""),
        "kubeconfig": Opt("str", ""),
    }

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """routeraddress, when set, is a URL."""
        value = settings["routeraddress"]
        if value and not value.lower().startswith(("http://", "https://")):
            return "routeraddress", f"expected an http:// or https:// URL, got {value!r}"
        return None

    async def start(self) -> None:
        """Say that kubeconfig is not used."""
        warn_kubeconfig(self, "routeraddress")

    def url(self, alert: Alert) -> str:
        """The router URL of the function."""
        s = self.settings
        base = s["routeraddress"].rstrip("/") or (
            f"http://{s['routerservice']}.{s['routernamespace']}.svc.cluster.local:"
            f"{s['routerport']}"
        )
        return f"{base}/fission-function/{s['function']}"

    def headers(self, alert: Alert) -> dict[str, str]:
        """A fresh event id per request, as Falcosidekick sends."""
        return {"event-id": str(uuid.uuid4())}

    def body(self, alert: Alert) -> dict[str, Any]:
        """The event."""
        return falco_payload(alert)
