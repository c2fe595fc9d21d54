"""An HTTP(S) receiver for the kube-apiserver audit webhook backend.

Defaults are the k8saudit plugin's port 9765, path ``/k8s-audit`` and 12 MiB body
limit, bound to loopback (127.0.0.1) unless a host is given. A POST of one Event, an
EventList or an array of them answers 200 once all its events are handed on; bad input
answers 400 (413 when too large) with the reason as text, and the server keeps serving.

Back-pressure: events go to a bounded queue (drained by :meth:`AuditWebhook.events` or
:meth:`AuditWebhook.batches`) or to a callback. When the queue stays full for
``accept_wait`` seconds (or the callback raises :class:`Busy`) the request is answered
503 with ``Retry-After`` and none of its events is kept, so the API server's webhook
backend sends the batch again: an event answered 200 is never dropped by the webhook.
The callback runs on the request's handler thread, one per apiserver connection, so it
may be called from several threads at once.

With ``token`` set every request but ``GET /healthz`` and ``/readyz`` needs
``Authorization: Bearer <token>`` (401 otherwise).

>>> with AuditWebhook(port=9765) as hook:
...     for event in hook.events():
...         engine.process(event, "k8s_audit")
"""

from __future__ import annotations

import gzip
import hmac
import logging
import socket
import ssl
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import orjson

from lanner.exceptions import BadRequest, NotAuditEvent
from lanner.sources.json_source.event import JsonEvent
from lanner.sources.k8s_audit.payload import parse_payload

DEFAULT_PORT = 9765
DEFAULT_PATH = "/k8s-audit"
DEFAULT_HOST = "127.0.0.1"  # loopback unless the user opts into a wide bind
DEFAULT_MAX_BODY = 12 * 1024 * 1024  # the plugin's webhookMaxBatchSize
DEFAULT_QUEUE_EVENTS = 20_000  # events accepted but not yet taken by the consumer
DEFAULT_ACCEPT_WAIT = 2.0  # seconds a request waits for room before 503
RETRY_AFTER = 1  # seconds, in the Retry-After header of a 429/503
_POLL = 0.1  # seconds between checks for stop() while waiting for events
_LOG_EVERY = 10.0  # seconds between log lines of refused requests of one status
log = logging.getLogger("lanner.k8s_audit.webhook")

EventsCallback = Callable[[list[JsonEvent]], None]


class Busy(BadRequest):
    """The consumer cannot take the events now: 503 with Retry-After, nothing kept."""

    def __init__(self, reason: str = "busy, retry later") -> None:
        super().__init__(HTTPStatus.SERVICE_UNAVAILABLE, reason)


