"""Writes gathered per event-loop turn: one `send` per connection and turn, every
connection written to in a turn flushed together at its end.

Written at once, each `send` on loopback wakes the peer waiting for it (a client waiting for
its answers, a server for its requests), and the woken peer may take the CPU from this
process in the middle of its turn, once per message; flushed together at the end of the
turn, after everything read in it was handled, the peer is woken once for the batch.
"""

from __future__ import annotations

import asyncio
from typing import Any

# Per event loop, the transports with buffered writes; flushed by one callback at the
# end of the turn (`_flush_turn`), then forgotten.
_TURN: dict[asyncio.AbstractEventLoop, list[CoalescingTransport]] = {}


def _flush_turn(loop: asyncio.AbstractEventLoop) -> None:
    for transport in _TURN.pop(loop, ()):
        transport.flush()


class CoalescingTransport:
    """Wraps a transport: `write` buffers, flushed once at the end of the loop turn (or
    before `close` or `write_eof`); everything else is the wrapped transport's."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._chunks: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Buffer `data`; the turn's flush sends it."""
        if not data:
            return
        if not self._chunks:
            waiting = _TURN.get(self._loop)
            if waiting is None:
                waiting = _TURN[self._loop] = []
                self._loop.call_soon(_flush_turn, self._loop)
            waiting.append(self)
        self._chunks.append(data if type(data) is bytes else bytes(data))

    def flush(self) -> None:
        """Hand the buffered bytes to the transport in one write."""
        if self._chunks:
            data = b"".join(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
            self._chunks = []
            if not self._transport.is_closing():
                self._transport.write(data)

    def is_closing(self) -> bool:
        """The wrapped transport's (asked once per answer: not through `__getattr__`)."""
        return self._transport.is_closing()

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
