"""uvicorn's httptools protocol with its writes coalesced (`turnwrites`), and `POST /`
answered without the ASGI app.

An ASGI response is two messages (start, then body) and uvicorn writes each at once, so
every answer to Falco's one-alert POSTs cost two `send` system calls; profiled, they were
the largest single cost of accepting an alert. Here the transport given to the protocol
gathers the writes of one event-loop turn and hands them to the real transport together,
before any close, one `send` per connection and turn.
"""

from __future__ import annotations

import asyncio
import hmac
from collections import deque
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .ingest import MAX_BODY, Ingest
from .turnwrites import CoalescingTransport


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
    if hmac.compare_digest(given, credential):  # spelled as usual
        return True
    scheme, _, token = given.partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(b"Bearer " + token, credential)


class SidekickProtocol(OneWriteHttpToolsProtocol):
    """The sidekick's HTTP/1.1 protocol: `POST /` answered here when `FastPath.admits` it
    (parse, check, enrich, queue, spool through the dispatcher's grouped commit, answer),
    with no ASGI scope, task, or middleware; every other request as uvicorn does.

    Order on a connection is kept: the fast path is taken only when no ASGI response is
    pending on it, and an ASGI request pipelined after a fast one starts in a task, which
    runs after the grouped commit that answers the fast one (both are FIFO callbacks).

    After a fast answer the connection is closed when it stays idle for uvicorn's
    keep-alive timeout, as after an ASGI one; but one timer per connection checks the time
    of its last answer when it fires, instead of a timer set and cancelled per request."""

    fast: FastPath | None = None
    _fast_type: bytes | None = None
    _fast_body: list[bytes]
    # the fast requests not answered yet, in order: [keep-alive, response or None while
    # its alert is being stored]; empty unless the spool holds answers back
    _held: deque[list[Any]]
    _reading = False  # a request begun, not yet answered here nor handed to uvicorn
    _idle_since = 0.0  # loop time of the last fast answer
    _idle_timer: asyncio.TimerHandle | None = None  # `_idle_check`, armed by a fast answer

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Set up as OneWriteHttpToolsProtocol does, with no answer held."""
        self._held = deque()
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the idle check; then as uvicorn does."""
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        """Start a request with what the fast path reads; uvicorn's ASGI scope is made only
        for a request that goes to the ASGI app (`on_headers_complete`)."""
        self._reading = True
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
            self._reading = False
            if self._idle_timer is not None:  # uvicorn's own timer takes over after it
                self._idle_timer.cancel()
                self._idle_timer = None
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
        """Queue a fast request's alert(s); answer now, or once they are stored."""
        content_type = self._fast_type
        if content_type is None:
            super().on_message_complete()
            return
        self._fast_type = None
        self._reading = False
        chunks = self._fast_body
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._fast_body = []
        self.server_state.total_requests += 1
        keep = self._fast_keep
        assert self.fast is not None
        answer = self.fast.ingest.handle_soon(body, content_type, self._answer_stored)
        if answer is None:  # answered once stored (`_answer_stored`)
            self._held.append([keep, None])
        elif self._held:  # after the answers still being stored
            self._held.append([keep, _response(answer[0], answer[1], keep)])
        else:
            self._answer(_response(answer[0], answer[1], keep), keep)

    def _answer_stored(self, status: int, answer: bytes) -> None:
        """The answer to the oldest fast request whose alert was being stored (they are
        stored in order); then every held answer that is ready, in order."""
        held = self._held
        for slot in held:
            if slot[1] is None:
                slot[1] = _response(status, answer, slot[0])
                break
        while held and held[0][1] is not None:
            keep, response = held.popleft()
            self._answer(response, keep)

    def _answer(self, response: bytes, keep: bool) -> None:
        """Write a fast request's whole `response`; close, or note the time for the idle
        check (armed if it is not)."""
        transport = self.transport
        if transport.is_closing():
            return
        transport.write(response)
        if not keep:
            transport.close()
            return
        self._idle_since = self.loop.time()
        if self._idle_timer is None:
            self._idle_timer = self.loop.call_later(self.timeout_keep_alive, self._idle_check)

    def _idle_check(self) -> None:
        """Close the connection if it has been idle for the keep-alive timeout since its
        last fast answer; check again when that time comes if it answered since."""
        self._idle_timer = None
        if self._reading or self._held or not (self.cycle is None or self.cycle.response_complete):
            return  # busy: its next fast answer arms the check (uvicorn's, after an ASGI one)
        left = self._idle_since + self.timeout_keep_alive - self.loop.time()
        if left > 0:
            self._idle_timer = self.loop.call_later(left, self._idle_check)
        else:
            self.timeout_keep_alive_handler()


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
