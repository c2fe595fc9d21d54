"""Google Cloud outputs: Pub/Sub, Cloud Storage and Cloud Functions through Google's
clients, Cloud Run through HTTP with the configured JWT.

Falcosidekick's keys: `gcp.credentials` (a service account's JSON key file, base64) shared,
then `gcp.pubsub.{projectid,topic,customattributes}`, `gcp.storage.{bucket,prefix}`,
`gcp.cloudfunctions.name`, `gcp.cloudrun.{endpoint,jwt}`. Without credentials the clients
use Application Default Credentials; `PUBSUB_EMULATOR_HOST` and `STORAGE_EMULATOR_HOST`
point them at an emulator, as Google's clients do. The clients' own retries are off: the
delivery worker retries.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from typing import Any, ClassVar

from lanner.exceptions import DeliveryError, PermanentError

from ..alert import Alert
from ..schema import Opt
from .aws import rfc3339_nano
from .base import HttpOutput, Output, OutputContext, dumps, falco_payload, register

GCP_OPTIONS: dict[str, Opt] = {"credentials": Opt("str", "", secret=True)}

# Environment variables Google's clients read themselves (not sidekick configuration keys).
SDK_ENV = ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "PUBSUB_EMULATOR_HOST",
           "STORAGE_EMULATOR_HOST")  # fmt: skip


def service_account_info(encoded: str) -> dict[str, Any] | None:
    """The decoded `gcp.credentials` (base64 of a JSON key file), None when empty."""
    if not encoded:
        return None
    return dict(json.loads(base64.b64decode(encoded, validate=True)))


def gcp_error(kind: str, exc: Exception) -> DeliveryError:
    """DeliveryError (retried) for an unavailable, throttled or failing service; PermanentError
    for a request the service refuses as invalid."""
    from google.api_core import exceptions as gexc

    if isinstance(exc, gexc.InvalidArgument | gexc.RequestRangeNotSatisfiable):
        return PermanentError(f"{kind}: {exc}")
    return DeliveryError(f"{kind}: {type(exc).__name__}: {exc}")


class GcpOutput(Output):
    """An output using a Google Cloud client with the shared `gcp.credentials`."""

    shared_options = GCP_OPTIONS
    scopes: ClassVar[tuple[str, ...]] = ("https://www.googleapis.com/auth/cloud-platform",)

    def __init__(self, settings: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(settings, ctx)
        self.gcp: dict[str, Any] = settings.get("gcp") or {}
        self._client: Any = None

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """gcp.credentials, when set, must be base64 of a JSON object."""
        encoded = (settings.get("gcp") or {}).get("credentials", "")
        try:
            service_account_info(encoded)
        except (binascii.Error, ValueError) as exc:
            return "credentials", f"expected the base64 of a JSON key file ({exc})"
        return None

    def credentials(self) -> Any:
        """Service-account credentials from gcp.credentials, else None (the client's own)."""
        info = service_account_info(self.gcp.get("credentials", ""))
        if info is None:
            return None
        from google.oauth2 import service_account

        return service_account.Credentials.from_service_account_info(info, scopes=self.scopes)

    def make_client(self) -> Any:
        """The service client."""
        raise NotImplementedError

    def client(self) -> Any:
        """The client, made on first use (in the calling thread)."""
        if self._client is None:
            self._client = self.make_client()
        return self._client

    async def run(self, call: Any) -> Any:
        """Run `call(client)` in a thread; failures become DeliveryError."""
        try:
            return await asyncio.to_thread(lambda: call(self.client()))
        except DeliveryError:
            raise
        except Exception as exc:  # google-api-core raises GoogleAPIError and transport errors
            raise gcp_error(self.kind, exc) from exc


@register
class GcpPubSub(GcpOutput):
    """Publishes the event JSON to a Pub/Sub topic with `customattributes`."""

    kind = "gcppubsub"
    family = "queues"
    section = "gcp.pubsub"
    enable_key = "topic"
    scopes = ("https://www.googleapis.com/auth/pubsub",)
    options: ClassVar[dict[str, Opt]] = {
        "projectid": Opt("str", ""),
        "topic": Opt("str", ""),
        "customattributes": Opt("map"),
    }

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """A topic goes with its project."""
        if settings["topic"] and not settings["projectid"]:
            return "projectid", "required with gcp.pubsub.topic"
        return super().validate(settings)

    def make_client(self) -> Any:
        """A publisher that sends each message at once."""
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]

        batching = pubsub_v1.types.BatchSettings(max_messages=1)
        return pubsub_v1.PublisherClient(batching, credentials=self.credentials())

    async def send(self, alert: Alert) -> None:
        """Publish and wait for the message id."""

        def publish(client: Any) -> str:
            topic = client.topic_path(self.settings["projectid"], self.settings["topic"])
            future = client.publish(
                topic,
                dumps(falco_payload(alert)),
                retry=None,
                timeout=self.ctx.timeout,
                **self.settings["customattributes"],
            )
            return str(future.result(timeout=self.ctx.timeout))

        await self.run(publish)


