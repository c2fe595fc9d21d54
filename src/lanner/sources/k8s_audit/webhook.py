"""An HTTP(S) receiver for the kube-apiserver audit webhook backend.

Defaults are the k8saudit plugin's: port 9765, path ``/k8s-audit``, a 12 MiB body
limit. A POST of one Event, an EventList or an array of them answers 200 once its
events are handed on; bad input answers 400 (413 when too large) with the reason as
text, and the server keeps serving. Events go to a callback, or to a bounded queue that
:meth:`AuditWebhook.events` drains (a full queue holds the request: back-pressure).
The callback runs on the request's handler thread, one per apiserver connection, so it
may be called from several threads at once.

>>> with AuditWebhook(port=9765) as hook:
...     for event in hook.events():
...         engine.process(event, "k8s_audit")
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import queue
import socket
import ssl
import threading
import zlib
from collections.abc import Callable, Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import orjson

from lanner.sources.json_source.event import JsonEvent
from lanner.sources.k8s_audit.payload import NotAuditEvent, parse_payload

DEFAULT_PORT = 9765
DEFAULT_PATH = "/k8s-audit"
DEFAULT_MAX_BODY = 12 * 1024 * 1024  # the plugin's webhookMaxBatchSize
_POLL = 0.1  # seconds between checks for stop() while waiting for events
log = logging.getLogger("lanner.k8s_audit.webhook")

EventsCallback = Callable[[list[JsonEvent]], None]


class BadRequest(Exception):
    """A request refused with a 4xx status and a reason."""

    def __init__(self, status: HTTPStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class AuditWebhook:
    """The audit webhook server; :meth:`start` serves it from a background thread."""

    def __init__(
        self,
        on_events: EventsCallback | None = None,
        *,
        host: str = "0.0.0.0",
        port: int = DEFAULT_PORT,
        path: str = DEFAULT_PATH,
        certfile: str | None = None,
        keyfile: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY,
        queue_size: int = 100_000,
        request_timeout: float = 30.0,
    ) -> None:
        self.host = host
        self.path = path if path.startswith("/") else "/" + path
        self.max_body_bytes = max_body_bytes
        self.request_timeout = request_timeout
        self._on_events = on_events
        self._queue: queue.Queue[JsonEvent | None] = queue.Queue(maxsize=queue_size)
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

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> AuditWebhook:
        """From the plugin's open parameters, e.g. ``http://:9765/k8s-audit`` (https: TLS)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"scheme {parts.scheme!r} is not supported (http or https)")
        if parts.scheme == "https" and not kwargs.get("certfile"):
            raise ValueError("https needs certfile (and keyfile, unless the key is inside it)")
        return cls(
            host=parts.hostname or "0.0.0.0",
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
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)

    def __enter__(self) -> AuditWebhook:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- consuming ---------------------------------------------------------------------

    def events(self, timeout: float | None = None) -> Iterator[JsonEvent]:
        """Events as they arrive, until :meth:`stop` (or ``timeout`` s without any)."""
        idle = 0.0
        while True:
            try:
                event = self._queue.get(timeout=_POLL)
            except queue.Empty:
                idle += _POLL
                if self._stopped or (timeout is not None and idle >= timeout):
                    return
                continue
            if event is None:
                return
            idle = 0.0
            yield event

    # -- request handling --------------------------------------------------------------

    def _enqueue(self, event: JsonEvent) -> None:
        """Wait for room in the queue; give up (503) once the webhook is stopping."""
        while True:
            try:
                self._queue.put(event, timeout=_POLL)
                return
            except queue.Full:
                if self._stopped or self._server is None:
                    raise BadRequest(HTTPStatus.SERVICE_UNAVAILABLE, "shutting down") from None

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
        with self._lock:
            for event in parsed.events:
                event.num = self._next_num
                self._next_num += 1
            self.accepted += len(parsed.events)
        if parsed.events:
            if self._on_events is not None:
                self._on_events(parsed.events)
            else:
                for event in parsed.events:
                    self._enqueue(event)
        for reason in parsed.rejected:
            log.warning("k8s audit webhook: skipped %s", reason)
        return len(parsed.events), parsed.rejected


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

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
        self.end_headers()
        self.wfile.write(body)

    def _refuse(self, status: HTTPStatus, reason: str) -> None:
        self.server.hook.rejected_requests += 1
        log.warning("k8s audit webhook: %d %s", status, reason)
        self.close_connection = status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
        self._reply(status, f"bad request: {reason}\n".encode())

    def do_GET(self) -> None:
        if urlsplit(self.path).path in ("/healthz", "/readyz"):
            self._reply(HTTPStatus.OK, b"ok\n")
            return
        self._refuse(HTTPStatus.METHOD_NOT_ALLOWED, f"{self.command} method not allowed")

    do_PUT = do_DELETE = do_PATCH = do_GET

    def do_POST(self) -> None:
        hook = self.server.hook
        if urlsplit(self.path).path != hook.path:
            self._read_body(hook.max_body_bytes)  # keep the connection in step
            self._refuse(HTTPStatus.NOT_FOUND, f"no such endpoint {self.path}")
            return
        try:
            if "application/json" not in self.headers.get("Content-Type", ""):
                self._read_body(hook.max_body_bytes)
                raise BadRequest(
                    HTTPStatus.BAD_REQUEST, "wrong Content Type, want application/json"
                )
            body = self._read_body(hook.max_body_bytes)
            accepted, rejected = hook.handle_body(body)
        except BadRequest as exc:
            self._refuse(exc.status, exc.reason)
            return
        except Exception as exc:  # a failing consumer: let the apiserver retry
            log.exception("k8s audit webhook: handling a request failed")
            self.close_connection = True
            self._reply(HTTPStatus.INTERNAL_SERVER_ERROR, f"error: {exc}\n".encode())
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
            length = int(self.headers.get("Content-Length") or 0)
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
