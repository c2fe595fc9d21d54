"""A lean HTTP/1.1 keep-alive client for the outputs' hot path.

httpx costs about a millisecond of CPU per request (anyio, httpcore, h11, auth and redirect
layers); this client writes each request in one `write` on a pooled asyncio connection (at
the end of the event-loop turn, with the other requests of that turn: `turnwrites`) and
parses the answer with httptools, for a fraction of that. It does only what the outputs
need: one request with a byte body, the status, the headers and (a bounded part of) the
response body. TLS uses the output's `ssl.SSLContext` (tlsclient CA, mutual TLS, checkcert)
exactly as the httpx client did. Outputs fall back to httpx for what it does not do (HTTP
proxies from the environment, non-basic authentication).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

import httptools

from lanner.exceptions import ConnectError, ProtocolError

from .turnwrites import CoalescingTransport

KEEP_BODY = 64 * 1024  # enough of an error answer for the log; the rest is counted only
TICK = 0.1  # seconds between two checks of the requests' deadlines


@dataclass
class Response:
    """Status, lower-case header names (last value wins) and the body's first KEEP_BODY bytes."""

    status_code: int
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""

    @property
    def text(self) -> str:
        """The body as text (UTF-8, errors replaced)."""
        return self.content.decode(errors="replace")


