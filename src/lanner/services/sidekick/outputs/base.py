"""The output contract: options, enablement, and how a delivery succeeds or fails."""

from __future__ import annotations

import logging
import os
import re
import ssl
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
import orjson

from lanner.exceptions import DeliveryError, PermanentError

from ..alert import Alert, Priority
from ..httpclient import HttpClient, Response
from ..schema import Opt

log = logging.getLogger("lanner.sidekick")

OUTPUTS: dict[str, type[Output]] = {}

COMMON_OPTIONS: dict[str, Opt] = {"minimumpriority": Opt("priority")}
MAX_CONCURRENCY = 256  # what `maxconcurrentrequests: 0` (Falcosidekick: unlimited) means here
HTTP_OPTIONS: dict[str, Opt] = {
    "checkcert": Opt("bool", True),
    "mutualtls": Opt("bool", False),
    "customheaders": Opt("map"),
    # unset: delivery.concurrency; 0: MAX_CONCURRENCY (Falcosidekick's "unlimited")
    "maxconcurrentrequests": Opt("int", None, minimum=0, maximum=65535),
}

_SLUG = re.compile(r"[^a-z0-9]+")
_HTTP_URL = re.compile(r"^https?://[^/\s:]+(:\d+)?(/\S*)?$", re.IGNORECASE)
PROXY_ENV = frozenset({"http_proxy", "https_proxy", "all_proxy"})  # httpx honours these
URL_KEYS = frozenset({"webhookurl", "hostport", "address", "apiurl", "gatewayaddress"})


def slug(text: str) -> str:
    """Lower-case `text` with runs of other characters as `_` (NATS subjects, metric names)."""
    return _SLUG.sub("_", text.lower()).strip("_")


def label_name(text: str) -> str:
    """A Prometheus/Loki-safe label name from a field name (`k8s.ns.name` → `k8s_ns_name`)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", text)
    return f"_{name}" if name[:1].isdigit() else name


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds form only), capped at 10 minutes."""
    if value and value.strip().isdigit():
        return min(float(value.strip()), 600.0)
    return None


def register(cls: type[Output]) -> type[Output]:
    """Class decorator adding an output to the registry under its `kind`."""
    OUTPUTS[cls.kind] = cls
    return cls


@dataclass
class OutputContext:
    """What outputs share: TLS client material, timeouts, the metrics registry, debug."""

    timeout: float = 10.0
    debug: bool = False
    client_cert: tuple[str, str] | None = None
    client_ca: str = ""
    extra_ca: str = ""
    hostname: str = ""
    registry: Any = None
    customfields: dict[str, str] = field(default_factory=dict)
    templatedfields: list[str] = field(default_factory=list)
    enabled: list[str] = field(default_factory=list)  # the enabled outputs' kinds

    def ssl_context(self, checkcert: bool, mutualtls: bool) -> ssl.SSLContext:
        """The client TLS context: system CAs + tlsclient CA, client cert when mutualtls."""
        ctx = ssl.create_default_context()
        if self.extra_ca:
            ctx.load_verify_locations(self.extra_ca)
        if mutualtls:
            if self.client_ca:
                ctx.load_verify_locations(self.client_ca)
            if self.client_cert:
                ctx.load_cert_chain(*self.client_cert)
        elif not checkcert:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def http_client(self, checkcert: bool = True, mutualtls: bool = False) -> httpx.AsyncClient:
        """A pooled HTTP client for one output."""
        return httpx.AsyncClient(
            timeout=self.timeout,
            verify=self.ssl_context(checkcert, mutualtls),
            headers={"User-Agent": "lanner-sidekick"},
        )


