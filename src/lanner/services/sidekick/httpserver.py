"""uvicorn's httptools protocol with its writes coalesced: one `send` per response.

An ASGI response is two messages (start, then body) and uvicorn writes each at once, so
every answer to Falco's one-alert POSTs cost two `send` system calls; profiled, they were
the largest single cost of accepting an alert. Here the transport given to the protocol
gathers the writes of one event-loop turn and hands them to the real transport together,
before any close.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .ingest import MAX_BODY, Ingest


class CoalescingTransport:
    """Wraps a transport: `write` buffers, flushed once at the end of the loop turn (or
    before `close`, `write_eof`, pausing or reading the buffer size); everything else is the
    wrapped transport's."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._chunks: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Buffer `data`; schedule one flush per loop turn."""
        if not data:
            return
        if not self._chunks:
            self._loop.call_soon(self.flush)
        self._chunks.append(bytes(data))

    def flush(self) -> None:
        """Hand the buffered bytes to the transport in one write."""
        if self._chunks:
            data = b"".join(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
            self._chunks = []
            if not self._transport.is_closing():
                self._transport.write(data)

    def write_now(self, data: bytes) -> None:
        """Write `data` at once, unless writes are buffered: then after them, in order."""
        if self._chunks:
            self._chunks.append(data)
        elif not self._transport.is_closing():
            self._transport.write(data)

    def writelines(self, chunks: Any) -> None:
        """Buffer each chunk."""
        for chunk in chunks:
            self.write(chunk)

    def close(self) -> None:
        """Flush, then close."""
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        """Flush, then half-close."""
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        """Drop the buffer and abort."""
        self._chunks = []
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        """The wrapped transport's buffer plus ours."""
        return self._transport.get_write_buffer_size() + sum(len(c) for c in self._chunks)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol writing through a CoalescingTransport."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Wrap the transport, then set up as uvicorn does."""
        wrapped: Any = CoalescingTransport(transport, asyncio.get_running_loop())
        super().connection_made(wrapped)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The event loop the sidekick runs on: uvloop's (libuv) when installed, else asyncio's."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency of the services extra
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class FastPath:
    """What the server needs to answer `POST /` itself: the ingest and the bearer token.

    A request qualifies when it could take no other turn in the ASGI app: exactly `POST /`,
    one numeric Content-Length within MAX_BODY, no Transfer-Encoding, no `Expect`, no
    upgrade, and the right token when one is set. Anything else goes to the ASGI app, which
    answers it as before (401, 400, 413, chunked bodies...)."""

    def __init__(self, ingest: Ingest, token: str) -> None:
        self.ingest = ingest
        self.credential = b"Bearer " + token.encode() if token else b""

    def admits(self, headers: list[tuple[bytes, bytes]]) -> bytes | None:
        """The request's Content-Type when it qualifies (b"" when it has none), else None."""
        length = content_type = auth = None
        for name, value in headers:
            if name == b"content-length":
                if length is not None or not value.isdigit() or int(value) > MAX_BODY:
                    return None
                length = value
            elif name == b"content-type":
                content_type = value
            elif name == b"authorization":
                if auth is not None:
                    return None
                auth = value
            elif name in (b"transfer-encoding", b"expect", b"upgrade"):
                return None
        if length is None:
            return None
        if self.credential and (auth is None or not _token_matches(auth, self.credential)):
            return None
        return content_type or b""


def _token_matches(given: bytes, credential: bytes) -> bool:
    """`given` is `Bearer <token>` (scheme case-insensitive), compared in constant time."""
    scheme, _, token = given.partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(b"Bearer " + token, credential)


class SidekickProtocol(OneWriteHttpToolsProtocol):
    """The sidekick's HTTP/1.1 protocol: `POST /` answered here when `FastPath.admits` it
    (parse, check, enrich, queue, spool through the dispatcher's grouped commit, answer),
    with no ASGI scope, task, or middleware; every other request as uvicorn does.

    Order on a connection is kept: the fast path is taken only when no ASGI response is
    pending on it, and an ASGI request pipelined after a fast one starts in a task, which
    runs after the grouped commit that answers the fast one (both are FIFO callbacks)."""

    fast: FastPath | None = None
    _fast_type: bytes | None = None
    _fast_body: list[bytes]

    def on_message_begin(self) -> None:
        """Start a request with what the fast path reads; uvicorn's ASGI scope is made only
        for a request that goes to the ASGI app (`on_headers_complete`)."""
        self.url = b""
        self.expect_100_continue = False
        self.headers = []

    def on_headers_complete(self) -> None:
        """Take the fast path, or hand the request to uvicorn."""
        fast = self.fast
        self._fast_type = None
        if (
            fast is not None
            and self.url == b"/"
            and self.parser.get_method() == b"POST"
            and (self.cycle is None or self.cycle.response_complete)
            and not self.pipeline
        ):
            self._fast_type = fast.admits(self.headers)
        if self._fast_type is None:
            url, headers, expect = self.url, self.headers, self.expect_100_continue
            super().on_message_begin()  # the scope, as uvicorn makes it; then what was read
            self.url, self.headers, self.expect_100_continue = url, headers, expect
            self.scope["headers"] = headers
            super().on_headers_complete()
            return
        self._fast_body = []
        self._fast_keep = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        """Gather a fast request's body (its Content-Length is within MAX_BODY)."""
        if self._fast_type is None:
            super().on_body(body)
        else:
            self._fast_body.append(body)

    def on_message_complete(self) -> None:
        """Queue a fast request's alert(s); answer once they are stored."""
        content_type = self._fast_type
        if content_type is None:
            super().on_message_complete()
            return
        self._fast_type = None
        chunks = self._fast_body
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._fast_body = []
        self.server_state.total_requests += 1
        keep = self._fast_keep
        transport: Any = self.transport  # a CoalescingTransport

        def reply(status: int, answer: bytes) -> None:
            if transport.is_closing():
                return
            transport.write_now(_response(status, answer, keep))
            if not keep:
                transport.close()
            elif self.timeout_keep_alive_task is None and (
                self.cycle is None or self.cycle.response_complete
            ):  # idle now (an ASGI request pipelined behind arms it when answered)
                self.timeout_keep_alive_task = self.loop.call_later(
                    self.timeout_keep_alive, self.timeout_keep_alive_handler
                )

        assert self.fast is not None
        self.fast.ingest.handle_soon(body, content_type, reply)


_RESPONSES: dict[tuple[int, bytes, bool], bytes] = {}  # the usual few answers, whole


def _response(status: int, answer: bytes, keep: bool) -> bytes:
    """The HTTP/1.1 response carrying the JSON `answer` (`keep`: the connection stays)."""
    whole = _RESPONSES.get((status, answer, keep))
    if whole is None:
        whole = b"".join(
            (
                STATUS_LINE[status],
                b"content-type: application/json\r\ncontent-length: ",
                str(len(answer)).encode(),
                b"\r\n" if keep else b"\r\nconnection: close\r\n",
                b"\r\n",
                answer,
            )
        )
        if status == 200 and len(_RESPONSES) < 256:  # refusals name their input: not kept
            _RESPONSES[(status, answer, keep)] = whole
    return whole


def protocol_for(fast: FastPath | None) -> type[SidekickProtocol]:
    """The protocol class for one listening socket (`fast` None: every request via ASGI)."""
    return type("SidekickProtocol", (SidekickProtocol,), {"fast": fast})
