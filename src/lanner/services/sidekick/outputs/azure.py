"""Azure Event Hubs through Microsoft's client (azure-eventhub): the event JSON as one event.

Falcosidekick's keys: `azure.eventhub.name` (enables the output), `azure.eventhub.namespace`
(the namespace's host name, `<ns>.servicebus.windows.net`; a bare `<ns>` gets that suffix)
and `minimumpriority`; as there, the client authenticates with Azure's default credential
chain (azure-identity's DefaultAzureCredential: `AZURE_CLIENT_ID`/`AZURE_TENANT_ID`/
`AZURE_CLIENT_SECRET`, workload identity, managed identity, ...). Lanner adds
`azure.eventhub.connectionstring` (env `AZURE_EVENTHUB_CONNECTIONSTRING`): a namespace's
shared access connection string, used instead of that chain and of `namespace`; its
`UseDevelopmentEmulator=true` reaches Microsoft's Event Hubs emulator (plain AMQP).
`tlsclient.cacertfile`, when set, is the CA the namespace's TLS certificate is checked with;
Lanner's `azure.eventhub.endpoint` (`host:port`) is where to connect instead of the
namespace's host (a private endpoint or gateway; AMQP over TLS, the token still for
`namespace`).

One delivery sends one event (Falcosidekick sends each batch twice, a bug not copied). The
client's own retries are off: the delivery worker retries; an event the service refuses as
too large is dropped and counted.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

from lanner.exceptions import DeliveryError, PermanentError

from ..alert import Alert
from ..schema import Opt
from .base import Output, OutputContext, dumps, falco_payload, register

NAMESPACE_SUFFIX = ".servicebus.windows.net"


def namespace_host(namespace: str) -> str:
    """The fully qualified namespace (`ns` -> `ns.servicebus.windows.net`)."""
    host = namespace.strip().removeprefix("sb://").removeprefix("https://").rstrip("/")
    return host if "." in host or ":" in host else host + NAMESPACE_SUFFIX


@register
class AzureEventHub(Output):
    """Sends the event JSON to an Event Hub (the service picks the partition)."""

    kind = "azureeventhub"
    family = "queues"
    section = "azure.eventhub"
    enable_key = "name"
    options: ClassVar[dict[str, Opt]] = {
        "name": Opt("str", ""),
        "namespace": Opt("str", ""),
        "connectionstring": Opt("str", "", secret=True),
        "endpoint": Opt("str", ""),
    }

    def __init__(self, settings: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(settings, ctx)
        self._producer: Any = None
        self._credential: Any = None

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """A hub needs its namespace or a connection string; the string must parse."""
        if not settings["name"]:
            return None
        conn = settings["connectionstring"]
        if not conn and not settings["namespace"]:
            return "namespace", "required with azure.eventhub.name (or set connectionstring)"
        if conn:
            from azure.eventhub import parse_connection_string

            try:
                parse_connection_string(conn)
            except (ValueError, TypeError) as exc:
                return "connectionstring", f"not an Event Hubs connection string ({exc})"
        return None

    def _client(self) -> Any:
        """The producer, made on first use (and again after a failure)."""
        if self._producer is None:
            from azure.eventhub.aio import EventHubProducerClient

            s = self.settings
            common: dict[str, Any] = {"retry_total": 0, "auth_timeout": self.ctx.timeout}
            if self.ctx.extra_ca:  # tlsclient.cacertfile: the namespace's CA
                common["connection_verify"] = self.ctx.extra_ca
            if s["endpoint"]:  # AMQP over TLS to this address instead of the namespace's
                from azure.eventhub import TransportType

                common["custom_endpoint_address"] = s["endpoint"]
                common["transport_type"] = TransportType.Amqp
            if s["connectionstring"]:
                self._producer = EventHubProducerClient.from_connection_string(
                    s["connectionstring"], eventhub_name=s["name"], **common
                )
            else:
                from azure.identity.aio import DefaultAzureCredential

                self._credential = DefaultAzureCredential()
                self._producer = EventHubProducerClient(
                    fully_qualified_namespace=namespace_host(s["namespace"]),
                    eventhub_name=s["name"],
                    credential=self._credential,
                    **common,
                )
        return self._producer

    async def send(self, alert: Alert) -> None:
        """Send one event and wait for the service's acknowledgement."""
        from azure.eventhub import EventData
        from azure.eventhub.exceptions import EventDataError, EventHubError

        body = dumps(falco_payload(alert))
        try:
            await self._client().send_batch([EventData(body)], timeout=self.ctx.timeout)
        except (EventDataError, ValueError) as exc:  # too large, or refused as malformed
            raise PermanentError(f"azureeventhub: {exc}") from exc
        except (EventHubError, OSError, TimeoutError) as exc:
            await self._drop()
            raise DeliveryError(f"azureeventhub: {type(exc).__name__}: {exc}") from exc

    async def _drop(self) -> None:
        producer, self._producer = self._producer, None
        credential, self._credential = self._credential, None
        for closable in (producer, credential):
            if closable is not None:
                with contextlib.suppress(Exception):  # closing a broken client may fail
                    await closable.close()

    async def close(self) -> None:
        """Close the producer (and the credential)."""
        await self._drop()