class Output(ABC):
    """One destination. Subclasses set `kind`, `family`, `enable_key` and `options`."""

    kind: ClassVar[str]
    family: ClassVar[str]
    enable_key: ClassVar[str | None]
    options: ClassVar[dict[str, Opt]] = {}
    # Where the options live when not in a top-level section named `kind`: a dotted path
    # such as `aws.sqs` (Falcosidekick's nesting; env AWS_SQS_URL). The parent section
    # (`aws`) holds `shared_options`, which the output reads as `settings[<parent>]`.
    section: ClassVar[str] = ""
    shared_options: ClassVar[dict[str, Opt]] = {}

    def __init__(self, settings: dict[str, Any], ctx: OutputContext) -> None:
        self.settings = settings
        self.ctx = ctx
        self.minimum: Priority | None = settings.get("minimumpriority")

    @classmethod
    def all_options(cls) -> dict[str, Opt]:
        """The output's own options plus the common ones."""
        return {**COMMON_OPTIONS, **cls.options}

    @classmethod
    def config_path(cls) -> str:
        """The dotted key path of the output's section (`slack`, `aws.sqs`)."""
        return cls.section or cls.kind

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """Cross-option checks: return (key, reason) for a bad setting, else None."""
        return None

    def concurrency(self, default: int) -> int:
        """Deliveries in flight for this output: its `maxconcurrentrequests` when set (0 =
        MAX_CONCURRENCY), else `default` (delivery.concurrency)."""
        value = self.settings.get("maxconcurrentrequests")
        if value is None:
            return default
        return MAX_CONCURRENCY if value == 0 else min(value, MAX_CONCURRENCY)

    def accepts(self, alert: Alert) -> bool:
        """Whether the alert reaches this output's minimum priority."""
        return self.minimum is None or alert.priority.at_least(self.minimum)

    async def start(self) -> None:  # noqa: B027 (optional hook)
        """Open connections; failures here are not fatal (send retries)."""

    def bounded(self) -> bool:
        """Whether `send` gives up by itself within the delivery timeout; the worker then
        sets no timer of its own around it (one timer less per alert)."""
        return False

    max_batch: ClassVar[int] = 1  # above 1: the worker hands waiting alerts to send_batch
    # seconds the worker lets a batch fill after its first alert (0: only what waits)
    batch_window: float = 0.0

    @abstractmethod
    async def send(self, alert: Alert) -> None:
        """Deliver one alert or raise DeliveryError / PermanentError."""

    async def send_batch(self, alerts: list[Alert]) -> list[Alert]:
        """Deliver several alerts in one request where the target takes batches; raise
        DeliveryError (the batch is retried) or PermanentError (each alert is then sent
        alone), or return the alerts the target refused one by one (each then sent alone).
        This default batches nothing: every alert goes through `send`."""
        return alerts

    async def close(self) -> None:  # noqa: B027 (optional hook)
        """Release connections."""


def alert_uuid(alert: Alert) -> str:
    """The alert's `uuid` as received, else one derived from its content: Falcosidekick
    gives every event a UUID; deriving it keeps it the same when a delivery is retried."""
    given = alert.raw.get("uuid")
    if isinstance(given, str) and given:
        return given
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "lanner-alert:" + alert.json().decode()))


def falco_payload(alert: Alert) -> dict[str, Any]:
    """The alert as Falcosidekick relays it (its FalcoPayload): Falco's fields plus `uuid`."""
    return {"uuid": alert_uuid(alert), **alert.to_dict()}


def dumps(obj: Any) -> bytes:
    """JSON-encode for the wire."""
    return orjson.dumps(obj)