@register
class GcpStorage(GcpOutput):
    """Stores each event as `<prefix>/<YYYY-MM-DD>/<RFC3339Nano>.json` in a bucket."""

    kind = "gcpstorage"
    family = "storage"
    section = "gcp.storage"
    enable_key = "bucket"
    scopes = ("https://www.googleapis.com/auth/devstorage.read_write",)
    options: ClassVar[dict[str, Opt]] = {"bucket": Opt("str", ""), "prefix": Opt("str", "")}

    def make_client(self) -> Any:
        """A storage client (anonymous against STORAGE_EMULATOR_HOST)."""
        from google.cloud import storage  # type: ignore[attr-defined]

        creds = self.credentials()
        if creds is None:
            return storage.Client()
        return storage.Client(credentials=creds, project=creds.project_id)

    def key(self, now_ns: int) -> str:
        """The object name (Falcosidekick's layout; an empty prefix leaves a leading `/`)."""
        stamp = rfc3339_nano(now_ns)
        return f"{self.settings['prefix']}/{stamp[:10]}/{stamp}.json"

    async def send(self, alert: Alert) -> None:
        """Upload the object."""
        data = dumps(falco_payload(alert))
        name = self.key(time.time_ns())

        def upload(client: Any) -> None:
            blob = client.bucket(self.settings["bucket"]).blob(name)
            blob.upload_from_string(
                data, content_type="application/json", timeout=self.ctx.timeout, retry=None
            )

        await self.run(upload)


@register
class GcpCloudFunctions(GcpOutput):
    """Calls a Cloud Function (CallFunction, `name` = its full resource name) with the
    event JSON as data; an error the function returns is retried like an HTTP 5xx."""

    kind = "gcpcloudfunctions"
    family = "faas"
    section = "gcp.cloudfunctions"
    enable_key = "name"
    options: ClassVar[dict[str, Opt]] = {"name": Opt("str", "")}

    def make_client(self) -> Any:
        """A Cloud Functions v1 client."""
        from google.cloud import functions_v1

        return functions_v1.CloudFunctionsServiceClient(credentials=self.credentials())

    async def send(self, alert: Alert) -> None:
        """CallFunction."""
        data = dumps(falco_payload(alert)).decode()

        def call(client: Any) -> Any:
            return client.call_function(
                name=self.settings["name"], data=data, retry=None, timeout=self.ctx.timeout
            )

        reply = await self.run(call)
        if reply.error:
            raise DeliveryError(f"gcpcloudfunctions: function error: {reply.error[:200]}")


@register
class GcpCloudRun(HttpOutput):
    """POSTs the event JSON to a Cloud Run service, `jwt` as a Bearer token."""

    kind = "gcpcloudrun"
    family = "faas"
    section = "gcp.cloudrun"
    enable_key = "endpoint"
    shared_options = GCP_OPTIONS
    options: ClassVar[dict[str, Opt]] = {
        "endpoint": Opt("str", ""),
        "jwt": Opt("str", "", secret=True),
    }

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """endpoint is an http(s) URL."""
        endpoint = settings["endpoint"]
        if endpoint and not endpoint.lower().startswith(("http://", "https://")):
            return "endpoint", f"expected an http:// or https:// URL, got {endpoint!r}"
        return None

    def url(self, alert: Alert) -> str:
        """The service URL."""
        return str(self.settings["endpoint"])

    def body(self, alert: Alert) -> Any:
        """The event JSON."""
        return falco_payload(alert)

    def headers(self, alert: Alert) -> dict[str, str]:
        """`Authorization: Bearer <jwt>` when set."""
        jwt = self.settings["jwt"]
        return {"Authorization": f"Bearer {jwt}"} if jwt else {}
