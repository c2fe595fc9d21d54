"""Retention: drop alerts older than an age and beyond a count, periodically."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool

from lanner.services.ui.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retention:
    """Keep events younger than `max_age_ns` and at most `max_count` of them (None: no limit)."""

    max_age_ns: int | None = None
    max_count: int | None = None
    interval_seconds: float = 60.0

    @property
    def active(self) -> bool:
        """True when any limit is set."""
        return self.max_age_ns is not None or self.max_count is not None

    def apply(self, store: Store, now_ns: int | None = None) -> int:
        """Prune once; return the number of events removed."""
        now_ns = time.time_ns() if now_ns is None else now_ns
        cutoff = now_ns - self.max_age_ns if self.max_age_ns is not None else None
        return store.prune(older_than_ns=cutoff, keep=self.max_count)

    async def run(self, store: Store) -> None:
        """Prune every `interval_seconds` until cancelled."""
        while True:
            try:
                removed = await run_in_threadpool(self.apply, store)
                if removed:
                    log.info("retention removed %d events", removed)
            except Exception:
                log.exception("retention pass failed")
            await asyncio.sleep(self.interval_seconds)
