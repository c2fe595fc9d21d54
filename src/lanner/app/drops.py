"""Falco's syscall_event_drops: act when the kernel loses syscall events.

Every second the monitor compares the syscall events evaluated and the events the probe
lost in that second; when ``drops / events`` exceeds ``threshold`` (or always, with
``simulate_drops``) it performs the configured actions, at most as often as its token
bucket (``rate``, ``max_burst``) allows: ``log`` a line, ``alert`` with Falco's internal
rule ``Falco internal: syscall event drop`` (priority Debug), ``exit`` Lanner with a
non-zero status; ``ignore`` does nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from lanner.app.metrics import Stats
from lanner.app.ratelimit import TokenBucket
from lanner.engine.alert import Alert
from lanner.engine.priority import Priority

log = logging.getLogger("lanner")

DROP_RULE = "Falco internal: syscall event drop"
KERNEL_DROPS = ("syscall", "kernel_ring_full")


class DropMonitor:
    """Checks the last second's drop ratio and performs Falco's actions."""

    def __init__(
        self,
        stats: Stats,
        settings: dict[str, Any],
        *,
        emit: Callable[[Alert], None],
        exit_now: Callable[[], None],
        hostname: str,
    ) -> None:
        self.stats = stats
        # the section as checked against the configuration scheme: every key is present
        self.threshold = float(settings["threshold"])
        self.actions = [str(a).lower() for a in settings["actions"]]
        self.simulate = bool(settings["simulate_drops"])
        self.bucket = TokenBucket(float(settings["rate"]), int(settings["max_burst"]))
        self.emit = emit
        self.exit_now = exit_now
        self.hostname = hostname
        self._events = stats.events.get("syscall", 0)
        self._drops = stats.event_drops.get(KERNEL_DROPS, 0)

    def check(self) -> bool:
        """Look at the last interval; True when the actions were performed."""
        events = self.stats.events.get("syscall", 0)
        drops = self.stats.event_drops.get(KERNEL_DROPS, 0)
        n_evts, n_drops = events - self._events, drops - self._drops
        self._events, self._drops = events, drops
        if self.simulate:
            n_drops = max(n_drops, 1)
        elif n_drops <= 0 or n_drops / max(n_evts, 1) <= self.threshold:
            return False
        if not self.actions or "ignore" in self.actions or not self.bucket.claim():
            return False
        message = (
            f"Falco internal: syscall event drop. {n_drops} system calls dropped in last second."
        )
        if "log" in self.actions:
            log.warning("%s", message)
        if "alert" in self.actions:
            now = time.time_ns()
            self.emit(
                Alert(
                    rule=DROP_RULE,
                    priority=Priority.DEBUG,
                    source="syscall",
                    time_ns=now,
                    message=message,
                    output_fields={
                        "n_evts": n_evts,
                        "n_drops": n_drops,
                        "n_drops_buffer": n_drops,
                        "ebpf_enabled": 1,
                        "evt.time": now,
                    },
                    tags=[],
                    hostname=self.hostname,
                )
            )
        if "exit" in self.actions:
            log.critical("exiting: syscall event drops (syscall_event_drops.actions has exit)")
            self.exit_now()
        return True