class _Connection(asyncio.Protocol):
    """One keep-alive connection; a single request is in flight at a time."""

    def __init__(self) -> None:
        self.transport: CoalescingTransport | None = None
        self.closed = False
        self.used = False
        self._waiter: asyncio.Future[Response] | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._status = 0
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._size = 0
        self._received = False
        self._header_name = b""

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # requests leave at the end of the loop turn, the turn's together (`turnwrites`)
        stream = cast(asyncio.Transport, transport)  # (uvloop's are not subclasses)
        self.transport = CoalescingTransport(stream, asyncio.get_running_loop())

    def data_received(self, data: bytes) -> None:
        self._received = True
        if self._waiter is None:  # nothing asked: a broken server; do not reuse
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ProtocolError("unexpected protocol upgrade"))
        except httptools.HttpParserError as exc:
            self._fail(ProtocolError(f"bad HTTP response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            if (
                exc is None
                and self._status >= 200
                and "content-length" not in self._headers
                and "transfer-encoding" not in self._headers
            ):  # an answer whose body runs to the end of the connection (HTTP/1.0 style)
                waiter.set_result(Response(self._status, self._headers, b"".join(self._body)))
                return
            reason = f"connection closed: {exc}" if exc else "connection closed by the server"
            self._fail(ProtocolError(reason))

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._headers = {}
        self._body = []
        self._size = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        if self._size < KEEP_BODY:
            self._body.append(body[: KEEP_BODY - self._size])
        self._size += len(body)

    def on_message_complete(self) -> None:
        status = self._status
        if 100 <= status < 200:  # an interim answer (100 Continue): the real one follows
            self._status = 0
            return
        if not self._parser.should_keep_alive():
            self.close()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(Response(status, self._headers, b"".join(self._body)))

    # use
    def _fail(self, exc: Exception) -> None:
        self.close()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    @property
    def got_bytes(self) -> bool:
        """Whether any of the current answer arrived (a request then was surely received)."""
        return self._received

    async def exchange(self, request: bytes) -> Response:
        """Send one request and wait for its complete answer."""
        assert self.transport is not None
        self.used = True
        self._status = 0
        self._received = False
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        try:
            return await self._waiter
        finally:
            self._waiter = None

    def expire(self) -> None:
        """The deadline passed: end the exchange with TimeoutError, drop the connection."""
        self.abort()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(TimeoutError())


def _encode(value: str) -> bytes:
    raw = value.encode()
    if b"\r" in raw or b"\n" in raw:
        raise ValueError(f"header {value[:40]!r} contains a line break")
    return raw


class HttpClient:
    """Pools keep-alive connections per (scheme, host, port); safe for concurrent requests
    (each takes its own connection, so `delivery.concurrency` opens that many)."""

    def __init__(
        self,
        timeout: float,
        ssl_context: ssl.SSLContext | None,
        headers: dict[str, str] | None = None,
        max_idle: int = 16,
    ) -> None:
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.max_idle = max_idle
        self._default = b"".join(
            _encode(k) + b": " + _encode(v) + b"\r\n" for k, v in (headers or {}).items()
        )
        self._idle: dict[tuple[str, str, int], deque[_Connection]] = {}
        self._targets: dict[str, tuple[tuple[str, str, int], bytes, bytes]] = {}
        self._headers: dict[tuple[tuple[str, str], ...], bytes] = {}
        # exchanges in flight and their deadlines, checked by one timer (`_check_deadlines`)
        # every TICK: cheaper than a timer per request, within TICK of the timeout
        self._deadlines: dict[_Connection, float] = {}
        self._ticker: asyncio.TimerHandle | None = None
        self._ticker_loop: asyncio.AbstractEventLoop | None = None

    def _target(self, url: str) -> tuple[tuple[str, str, int], bytes, bytes]:
        """(pool key, request target, Host header) for `url`, cached."""
        hit = self._targets.get(url)
        if hit is not None:
            return hit
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        host = parts.hostname
        port = parts.port or (443 if scheme == "https" else 80)
        netloc = f"[{host}]" if ":" in host else host
        if parts.port:
            netloc += f":{parts.port}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        hit = ((scheme, host, port), _encode(target), _encode(netloc))
        if len(self._targets) < 1024:  # outputs use a handful of URLs; don't grow unbounded
            self._targets[url] = hit
        return hit

    async def _connect(self, key: tuple[str, str, int]) -> _Connection:
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        tls = self.ssl_context if scheme == "https" else None
        if scheme == "https" and tls is None:
            tls = ssl.create_default_context()
        try:
            _, conn = await loop.create_connection(
                _Connection, host, port, ssl=tls, server_hostname=host if tls else None
            )
        except OSError as exc:  # refused, unreachable, DNS, certificate...
            raise ConnectError(str(exc) or type(exc).__name__) from exc
        return conn

    def _header_block(self, headers: dict[str, str] | None) -> bytes:
        """`Name: value\r\n` lines of `headers`, encoded once per distinct set."""
        if not headers:
            return b""
        key = tuple(headers.items())
        block = self._headers.get(key)
        if block is None:
            block = b"".join(_encode(k) + b": " + _encode(v) + b"\r\n" for k, v in key)
            if len(self._headers) < 256:  # per-alert values (ids, times) are not kept
                self._headers[key] = block
        return block

    def _check_deadlines(self) -> None:
        """Expire the exchanges past their deadline; run again while any is in flight."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        for conn, deadline in list(self._deadlines.items()):
            if deadline <= now:
                del self._deadlines[conn]
                conn.expire()
        self._ticker = loop.call_later(TICK, self._check_deadlines) if self._deadlines else None

    async def _exchange(self, conn: _Connection, request: bytes, deadline: float) -> Response:
        self._deadlines[conn] = deadline
        loop = asyncio.get_running_loop()
        if self._ticker is None or self._ticker_loop is not loop:  # (a client outlives a loop)
            self._ticker = loop.call_later(TICK, self._check_deadlines)
            self._ticker_loop = loop
        try:
            return await conn.exchange(request)
        finally:
            self._deadlines.pop(conn, None)

    async def request(
        self, method: str, url: str, content: bytes = b"", headers: dict[str, str] | None = None
    ) -> Response:
        """One request; raises OSError (ProtocolError, ssl.SSLError...) or TimeoutError
        (within TICK of `timeout` seconds after the call)."""
        deadline = asyncio.get_running_loop().time() + self.timeout
        key, target, host = self._target(url)
        request = b"".join(
            (
                method.encode("ascii"),
                b" ",
                target,
                b" HTTP/1.1\r\nHost: ",
                host,
                b"\r\n",
                self._default,
                self._header_block(headers),
                b"Content-Length: ",
                str(len(content)).encode(),
                b"\r\n\r\n",
                content,
            )
        )
        while True:
            pool = self._idle.get(key)
            conn = None
            while pool:
                candidate = pool.pop()
                if not candidate.closed:
                    conn = candidate
                    break
            reused = conn is not None
            if conn is None:
                async with asyncio.timeout_at(deadline):
                    conn = await self._connect(key)
            try:
                response = await self._exchange(conn, request, deadline)
            except ProtocolError:
                # a kept-alive connection the server had closed before reading: once more
                # on a fresh one (the server cannot have processed a request it never read)
                if reused and not conn.got_bytes:
                    continue
                raise
            except BaseException:  # timeout, cancellation: the answer may still come
                conn.abort()
                raise
            if not conn.closed:
                idle = self._idle.setdefault(key, deque())
                if len(idle) < self.max_idle:
                    idle.append(conn)
                else:
                    conn.close()
            return response

    async def aclose(self) -> None:
        """Close every pooled connection."""
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        for pool in self._idle.values():
            for conn in pool:
                conn.close()
        self._idle.clear()
