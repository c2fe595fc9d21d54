"""A global bound on the fds the state tracks, across every process's fd table.

Each process's table is capped (``FdTable.MAX_FDS``) and so is the thread table, but
together they allow threads x per-process fds. :class:`FdCap` counts the fds of every
distinct table now and then (the live pipeline calls :meth:`FdCap.check` every few
seconds) and, past ``max_fds``, evicts the oldest entries of the largest tables down to
``low_water`` of the cap, counting what it evicted (``evicted``, a metric). An evicted
fd reads as unknown to the rules until the process opens it again, as for an fd opened
before the capture started.
"""

from __future__ import annotations

import time

from .threads import ThreadTable

DEFAULT_MAX_FDS = 1 << 18
"""262,144 fds (about 100 MiB of state at ~400 bytes per tracked fd)."""


class FdCap:
    """Keeps the fds tracked across all tables at or below ``max_fds``."""

    def __init__(
        self,
        threads: ThreadTable,
        max_fds: int = DEFAULT_MAX_FDS,
        interval: float = 2.0,
        low_water: float = 0.9,
    ) -> None:
        self.threads = threads
        self.max_fds = max_fds
        self.interval = interval
        self.low_water = low_water
        self.evicted = 0  # fds evicted over the cap, all time
        self.tracked = 0  # fds tracked at the last count
        self._last: float | None = None  # when check() last counted

    def check(self, now: float | None = None) -> int:
        """Count (at most every ``interval`` seconds) and evict past the cap; returns the
        fds evicted by this call."""
        now = time.monotonic() if now is None else now
        if self._last is not None and now - self._last < self.interval:
            return 0  # (measured from the last count: a changed interval applies at once)
        self._last = now
        return self.enforce()

    def enforce(self) -> int:
        """Count now and evict past the cap; returns the fds evicted."""
        tables = {}
        for t in self.threads.threads.values():
            tab = t.fdtable
            if tab is not None:
                tables[id(tab)] = tab
        sizes = sorted(((len(tab.fds), key) for key, tab in tables.items()), reverse=True)
        total = sum(n for n, _ in sizes)
        self.tracked = total
        if total <= self.max_fds:
            return 0
        excess = total - int(self.max_fds * self.low_water)
        gone = 0
        for n, key in sizes:  # largest tables first, their oldest fds first
            if gone >= excess:
                break
            fds = tables[key].fds
            drop = min(n, excess - gone, max(n // 2, 1))
            for fd in list(fds)[:drop]:
                del fds[fd]
            gone += drop
        if gone < excess:  # many small tables: another pass, emptying them
            for _n, key in sizes:
                if gone >= excess:
                    break
                fds = tables[key].fds
                take = min(len(fds), excess - gone)
                for fd in list(fds)[:take]:
                    del fds[fd]
                gone += take
        self.evicted += gone
        self.tracked = total - gone
        return gone