def bearer_ok(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <token>`` (constant time)."""
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def is_loopback(host: str) -> bool:
    """Whether a listen address reaches this machine only."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _BatchQueue:
    """Batches of events bounded by their total count; a batch is taken whole or not."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(capacity, 1)
        self.events = 0
        self.closed = False  # the consumer is gone: put refuses
        self._batches: deque[list[JsonEvent]] = deque()
        self._cond = threading.Condition()

    def put(self, batch: list[JsonEvent], timeout: float, stopped: Callable[[], bool]) -> bool:
        """Queue ``batch`` once there is room (a batch larger than the capacity waits for
        an empty queue); False after ``timeout`` s or once ``stopped()``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.events and self.events + len(batch) > self.capacity:
                left = deadline - time.monotonic()
                if left <= 0 or stopped() or self.closed:
                    return False
                self._cond.wait(min(left, _POLL))
            if self.closed:
                return False
            self._batches.append(batch)
            self.events += len(batch)
            self._cond.notify_all()
            return True

    def get(self, timeout: float) -> list[JsonEvent] | None:
        """The oldest batch, or None after ``timeout`` s without one."""
        with self._cond:
            if not self._batches:
                self._cond.wait(timeout)
                if not self._batches:
                    return None
            batch = self._batches.popleft()
            self.events -= len(batch)
            self._cond.notify_all()
            return batch

    def close(self) -> int:
        """Forget every queued batch and refuse new ones; the number of events forgotten."""
        with self._cond:
            self.closed = True
            n, self.events = self.events, 0
            self._batches.clear()
            self._cond.notify_all()
            return n

    def empty(self) -> bool:
        return not self._batches


class AuditWebhook:
    """The audit webhook server; :meth:`start` serves it from a background thread."""

    def __init__(
        self,
        on_events: EventsCallback | None = None,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        path: str = DEFAULT_PATH,
        certfile: str | None = None,
        keyfile: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY,
        queue_size: int = DEFAULT_QUEUE_EVENTS,
        accept_wait: float = DEFAULT_ACCEPT_WAIT,
        request_timeout: float = 30.0,
        token: str | None = None,
    ) -> None:
        self.host = host
        self.path = path if path.startswith("/") else "/" + path
        self.max_body_bytes = max_body_bytes
        self.request_timeout = request_timeout
        self.accept_wait = accept_wait
        self.token = token or None
        self._on_events = on_events
        self._queue = _BatchQueue(queue_size)
        self._tls: ssl.SSLContext | None = None
        if certfile:
            self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._tls.load_cert_chain(certfile, keyfile)  # keyfile None: key inside certfile
        self._requested_port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._next_num = 1
        self._stopped = False
        self.accepted = 0
        self.rejected_requests = 0
        self.busy_requests = 0  # answered 503: the sender retries, nothing was lost
        self.unauthorized_requests = 0
        self._refusal_log: dict[int, tuple[float, int]] = {}  # status -> (last line, skipped)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> AuditWebhook:
        """From the plugin's open parameters, e.g. ``http://:9765/k8s-audit`` (https: TLS).

        An empty host means loopback (Falco's plugin binds every interface there): a
        wide bind is written out, ``http://0.0.0.0:9765/k8s-audit``.
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"scheme {parts.scheme!r} is not supported (http or https)")
        if parts.scheme == "https" and not kwargs.get("certfile"):
            raise ValueError("https needs certfile (and keyfile, unless the key is inside it)")
        return cls(
            host=parts.hostname or DEFAULT_HOST,
            port=parts.port or DEFAULT_PORT,
            path=parts.path or DEFAULT_PATH,
            **kwargs,
        )

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port (useful with port 0), or the configured one before start."""
        return self._server.server_address[1] if self._server else self._requested_port

    @property
    def url(self) -> str:
        """The URL to POST to."""
        scheme = "https" if self._tls else "http"
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"{scheme}://{host}:{self.port}{self.path}"

    def start(self) -> None:
        """Bind and serve in a daemon thread."""
        if self._server is not None:
            return
        self._stopped = False
        self._queue.closed = False
        self._server = _Server((self.host, self._requested_port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="k8s-audit-webhook",
            daemon=True,
        )
        self._thread.start()
        log.info("k8s audit webhook listening on %s", self.url)

    def serve_forever(self) -> None:
        """Bind and serve in the calling thread until :meth:`stop`."""
        if self._server is None:
            self._server = _Server((self.host, self._requested_port), self)
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving; :meth:`events` ends once the queue is drained."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._stopped = True

    def __enter__(self) -> AuditWebhook:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- consuming ---------------------------------------------------------------------

    def batches(self, timeout: float | None = None) -> Iterator[list[JsonEvent]]:
        """Batches (one per request) as they arrive, until :meth:`stop` and the queue is
        drained (or ``timeout`` s without any)."""
        idle = 0.0
        while True:
            batch = self._queue.get(_POLL)
            if batch is None:
                idle += _POLL
                if (self._stopped and self._queue.empty()) or (
                    timeout is not None and idle >= timeout
                ):
                    return
                continue
            idle = 0.0
            yield batch

    def events(self, timeout: float | None = None) -> Iterator[JsonEvent]:
        """Events as they arrive, until :meth:`stop` (or ``timeout`` s without any)."""
        for batch in self.batches(timeout):
            yield from batch

    def discard_pending(self) -> int:
        """The consumer stopped: forget the queued events and answer 503 from now on
        (until :meth:`start`); their number, for the caller to count and log."""
        return self._queue.close()

    @property
    def pending(self) -> int:
        """Events accepted and not yet taken by the consumer."""
        return self._queue.events

    # -- request handling --------------------------------------------------------------

    def _log_refusal(self, status: int, reason: str, client: str) -> None:
        """Log a refused request; a flood of them logs one line per status every 10 s."""
        now = time.monotonic()
        with self._lock:
            last, skipped = self._refusal_log.get(status, (-_LOG_EVERY, 0))
            if now - last < _LOG_EVERY:
                self._refusal_log[status] = (last, skipped + 1)
                return
            self._refusal_log[status] = (now, 0)
        more = f" ({skipped} more {status} answer(s) since the last line)" if skipped else ""
        log.warning("k8s audit webhook: %d %s (from %s)%s", status, reason, client, more)

    def _stopping(self) -> bool:
        return self._stopped or self._server is None

    def _enqueue(self, batch: list[JsonEvent]) -> None:
        """Queue a request's events, all or none; :class:`Busy` when no room came."""
        if not self._queue.put(batch, self.accept_wait, self._stopping):
            stopping = self._stopping() or self._queue.closed
            raise Busy("shutting down" if stopping else "queue full, retry later")

    def handle_body(self, body: bytes) -> tuple[int, list[str]]:
        """Decode a request body and hand its events on: (accepted, rejected reasons)."""
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(HTTPStatus.BAD_REQUEST, f"invalid JSON: {exc}") from None
        try:
            parsed = parse_payload(value)
        except NotAuditEvent as exc:
            raise BadRequest(HTTPStatus.BAD_REQUEST, str(exc)) from None
        if not parsed.events and parsed.rejected:
            raise BadRequest(HTTPStatus.BAD_REQUEST, "; ".join(parsed.rejected[:10]))
        if parsed.events:
            with self._lock:
                for event in parsed.events:
                    event.num = self._next_num
                    self._next_num += 1
            try:
                if self._on_events is not None:
                    self._on_events(parsed.events)
                else:
                    self._enqueue(parsed.events)
            except Busy:
                with self._lock:
                    self.busy_requests += 1
                raise
            with self._lock:
                self.accepted += len(parsed.events)
        for reason in parsed.rejected:
            log.warning("k8s audit webhook: skipped %s", reason)
        return len(parsed.events), parsed.rejected


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # listen backlog: an apiserver burst opens many connections

    def __init__(self, address: tuple[str, int], hook: AuditWebhook) -> None:
        self.hook = hook
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "lanner-k8s-audit"

    def setup(self) -> None:
        hook = self.server.hook
        self.request.settimeout(hook.request_timeout)
        # answers are written as headers then body: without this, Nagle's algorithm and
        # the client's delayed ACK stall every keep-alive request by tens of milliseconds
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if hook._tls is not None:
            self.request = hook._tls.wrap_socket(self.request, server_side=True)
        super().setup()

    def handle(self) -> None:
        try:
            super().handle()
        except (ssl.SSLError, ConnectionError, TimeoutError) as exc:
            log.debug("k8s audit webhook: connection dropped: %s", exc)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _reply(self, status: HTTPStatus, body: bytes, ctype: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if status == HTTPStatus.METHOD_NOT_ALLOWED:
            self.send_header("Allow", "POST")
        if status in (HTTPStatus.SERVICE_UNAVAILABLE, HTTPStatus.TOO_MANY_REQUESTS):
            self.send_header("Retry-After", str(RETRY_AFTER))
        if status == HTTPStatus.UNAUTHORIZED:
            self.send_header("WWW-Authenticate", 'Bearer realm="lanner-k8s-audit"')
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _refuse(self, status: HTTPStatus, reason: str) -> None:
        hook = self.server.hook
        if status == HTTPStatus.SERVICE_UNAVAILABLE:
            log.debug("k8s audit webhook: %d %s", status, reason)  # counted, retried
        else:
            hook.rejected_requests += 1
            hook._log_refusal(int(status), reason, self.address_string())
        if status in (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, HTTPStatus.UNAUTHORIZED):
            self.close_connection = True  # the body was not read
        self._reply(status, f"{status.phrase.lower()}: {reason}\n".encode())

    def _authorized(self) -> bool:
        hook = self.server.hook
        if hook.token is None or bearer_ok(self.headers.get("Authorization"), hook.token):
            return True
        with hook._lock:
            hook.unauthorized_requests += 1
        self._refuse(HTTPStatus.UNAUTHORIZED, "missing or wrong bearer token")
        return False

    def do_GET(self) -> None:
        if urlsplit(self.path).path in ("/healthz", "/readyz"):
            self._reply(HTTPStatus.OK, b"ok\n")
            return
        if not self._authorized():
            return
        self._refuse(HTTPStatus.METHOD_NOT_ALLOWED, f"{self.command} method not allowed")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):  # any other method: 405 (401 without the token), not 501
            return self.do_GET
        raise AttributeError(name)

    def do_POST(self) -> None:
        hook = self.server.hook
        if not self._authorized():
            return  # the connection closes: the unread body does not matter
        try:
            body = self._read_body(hook.max_body_bytes)  # read even if refused: in step
            if urlsplit(self.path).path != hook.path:
                raise BadRequest(HTTPStatus.NOT_FOUND, f"no such endpoint {self.path[:200]}")
            if "application/json" not in self.headers.get("Content-Type", ""):
                raise BadRequest(
                    HTTPStatus.BAD_REQUEST, "wrong Content Type, want application/json"
                )
            accepted, rejected = hook.handle_body(body)
        except BadRequest as exc:
            self._refuse(HTTPStatus(exc.status), exc.reason)
            return
        except Exception as exc:  # a failing consumer: let the apiserver retry
            log.exception("k8s audit webhook: handling a request failed")
            self.close_connection = True
            self._reply(HTTPStatus.SERVICE_UNAVAILABLE, f"error: {exc}\n".encode())
            return
        reply = {"accepted": accepted, "rejected": rejected}
        self._reply(HTTPStatus.OK, orjson.dumps(reply) + b"\n", "application/json")

    def _read_body(self, limit: int) -> bytes:
        too_large = BadRequest(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"request body larger than {limit} bytes"
        )
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = self._read_chunked(limit, too_large)
        else:
            text = self.headers.get("Content-Length") or "0"
            if not (text.strip().isascii() and text.strip().isdigit()):
                self.close_connection = True
                raise BadRequest(HTTPStatus.BAD_REQUEST, f"bad Content-Length {text[:40]!r}")
            length = int(text)
            if length > limit:
                raise too_large
            body = self.rfile.read(length)
        encoding = self.headers.get("Content-Encoding", "").lower()
        if encoding in ("gzip", "x-gzip"):
            try:
                d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                body = d.decompress(body, limit + 1)
            except (zlib.error, gzip.BadGzipFile) as exc:
                raise BadRequest(HTTPStatus.BAD_REQUEST, f"bad gzip body: {exc}") from None
            if len(body) > limit:
                raise too_large
        return body

    def _read_chunked(self, limit: int, too_large: BadRequest) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            except ValueError:
                raise BadRequest(HTTPStatus.BAD_REQUEST, "bad chunked encoding") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if total > limit:
                raise too_large
            parts.append(self.rfile.read(size))
            self.rfile.readline(8)