class HttpOutput(Output):
    """An output that makes one HTTP request per alert."""

    options: ClassVar[dict[str, Opt]] = {}
    method: ClassVar[str] = "POST"

    def __init__(self, settings: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(settings, ctx)
        self._client: httpx.AsyncClient | None = None
        self._fast: HttpClient | None = None
        self._auth_header: dict[str, str] | None = None  # None: not worked out yet
        self._use_httpx = False

    @classmethod
    def all_options(cls) -> dict[str, Opt]:
        """HTTP outputs also take checkcert, mutualtls and customheaders."""
        return {**COMMON_OPTIONS, **HTTP_OPTIONS, **cls.options}

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """URL-valued keys must be absolute http(s) URLs."""
        for key in URL_KEYS & settings.keys():
            value = settings[key]
            if value and not _HTTP_URL.match(value):
                return key, f"expected an http:// or https:// URL, got {value!r}"
        return None

    @property
    def client(self) -> httpx.AsyncClient:
        """The output's httpx client, made on first use (proxies, non-basic authentication)."""
        if self._client is None:
            self._client = self.ctx.http_client(
                self.settings.get("checkcert", True), self.settings.get("mutualtls", False)
            )
        return self._client

    @property
    def fast_client(self) -> HttpClient:
        """The output's lean keep-alive client, made on first use."""
        if self._fast is None:
            self._fast = HttpClient(
                self.ctx.timeout,
                self.ctx.ssl_context(
                    self.settings.get("checkcert", True), self.settings.get("mutualtls", False)
                ),
                headers={"User-Agent": "lanner-sidekick"},
            )
        return self._fast

    def bounded(self) -> bool:
        """True when `send` is this class's one request through the lean client, whose
        deadline is the delivery timeout."""
        cls = type(self)
        return (
            cls.send is HttpOutput.send
            and cls.request is HttpOutput.request
            and self._plain_auth() is not None
        )

    def _plain_auth(self) -> dict[str, str] | None:
        """The Authorization header when auth() is basic (`{}` when none): the lean client
        sends it; None when requests go through httpx (a proxy is set in the environment,
        or an authentication that needs a round trip). Worked out once."""
        if self._auth_header is None and not self._use_httpx:
            auth = self.auth()
            if PROXY_ENV & {k.lower() for k, v in os.environ.items() if v}:
                self._use_httpx = True
            elif auth is None:
                self._auth_header = {}
            elif isinstance(auth, httpx.BasicAuth):
                flow = auth.sync_auth_flow(httpx.Request("POST", "http://localhost/"))
                self._auth_header = {"Authorization": next(flow).headers["Authorization"]}
            else:
                self._use_httpx = True
        return self._auth_header

    @abstractmethod
    def url(self, alert: Alert) -> str:
        """Where to send the alert."""

    @abstractmethod
    def body(self, alert: Alert) -> Any:
        """The JSON document to send (or `bytes` with `content_type`)."""

    content_type: ClassVar[str] = "application/json"

    def headers(self, alert: Alert) -> dict[str, str]:
        """Extra request headers; customheaders are added after these."""
        return {}

    def auth(self) -> httpx.Auth | None:
        """Request authentication, if any."""
        return None

    async def send(self, alert: Alert) -> None:
        """POST the body; 2xx is success, 408/429/5xx and network errors retry."""
        body = self.body(alert)
        content = body if isinstance(body, bytes) else dumps(body)
        headers = {"Content-Type": self.content_type, **self.headers(alert)}
        headers.update(self.settings.get("customheaders") or {})
        if self.ctx.debug:
            log.info("%s: payload %s", self.kind, content[:2000].decode(errors="replace"))
        response = await self.request(self.method_for(), self.url(alert), content, headers)
        self.check(response)

    async def request(
        self, method: str, url: str, content: bytes, headers: dict[str, str]
    ) -> httpx.Response | Response:
        """One request through the lean client (httpx when _plain_auth says so); network
        and protocol failures raise DeliveryError."""
        auth = self._plain_auth()
        try:
            if auth is None:
                return await self.client.request(
                    method, url, content=content, headers=headers, auth=self.auth()
                )
            if auth:
                headers = {**headers, **auth}
            return await self.fast_client.request(method, url, content, headers)
        except ValueError as exc:  # a header with a line break, a URL that is not http(s)
            raise PermanentError(f"{type(exc).__name__}: {exc}") from exc
        except (httpx.HTTPError, OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
            raise DeliveryError(f"{type(exc).__name__}: {exc}" if str(exc) else repr(exc)) from exc

    def check(self, response: httpx.Response | Response) -> None:
        """2xx is success; 408/425/429/5xx raise DeliveryError (retried), others
        PermanentError."""
        status = response.status_code
        if 200 <= status < 300:
            return
        detail = f"HTTP {status}: {response.text[:200]}"
        if status in (408, 425, 429) or status >= 500:
            raise DeliveryError(detail, retry_after_seconds(response.headers.get("retry-after")))
        raise PermanentError(detail)

    def method_for(self) -> str:
        """The HTTP method."""
        return self.method

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._fast is not None:
            await self._fast.aclose()
            self._fast = None
