"""Webhook and function outputs: generic webhook, CloudEvents (Knative), OpenFaaS, Kubeless,
and a Kubeless-style function endpoint that receives `{"data": <alert>, ...}`."""

from __future__ import annotations

import logging
import uuid
from typing import Any, ClassVar

from ..alert import Alert
from ..schema import Opt
from .base import HttpOutput, register

log = logging.getLogger("lanner.sidekick")


def warn_kubeconfig(output: HttpOutput, address_key: str) -> None:
    """Falcosidekick reaches in-cluster services through the API server of `kubeconfig` when
    run outside the cluster; Lanner calls the service address (or `address_key`) directly."""
    if output.settings["kubeconfig"]:
        log.warning(
            "%s: kubeconfig is not used by Lanner; outside the cluster set %s.%s to the "
            "service's reachable URL",
            output.kind,
            output.kind,
            address_key,
        )


@register
class Webhook(HttpOutput):
    """POST (or PUT) the alert JSON, unchanged, to any URL."""

    kind = "webhook"
    family = "faas"
    enable_key = "address"
    options: ClassVar[dict[str, Opt]] = {
        "address": Opt("str", ""),
        "method": Opt("choice", "post", choices=("post", "put")),
    }

    def method_for(self) -> str:
        """POST or PUT."""
        return self.settings["method"].upper()

    def url(self, alert: Alert) -> str:
        """The address."""
        return self.settings["address"]

    def body(self, alert: Alert) -> bytes:
        """The alert (`Alert.json`: a queued alert's bytes, not encoded again)."""
        return alert.json()


@register
class CloudEvents(HttpOutput):
    """A CloudEvents 1.0 event in binary mode (Knative brokers/services consume these)."""

    kind = "cloudevents"
    family = "faas"
    enable_key = "address"
    options: ClassVar[dict[str, Opt]] = {
        "address": Opt("str", ""),
        "extensions": Opt("map"),
        "source": Opt("str", "lanner-sidekick"),
        "type": Opt("str", "falco.rule.output.v1"),
    }

    def url(self, alert: Alert) -> str:
        """The sink address."""
        return self.settings["address"]

    def headers(self, alert: Alert) -> dict[str, str]:
        """The `ce-` context attributes and extensions."""
        headers = {
            "ce-specversion": "1.0",
            "ce-id": str(uuid.uuid4()),
            "ce-source": self.settings["source"],
            "ce-type": self.settings["type"],
            "ce-time": alert.time,
        }
        if alert.hostname:
            headers["ce-subject"] = alert.hostname
        for key, value in self.settings["extensions"].items():
            headers[f"ce-{key.lower()}"] = value
        return headers

    def body(self, alert: Alert) -> dict[str, Any]:
        """The event data: the alert."""
        return alert.to_dict()


@register
class OpenFaaS(HttpOutput):
    """Invokes an OpenFaaS function through its gateway: `/function/<name>.<namespace>`."""

    kind = "openfaas"
    family = "faas"
    enable_key = "functionname"
    options: ClassVar[dict[str, Opt]] = {
        "functionname": Opt("str", ""),
        "functionnamespace": Opt("str", "openfaas-fn"),
        "gatewayservice": Opt("str", "gateway"),
        "gatewaynamespace": Opt("str", "openfaas"),
        "gatewayport": Opt("int", 8080, minimum=1, maximum=65535),
        "gatewayaddress": Opt("str", ""),
        "kubeconfig": Opt("str", ""),
    }

    async def start(self) -> None:
        """Say that kubeconfig is not used."""
        warn_kubeconfig(self, "gatewayaddress")

    def url(self, alert: Alert) -> str:
        """The in-cluster gateway URL, or gatewayaddress when set (outside the cluster)."""
        s = self.settings
        base = s["gatewayaddress"].rstrip("/") or (
            f"http://{s['gatewayservice']}.{s['gatewaynamespace']}:{s['gatewayport']}"
        )
        return f"{base}/function/{s['functionname']}.{s['functionnamespace']}"

    def body(self, alert: Alert) -> dict[str, Any]:
        """The alert."""
        return alert.to_dict()


def _event_headers(alert: Alert) -> dict[str, str]:
    return {
        "event-id": str(uuid.uuid4()),
        "event-type": "falco",
        "event-time": alert.time,
        "event-namespace": "lanner-sidekick",
    }


@register
class Kubeless(HttpOutput):
    """A Kubeless function's HTTP trigger: the alert as body, the event as headers."""

    kind = "kubeless"
    family = "faas"
    enable_key = "function"
    options: ClassVar[dict[str, Opt]] = {
        "function": Opt("str", ""),
        "namespace": Opt("str", "kubeless"),
        "port": Opt("int", 8080, minimum=1, maximum=65535),
        "address": Opt("str", ""),
        "kubeconfig": Opt("str", ""),
    }

    async def start(self) -> None:
        """Say that kubeconfig is not used."""
        warn_kubeconfig(self, "address")

    def url(self, alert: Alert) -> str:
        """The function's cluster service, or address when set."""
        s = self.settings
        return (
            s["address"] or f"http://{s['function']}.{s['namespace']}.svc.cluster.local:{s['port']}"
        )

    def headers(self, alert: Alert) -> dict[str, str]:
        """Kubeless event headers."""
        return _event_headers(alert)

    def body(self, alert: Alert) -> dict[str, Any]:
        """The alert."""
        return alert.to_dict()


@register
class Function(HttpOutput):
    """A plain function endpoint that takes the Kubeless event object as its JSON body:
    `{"data": <alert>, "event-id", "event-type", "event-time", "event-namespace"}`, so
    `handler(event, context)` functions read `event['data']['rule']` unchanged."""

    kind = "function"
    family = "faas"
    enable_key = "address"
    options: ClassVar[dict[str, Opt]] = {"address": Opt("str", "")}

    def url(self, alert: Alert) -> str:
        """The endpoint."""
        return self.settings["address"]

    def body(self, alert: Alert) -> dict[str, Any]:
        """The event envelope."""
        return {"data": alert.to_dict(), **_event_headers(alert)}
