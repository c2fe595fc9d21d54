"""NATS input: subscribe to subjects carrying Falco alert JSON (e.g. from sidekick)."""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from lanner.exceptions import BodyError, Overloaded
from lanner.services.httpguard import loads
from lanner.services.respond.engine import Dispatcher

log = logging.getLogger("lanner.respond.nats")


@dataclass(frozen=True)
class NatsAuth:
    """How respond proves who it is to the NATS server, and how it checks the server."""

    token: str | None = None
    user: str | None = None
    password: str | None = None
    tls_ca: str | None = None  # CA bundle to verify the server (turns TLS on)
    tls_cert: str | None = None  # client certificate, when the server asks for one
    tls_key: str | None = None
    tls_hostname: str | None = None  # name expected in the server certificate

    def conflict(self) -> str | None:
        """Why these settings contradict each other, or None."""
        if self.token and (self.user or self.password):
            return "give a NATS token or a NATS user and password, not both"
        if bool(self.user) != bool(self.password):
            return "a NATS user needs a password (and a password a user)"
        if bool(self.tls_cert) != bool(self.tls_key):
            return "the NATS client certificate and key go together"
        return None

    def authenticated(self, url: str) -> bool:
        """True when credentials are set here or in the URL (nats://user:pass@host); a
        client certificate counts."""
        parts = urlsplit(url)
        return bool(self.token or self.user or parts.username or self.tls_cert)

    def tls_enabled(self, url: str) -> bool:
        """TLS is on with any TLS option or a tls:// URL."""
        return bool(self.tls_ca or self.tls_cert) or url.startswith("tls://")

    def connect_options(self, url: str) -> dict[str, Any]:
        """Keyword arguments for `nats.connect`."""
        options: dict[str, Any] = {}
        if self.token:
            options["token"] = self.token
        if self.user:
            options["user"] = self.user
            options["password"] = self.password
        if self.tls_enabled(url):
            context = ssl.create_default_context(cafile=self.tls_ca)
            if self.tls_cert:
                context.load_cert_chain(self.tls_cert, self.tls_key)
            options["tls"] = context
            if self.tls_hostname:
                options["tls_hostname"] = self.tls_hostname
        return options


def redact_url(url: str) -> str:
    """The URL without its user and password, for messages and logs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return parts._replace(netloc=f"***@{host}").geturl()


class NatsInput:
    """A background thread running an asyncio NATS subscriber that feeds the dispatcher."""

    def __init__(
        self,
        url: str,
        subjects: Sequence[str],
        dispatcher: Dispatcher,
        queue_group: str | None = None,
        connect_timeout: float = 10.0,
        auth: NatsAuth | None = None,
    ) -> None:
        self.url = url
        self.auth = auth or NatsAuth()
        self.subjects = list(subjects)
        self.dispatcher = dispatcher
        self.queue_group = queue_group or ""
        self.connect_timeout = connect_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    def start(self) -> None:
        """Connect and subscribe; raises if the first connection fails."""
        self._thread = threading.Thread(target=self._run, name="respond-nats", daemon=True)
        self._thread.start()
        self._ready.wait(self.connect_timeout + 5)
        if self._error is not None:
            where = redact_url(self.url)
            raise ConnectionError(f"NATS {where}: {self._error}") from self._error
        if not self._ready.is_set():
            raise ConnectionError(f"NATS {redact_url(self.url)}: not connected in time")

    def stop(self) -> None:
        """Drain the subscriptions and stop the thread."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._main())
        except BaseException as exc:  # surfaced to start()
            self._error = exc if str(exc) else TimeoutError("no connection within the timeout")
            self._ready.set()
        finally:
            self._loop.close()

    async def _main(self) -> None:
        import nats

        self._stop = asyncio.Event()

        errors: list[Exception] = []

        async def on_error(exc: Exception) -> None:
            errors.append(exc)
            log.warning("NATS error: %s", exc)

        # Reconnect forever once connected, but give up on a first connection that does
        # not come within the timeout, so a wrong URL is reported at start-up.
        try:
            nc = await asyncio.wait_for(
                nats.connect(
                    self.url,
                    connect_timeout=self.connect_timeout,
                    max_reconnect_attempts=-1,
                    allow_reconnect=True,
                    error_cb=on_error,
                    name="lanner-respond",
                    **self.auth.connect_options(self.url),
                ),
                timeout=self.connect_timeout,
            )
        except TimeoutError:
            # the server's own reason (e.g. 'Authorization Violation') beats a bare timeout
            if errors:
                raise errors[-1] from None
            raise
        for subject in self.subjects:
            await nc.subscribe(subject, queue=self.queue_group, cb=self._on_message)
        await nc.flush()
        log.info("subscribed to %s on %s", ", ".join(self.subjects), redact_url(self.url))
        self._ready.set()
        await self._stop.wait()
        await nc.drain()

    async def _on_message(self, msg: Any) -> None:
        try:
            payload = loads(msg.data)
        except BodyError as exc:
            self.dispatcher.responder.metrics.invalid.labels("nats").inc()
            log.warning("ignored a message on %s that is not JSON: %s", msg.subject, exc.reason)
            return
        try:
            self.dispatcher.submit(payload, "nats")
        except Overloaded as exc:
            log.error("dropped an alert from %s: %s", msg.subject, exc)
        except ValueError as exc:
            log.warning("ignored a message on %s that is not a Falco alert: %s", msg.subject, exc)
