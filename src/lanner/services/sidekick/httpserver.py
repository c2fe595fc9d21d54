"""uvicorn's httptools protocol with its writes coalesced: one `send` per response.

An ASGI response is two messages (start, then body) and uvicorn writes each at once, so
every answer to Falco's one-alert POSTs cost two `send` system calls; profiled, they were
the largest single cost of accepting an alert. Here the transport given to the protocol
gathers the writes of one event-loop turn and hands them to the real transport together,
before any close.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


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
