"""Falco's syscall_event_drops: act when syscall events were lost.

Live, every second the monitor compares the syscall events evaluated and the events the
probe lost in that second; on a replay (:class:`ReplayDrops`) it looks at each second of
event time, and the events lost are those a capture's drop events say the driver
discarded (``PPME_DROP_E`` with the sampling ``ratio`` R, until ``PPME_DROP_X``: of every
R events one was kept, so each event read meanwhile stands for R - 1 lost ones). When
``drops / events`` exceeds ``threshold`` (or always, with ``simulate_drops``) the monitor
performs the configured actions, at most as often as its token bucket (``rate``,
``max_burst``) allows: ``log`` a line, ``alert`` with Falco's internal message ``Falco
internal: syscall event drop`` (priority Debug, Falco's output fields), ``exit`` Lanner
with status 1; ``ignore`` does nothing. (Falco's replays read no drop counts from a
capture, so there only ``simulate_drops`` acts: reading the drop events is Lanner's.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from lanner.app.metrics import Stats
from lanner.engine.alert import Alert, internal_alert
from lanner.engine.priority import Priority

log = logging.getLogger("lanner")

DROP_RULE = "Falco internal: syscall event drop"
KERNEL_DROPS = ("syscall", "kernel_ring_full")
ONE_SECOND_NS = 1_000_000_000
# Falco's output fields of the drop alert, in its order (all strings, as Falco writes them)
_BUFFER_CATEGORIES = (
    "n_drops_buffer_clone_fork_exit",
    "n_drops_buffer_execve_exit",
    "n_drops_buffer_connect_exit",
    "n_drops_buffer_open_exit",
    "n_drops_buffer_dir_file_exit",
    "n_drops_buffer_other_interest_exit",
    "n_drops_buffer_close_exit",
    "n_drops_buffer_proc_exit",
)


class DropBucket:
    """libsinsp's token bucket as Falco's drop manager uses it: full at first
    (``max_burst`` tokens), ``rate`` tokens per second of the times given (event time on
    replays), never more than ``max_burst``; rate 0 never refills."""

    def __init__(self, rate: float, max_burst: float) -> None:
        self.rate = rate
        self.max_burst = max_burst
        self.tokens = max_burst
        self.last: int | None = None

    def claim(self, now_ns: int) -> bool:
        """Take one token at ``now_ns`` if there is one."""
        if self.last is not None and now_ns > self.last:
            self.tokens = min(self.max_burst, self.tokens + self.rate * (now_ns - self.last) / 1e9)
        self.last = now_ns
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def drop_fields(n_evts: int, n_drops: int, ebpf: bool) -> dict[str, str]:
    """Falco's output fields of the drop alert. Lanner does not tell the drops apart by
    syscall category or cause: all are counted as buffer drops."""
    fields = {"n_evts": str(n_evts), "n_drops": str(n_drops), "n_drops_buffer_total": str(n_drops)}
    for key in _BUFFER_CATEGORIES:
        fields[key] = "0"
    fields.update(
        n_drops_scratch_map="0", n_drops_page_faults="0", n_drops_bug="0",
        ebpf_enabled="1" if ebpf else "0",
    )  # fmt: skip
    return fields


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
        self.bucket = DropBucket(float(settings["rate"]), float(settings["max_burst"]))
        self.emit = emit
        self.exit_now = exit_now
        self.hostname = hostname
        self._events = stats.events.get("syscall", 0)
        self._drops = stats.event_drops.get(KERNEL_DROPS, 0)

    def check(self) -> bool:
        """Look at the last interval (live); True when the actions were performed."""
        events = self.stats.events.get("syscall", 0)
        drops = self.stats.event_drops.get(KERNEL_DROPS, 0)
        n_evts, n_drops = events - self._events, drops - self._drops
        self._events, self._drops = events, drops
        # the probe's events counted here are those read, the lost ones come on top
        return self.evaluate(n_evts + max(n_drops, 0), n_drops, time.time_ns(), ebpf=True)

    def evaluate(self, n_evts: int, n_drops: int, now_ns: int, *, ebpf: bool) -> bool:
        """One interval: ``n_evts`` events (the lost ones included) of which ``n_drops``
        were lost. True when the actions were performed."""
        if self.simulate:  # as Falco: one more drop, and the threshold is 0
            n_drops += 1
        elif n_drops <= 0 or n_drops / max(n_evts, 1) <= self.threshold:
            return False
        if not self.actions or "ignore" in self.actions or not self.bucket.claim(now_ns):
            return False
        message = f"{DROP_RULE}. {n_drops} system calls dropped in last second."
        if "log" in self.actions:
            log.warning("%s", message)
        if "alert" in self.actions:
            fields = dict(drop_fields(n_evts, n_drops, ebpf))
            self.emit(
                internal_alert(DROP_RULE, Priority.DEBUG, message, fields, self.hostname, now_ns)
            )
        if "exit" in self.actions:
            log.critical("%s", message)
            log.critical("exiting: syscall event drops (syscall_event_drops.actions has exit)")
            self.exit_now()
        return True


class ReplayDrops:
    """The drop monitor on a capture's events, by event time (as Falco's drop manager
    checks once per second of event time). ``see`` every event handed out; its number
    (``evt.num``) counts the events of the file read so far, skipped ones included."""

    def __init__(self, monitor: DropMonitor) -> None:
        self.monitor = monitor
        self.next_check = 0
        self.ratio = 0  # the driver's sampling ratio while it was dropping (0: not)
        self._read = 0  # events read at the last check
        self._mark = 0  # events read when the dropping stretch was last accounted
        self._drops = 0  # drops estimated since the last check
        self.checks = 0

    def see(self, ev: Any) -> None:
        """One event of the replay (drop events included)."""
        events_read = int(ev.num)
        etype = ev.type
        if etype in (DROP_E, DROP_X):
            self._account(events_read)
            self.ratio = int(ev.param(0) or 0) if etype == DROP_E else 0
        ts = int(ev.ts)
        if self.next_check == 0:
            self.next_check = ts + ONE_SECOND_NS
        elif ts > self.next_check:
            self.next_check = ts + ONE_SECOND_NS
            self._account(events_read)
            kept, drops = events_read - self._read, self._drops
            self._read, self._drops = events_read, 0
            self.checks += 1
            self.monitor.evaluate(kept + drops, drops, ts, ebpf=False)

    def _account(self, events_read: int) -> None:
        if self.ratio > 1:
            self._drops += (events_read - self._mark) * (self.ratio - 1)
        self._mark = events_read


def _drop_types() -> tuple[int, int]:
    from lanner.sources.syscall import event_table as et

    return et.PPME_DROP_E, et.PPME_DROP_X


DROP_E, DROP_X = _drop_types()
