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

A container announced without metadata (its runtime failed, hung, or was not up yet) is
announced once more when the metadata arrives, e.g. once a runtime whose socket was
missing at start appears: rules on ``container`` events see it then. While containers
wait for metadata the announcer has the store probe the runtime sockets, every
``poll_interval`` seconds of event time (and at each sweep): no system call per event.
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
        poll_interval: float = 2.0,
    ) -> None:
        self.store = store
        self.wait = wait
        self.limit = limit
        self.sweep_interval_ns = int(sweep_interval * 1_000_000_000)
        self.poll_interval_ns = int(poll_interval * 1_000_000_000)
        self._next_sweep = 0  # event time (ns) of the next sweep; 0: not started
        self._next_poll = 0  # event time (ns) of the next socket probe, while unresolved
        self._announced: set[str] = set()
        self._pending: dict[str, tuple[float, Any]] = {}  # id -> (first seen, a thread)
        self._bare: dict[str, Any] = {}  # announced without metadata -> a thread
        self._arrivals = 0  # store.arrivals when _bare was last checked

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
        if not self._pending and not self._bare:
            return []
        if ts >= self._next_poll:  # containers wait for metadata: a runtime may be back
            self._next_poll = ts + self.poll_interval_ns
            self.store.poll()
        due: list[Event] = []
        if self._bare and self.store.arrivals != self._arrivals:
            self._arrivals = self.store.arrivals
            for cid in [c for c in self._bare if self.store.peek(c) is not None]:
                due.append(self._event(event, self._bare.pop(cid)))
        if not self._pending:
            return due
        now = time.monotonic()
        for cid, (seen, th) in list(self._pending.items()):
            if self.store.settled(cid) or now - seen >= self.wait:
                del self._pending[cid]
                if len(self._announced) >= self.limit:
                    self._announced.clear()
                self._announced.add(cid)
                due.append(self._event(event, th))
                if self.store.peek(cid) is None and self.store.may_learn():
                    if len(self._bare) >= self.limit:
                        del self._bare[next(iter(self._bare))]
                    self._bare[cid] = th  # announced again if its metadata arrives
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
        for cid in [c for c in self._bare if c not in in_use]:
            del self._bare[cid]
        self.store.poll(force=True)  # now and then, the runtime sockets even if all is well
        if gone:
            log.debug("container metadata: dropped %d exited containers", len(gone))

    @staticmethod
    def _event(after: Any, thread: Any) -> Event:
        ts = getattr(after, "ts", 0) or time.time_ns()
        ev = Event(0, ts, thread.tid, PPME_CONTAINER_JSON_2_E, 0, b"", 0, 0, False, 0)
        ev.thread = thread
        return ev
