"""http_output: POST each alert to a URL, with TLS options, retries and optional gzip."""

from __future__ import annotations

import gzip
import logging
import os
import ssl
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from lanner.app.config import parse_duration
from lanner.app.outputs.base import Message, Output
from lanner.app.outputs.registry import register
from lanner.exceptions import DeliveryError

if TYPE_CHECKING:  # imported when an output is built: httpx takes ~1 s to import
    import httpx

log = logging.getLogger("lanner.outputs")

RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_BACKOFF = 30.0


@dataclass(slots=True)
class HttpSettings:
    """Falco's http_output keys and Lanner's additions (headers, timeout, retries)."""

    url: str
    user_agent: str = "falcosecurity/falco"
    insecure: bool = False
    ca_cert: str = ""
    ca_bundle: str = ""
    ca_path: str = ""
    mtls: bool = False
    client_cert: str = ""
    client_key: str = ""
    echo: bool = False
    compress_uploads: bool = False
    keep_alive: bool = True
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = 10.0
    max_retries: int = 5
    retry_backoff: float = 0.5


def ssl_context(s: HttpSettings) -> ssl.SSLContext | bool:
    """The verification context: system CAs plus ca_cert/ca_bundle/ca_path; mTLS cert."""
    if s.insecure:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx = ssl.create_default_context()
        for cafile in (s.ca_cert, s.ca_bundle):
            if cafile:
                ctx.load_verify_locations(cafile=cafile)
        if s.ca_path and os.path.isdir(s.ca_path):
            ctx.load_verify_locations(capath=s.ca_path)
    if s.mtls:
        ctx.load_cert_chain(s.client_cert, s.client_key or None)
    return ctx


@register
class HttpOutput(Output):
    """Posts one alert per request (``application/json`` with json_output, else text).

    Connection errors and 408/425/429/5xx answers are retried up to ``max_retries``
    times, waiting ``retry_backoff`` doubled each time (at most 30 s); an alert that is
    still refused counts as an output error.
    """

    name = "http"
    config_key = "http_output"

    @classmethod
    def from_config(
        cls, section: dict[str, Any], stdout: BinaryIO | None, **common: Any
    ) -> HttpOutput:
        h = section
        settings = HttpSettings(
            url=str(h.get("url", "")),
            user_agent=str(h.get("user_agent") or "falcosecurity/falco"),
            insecure=bool(h.get("insecure")),
            ca_cert=str(h.get("ca_cert") or ""),
            ca_bundle=str(h.get("ca_bundle") or ""),
            ca_path=str(h.get("ca_path") or ""),
            mtls=bool(h.get("mtls")),
            client_cert=str(h.get("client_cert") or ""),
            client_key=str(h.get("client_key") or ""),
            echo=bool(h.get("echo")),
            compress_uploads=bool(h.get("compress_uploads")),
            keep_alive=bool(h.get("keep_alive", True)),
            headers=dict(h.get("headers") or {}),
            timeout=parse_duration(h.get("timeout", "10s")),
            max_retries=max(0, int(h.get("max_retries", 5))),
            retry_backoff=parse_duration(h.get("retry_backoff", "500ms")),
        )
        return cls(settings, **common)

    def __init__(self, settings: HttpSettings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not settings.url:
            raise ValueError("http_output.url is empty")
        self.settings = settings
        headers = {"User-Agent": settings.user_agent, **settings.headers}
        if not settings.keep_alive:
            headers["Connection"] = "close"
        verify = ssl_context(settings) if settings.url.startswith("https:") else True
        import httpx

        self._client = httpx.Client(
            verify=verify, timeout=settings.timeout, headers=headers, follow_redirects=False
        )

    def _post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return self._client.post(self.settings.url, content=body, headers=headers)

    def write(self, msg: Message) -> None:
        s = self.settings
        headers = {"Content-Type": "application/json" if msg.is_json else "text/plain"}
        body = msg.line
        if s.compress_uploads:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        delay = s.retry_backoff
        import httpx  # loaded by __init__ already

        problem = ""
        for attempt in range(s.max_retries + 1):
            if attempt:
                self.stats.retries += 1
                if self.stopping.wait(delay):
                    break
                delay = min(delay * 2, MAX_BACKOFF)
            try:
                resp = self._post(body, headers)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if resp.is_success:
                if s.echo:
                    sys.stdout.write(resp.text + "\n")
                    sys.stdout.flush()
                return
            problem = f"HTTP {resp.status_code} from {s.url}: {resp.text[:200]!r}"
            if resp.status_code not in RETRY_STATUS:
                raise DeliveryError(problem)
        raise DeliveryError(f"gave up after {s.max_retries + 1} attempt(s): {problem}")

    def shutdown(self) -> None:
        self._client.close()
