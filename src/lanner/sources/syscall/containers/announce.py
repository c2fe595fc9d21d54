"""Falco's ``container`` event: one synthetic event when a new container's metadata is known.

Rules such as "privileged container started" match ``evt.type = container``. The event is
emitted once per container, as in libsinsp when its asynchronous lookup completes: as soon
as the runtimes answered (with the metadata, "unknown", or an error) or, when a runtime
hangs, after ``wait`` seconds (so a container is announced even without metadata).

The announcer also keeps the metadata cache to the containers still running: every
``sweep_interval`` seconds of event time it collects the container ids of the threads in
the thread table and drops the other containers from the store (libsinsp's
``remove_inactive_containers``, every 30 s, live captures only: the announcer runs only
with the probe). A container that shows up again (``docker restart`` keeps the id) is
looked up and announced again.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from ..event import Event
from ..event_table import PPME_CONTAINER_JSON_2_E
from .store import HOST, MetadataStore

log = logging.getLogger(__name__)


class ContainerAnnouncer:
    """Turns the first sightings of containers into ``container`` events."""

    def __init__(
        self,
        store: MetadataStore,
        wait: float = 10.0,
        limit: int = 100_000,
        sweep_interval: float = 30.0,
    ) -> None:
        self.store = store
        self.wait = wait
        self.limit = limit
        self.sweep_interval_ns = int(sweep_interval * 1_000_000_000)
        self._next_sweep = 0  # event time (ns) of the next sweep; 0: not started
        self._announced: set[str] = set()
        self._pending: dict[str, tuple[float, Any]] = {}  # id -> (first seen, a thread)

    def check(self, event: Any) -> list[Event]:
        """Container events due after ``event`` (usually none)."""
        thread = getattr(event, "thread", None)
        ts = getattr(event, "ts", 0)
        if ts >= self._next_sweep:
            self._sweep(thread if thread is not None else event, ts)
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

    def _sweep(self, holder: Any, ts: int) -> None:
        """Drop the containers no thread of the table belongs to (``holder`` is the event's
        thread, or the event, whichever knows the table)."""
        if not ts:
            return  # no event time: no sweep
        if self._next_sweep == 0:  # the first sweep comes one interval after the first event
            self._next_sweep = ts + self.sweep_interval_ns
            return
        table = getattr(holder, "table", None)
        threads = getattr(table, "threads", None)
        if not isinstance(threads, dict):
            return  # retried on the next event that knows the thread table
        self._next_sweep = ts + self.sweep_interval_ns
        in_use = {t.container_id for t in threads.values() if not t.dead}
        gone = self.store.sweep(in_use)
        self._announced.intersection_update(in_use)  # back again later: announced again
        if gone:
            log.debug("container metadata: dropped %d exited containers", len(gone))

    @staticmethod
    def _event(after: Any, thread: Any) -> Event:
        ts = getattr(after, "ts", 0) or time.time_ns()
        ev = Event(0, ts, thread.tid, PPME_CONTAINER_JSON_2_E, 0, b"", 0, 0, False, 0)
        ev.thread = thread
        return ev
