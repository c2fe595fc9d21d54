"""Google Security Operations (Chronicle) output: each alert imported as an unstructured
log through the Chronicle API (`v1beta ... /logTypes/<logtype>/logs:import`), with an OAuth
access token from google-auth (the `gcp.credentials` service account, else Application
Default Credentials)."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from datetime import UTC, datetime
from typing import Any, ClassVar

from lanner.exceptions import DeliveryError

from ..alert import Alert
from ..schema import Opt
from .base import HttpOutput, OutputContext, dumps, falco_payload, register
from .gcp import GCP_OPTIONS, service_account_info

_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$")  # safe in the API path
_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


def _rfc3339_seconds(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@register
class GcpChronicle(HttpOutput):
    """`POST https://chronicle.<region>.rep.googleapis.com/v1beta/projects/<projectid>/
    locations/<region>/instances/<instanceid>/logTypes/<logtype>/logs:import` with
    `{"inlineSource": {"logs": [{"data": base64(<event JSON>), "logEntryTime",
    "collectionTime"}]}}` (collectionTime after logEntryTime, as the API requires).
    `apiurl` (a Lanner extension) replaces the regional base URL."""

    kind = "gcpchronicle"
    family = "logs"
    section = "gcp.chronicle"
    enable_key = "projectid"
    shared_options = GCP_OPTIONS
    options: ClassVar[dict[str, Opt]] = {
        "projectid": Opt("str", ""),
        "region": Opt("str", ""),
        "instanceid": Opt("str", ""),
        "logtype": Opt("str", "FALCO_IDS"),
        "apiurl": Opt("str", ""),
    }

    def __init__(self, settings: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(settings, ctx)
        self._credentials: Any = None
        self._bearer = ""

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """Project, region and instance go together; names are path-safe."""
        if not settings["projectid"]:
            return None
        for key in ("region", "instanceid", "logtype", "projectid"):
            if not _NAME.match(settings[key]):
                return key, f"expected letters, digits, '_' or '-', got {settings[key]!r}"
        return super().validate(settings)

    def url(self, alert: Alert) -> str:
        """The import endpoint."""
        s = self.settings
        base = s["apiurl"].rstrip("/") or f"https://chronicle.{s['region']}.rep.googleapis.com"
        parent = f"projects/{s['projectid']}/locations/{s['region']}/instances/{s['instanceid']}"
        return f"{base}/v1beta/{parent}/logTypes/{s['logtype']}/logs:import"

    def body(self, alert: Alert) -> dict[str, Any]:
        """One inline log."""
        entry_time = alert.time_ns / 1e9
        now = time.time()
        collection = now if now > entry_time else entry_time + 1
        data = base64.b64encode(dumps(falco_payload(alert))).decode()
        log = {
            "data": data,
            "logEntryTime": _rfc3339_seconds(entry_time),
            "collectionTime": _rfc3339_seconds(collection),
        }
        return {"inlineSource": {"logs": [log]}}

    def _token(self) -> str:
        """A valid access token (refreshed when needed); runs in a thread."""
        import google.auth
        from google.auth.transport.requests import Request
        from google.oauth2 import service_account

        if self._credentials is None:
            info = service_account_info((self.settings.get("gcp") or {}).get("credentials", ""))
            if info is not None:
                self._credentials = service_account.Credentials.from_service_account_info(
                    info, scopes=_SCOPES
                )
            else:
                self._credentials, _ = google.auth.default(scopes=_SCOPES)
        if not self._credentials.valid:
            self._credentials.refresh(Request())
        return str(self._credentials.token)

    async def send(self, alert: Alert) -> None:
        """Get a token, then import the log."""
        try:
            token = await asyncio.to_thread(self._token)
        except (
            Exception
        ) as exc:  # google-auth's TransportError, RefreshError, DefaultCredentialsError
            raise DeliveryError(f"gcpchronicle: access token: {type(exc).__name__}: {exc}") from exc
        self._bearer = token
        await super().send(alert)

    def headers(self, alert: Alert) -> dict[str, str]:
        """The access token."""
        return {"Authorization": f"Bearer {self._bearer}"}
