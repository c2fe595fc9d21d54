"""Live updates: wake Server-Sent Events streams when alerts are stored."""

from __future__ import annotations

import asyncio
import contextlib


class Notifier:
    """An edge-triggered signal: `wait` returns after the next `notify` or a timeout.

    Streams still poll the store on timeout, so alerts stored by another replica sharing
    the same PostgreSQL database reach every replica's viewers too.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Wake every current waiter."""
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        """Until the next notify, or `timeout` seconds."""
        event = self._event
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)


def sse_message(data: str, event: str | None = None, event_id: int | None = None) -> str:
    """Frame one Server-Sent Events message (`data` must be a single line of JSON)."""
    lines = []
    if event:
        lines.append(f"event: {event}")
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"data: {data}")
    return "\n".join(lines) + "\n\n"
