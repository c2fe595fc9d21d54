"""Falco's ``container`` event: one synthetic event when a new container's metadata is known.

Rules such as "privileged container started" match ``evt.type = container``. The event is
emitted once per container, as in libsinsp when its asynchronous lookup completes: as soon
as the runtimes answered (with the metadata, "unknown", or an error) or, when a runtime
hangs, after ``wait`` seconds (so a container is announced even without metadata).
"""

from __future__ import annotations

import time
from typing import Any

from ..event import Event
from ..event_table import PPME_CONTAINER_JSON_2_E
from .store import HOST, MetadataStore


class ContainerAnnouncer:
    """Turns the first sightings of containers into ``container`` events."""

    def __init__(self, store: MetadataStore, wait: float = 10.0, limit: int = 100_000) -> None:
        self.store = store
        self.wait = wait
        self.limit = limit
        self._announced: set[str] = set()
        self._pending: dict[str, tuple[float, Any]] = {}  # id -> (first seen, a thread)

    def check(self, event: Any) -> list[Event]:
        """Container events due after ``event`` (usually none)."""
        thread = getattr(event, "thread", None)
        if thread is not None:
            cid = thread.container_id
            if cid != HOST and cid not in self._announced and cid not in self._pending:
                self._pending[cid] = (time.monotonic(), thread)
                self.store.get(cid)  # starts the lookup
        if not self._pending:
            return []
        due: list[Event] = []
        now = time.monotonic()
        for cid, (seen, th) in list(self._pending.items()):
            if self.store.settled(cid) or now - seen >= self.wait:
                del self._pending[cid]
                if len(self._announced) >= self.limit:
                    self._announced.clear()
                self._announced.add(cid)
                due.append(self._event(event, th))
        return due

    @staticmethod
    def _event(after: Any, thread: Any) -> Event:
        ts = getattr(after, "ts", 0) or time.time_ns()
        ev = Event(0, ts, thread.tid, PPME_CONTAINER_JSON_2_E, 0, b"", 0, 0, False, 0)
        ev.thread = thread
        return ev
