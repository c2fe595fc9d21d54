"""``LiveCapture``: the probe's ring as a byte source of syscall events, decoded like
capture-file events (bare: the pipeline applies state, see ``pipeline.py``)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType

from lanner.exceptions import ProbeUnavailable

from .._native import StateCore, ring_next
from ..event import Event
from ..event_table import EVENT_COUNT
from . import snapshot as snap
from .loader import Probe, check_requirements
from .syscalls import select

log = logging.getLogger(__name__)

ALL_TYPES = bytes([1]) * EVENT_COUNT  # ring_next's wanted table: every event type


def boot_offset_ns() -> int:
    """Add to a CLOCK_BOOTTIME timestamp (what the probe records) to get epoch ns."""
    return time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)


def unsupported_line(names: Iterable[str], verbose: bool = False) -> str:
    """One short line on the event types the probe has no capture for: their count, and
    their names only when ``verbose`` (a rule without an event-type restriction asks for
    every type, hundreds of them)."""
    names = sorted(names)
    text = f"no kernel capture for {len(names)} of the rules' event types"
    if verbose:
        return f"{text}: {', '.join(names)}"
    return f"{text} (lanner run -v names them)"


class LiveCapture:
    """Capture syscall events on this host with the eBPF probe.

    Use as a context manager; iterate (blocks until :meth:`close`) or call :meth:`poll`
    for one batch of bare events. The state (``event.thread``, ``event.fdinfo``) is the
    pipeline's work: ``SyscallPipeline(LiveCapture(...), store)`` loads
    :meth:`snapshot_records` (a /proc scan taken after the probe is attached, unless
    ``snapshot=False``) and applies each event right before handing it out.

    ``event_types``: the event type names rules need (None: everything the probe
    supports); the state engine's base set is always added unless ``base=False``.
    ``ignore_self``: drop events of this Python process (its /proc scan, its outputs).
    ``wake_each_event``: the kernel wakes the reader for every event (lowest latency,
    costly for busy traced programs); by default the reader checks the ring every 50 ms.
    ``verbose``: name the event types the probe cannot capture (else only their count).
    """

    def __init__(
        self,
        event_types: Iterable[str] | None = None,
        *,
        snapshot: bool = True,
        base: bool = True,
        ignore_self: bool = True,
        ring_size: int = 8 << 20,
        probe_path: str | Path | None = None,
        batch_bytes: int = 4 << 20,
        wake_each_event: bool = False,
        verbose: bool = False,
    ) -> None:
        self._event_types = None if event_types is None else set(event_types)
        self._base = base
        self._ignore_self = ignore_self
        self._ring_size = ring_size
        self._probe_path = Path(probe_path) if probe_path is not None else None
        self._batch_bytes = batch_bytes
        self._last_take = 0.0
        self._wake_each = wake_each_event
        self._snapshot = snapshot
        self.verbose = verbose
        self.probe: Probe | None = None
        self.unsupported: set[str] = set()
        self.events_read = 0
        self._closed = False
        self.ts_offset = boot_offset_ns()  # added to the probe's boot-time timestamps

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> LiveCapture:
        """Load and attach the probe."""
        if self.probe is not None:
            return self
        check_requirements(self._probe_path)
        if self._snapshot and not snap.proc_dir_exists():
            raise ProbeUnavailable("live capture needs /proc mounted (for the process snapshot)")
        self.probe = Probe(self._probe_path, self._ring_size)
        try:
            self.probe.configure(os.getpid() if self._ignore_self else 0, self._wake_each)
            self.set_event_types(self._event_types)
        except BaseException:
            self.close()
            raise
        return self

    def snapshot_records(self) -> Iterator[object]:
        """The /proc snapshot as capture metadata records (none with ``snapshot=False``).

        Taken once the probe is attached: a process that starts in between is both in the
        snapshot and in the events, never in neither."""
        if self._snapshot:
            yield from snap.snapshot()

    def close(self) -> None:
        """Detach the probe; iteration ends."""
        self._closed = True
        if self.probe is not None:
            self.probe.close()
            self.probe = None

    def __enter__(self) -> LiveCapture:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- selection --------------------------------------------------------------------------
    outcomes: dict[str, int] | None = None  # rules' outcomes per type: probe/filters.py

    def set_event_types(self, event_types: Iterable[str] | None) -> None:
        """Change the kernel-side selection (e.g. after a rules reload)."""
        self._event_types = None if event_types is None else set(event_types)
        numbers, self.unsupported = select(self._event_types, self._base, self.outcomes)
        if self.unsupported:
            log.info("live probe: %s", unsupported_line(self.unsupported, self.verbose))
        if self.probe is not None:
            self.probe.set_syscalls(numbers)

    # -- counters ---------------------------------------------------------------------------
    @property
    def drops_per_cpu(self) -> list[int]:
        """Events lost because the ring buffer was full, per CPU."""
        if self.probe is None:
            return []
        return [c["drops_full"] for c in self.probe.counters_per_cpu()]

    @property
    def drops(self) -> int:
        """Events lost because the ring buffer was full, all CPUs."""
        return sum(self.drops_per_cpu)

    def stats(self) -> dict[str, int]:
        """Kernel counters summed over CPUs (events, drops_full, drops_truncated)."""
        out: dict[str, int] = {}
        if self.probe is not None:
            for c in self.probe.counters_per_cpu():
                for k, v in c.items():
                    out[k] = out.get(k, 0) + v
        out["events_read"] = self.events_read
        return out

    # -- reading ----------------------------------------------------------------------------
    batch_interval = 0.05  # seconds between two takes of the ring, unless it fills up

    def take(self, timeout: float | None = 0.5) -> tuple[bytes, int]:
        """Wait up to ``timeout`` seconds for events and take one batch of ring records:
        ``(data, records)``, the bytes for ``native/ring.c``'s ``ring_next`` and how many
        events they hold; ``(b"", 0)`` when none."""
        probe = self.probe
        if probe is None:
            if self._closed:
                return b"", 0
            raise RuntimeError("LiveCapture is not started")
        self._gather(probe)
        if not probe.wait(timeout):
            return b"", 0
        self._last_take = time.monotonic()
        return probe.take(self._batch_bytes)

    def _gather(self, probe: Probe) -> None:
        """Let a batch build up: take the ring at most every :attr:`batch_interval`
        seconds unless a quarter of a batch is already waiting then. Small batches cost the
        reader more per event (a queue hop, a thread switch for Python's lock) and a busy
        producer thread keeps the evaluating one waiting for that lock."""
        left = self._last_take + self.batch_interval - time.monotonic()
        if left > 0 and probe.pending() < self._batch_bytes // 4:
            time.sleep(left)  # one wakeup per batch (the ring holds 8 MiB: ~0.4 s at 200 k/s)

    def poll(self, timeout: float | None = 0.5) -> list[Event]:
        """Wait up to ``timeout`` seconds for events and return one batch, bare (no
        state applied: the pipeline does that, in C, see ``SyscallPipeline``)."""
        return self.decode(self.take(timeout)[0])

    def decode(self, data: bytes, state: StateCore | None = None) -> list[Event]:
        """Every event of a batch of ring records, numbered on from :attr:`events_read`,
        applied to ``state`` (a StateEngine) if given."""
        out: list[Event] = []
        pos, n = 0, len(data)
        num = self.events_read
        while pos < n:
            ev, to, pos, num, _filtered, _bad = ring_next(
                data, pos, num, Event, state, ALL_TYPES, b"", None, self.ts_offset, False
            )
            if to == 1:
                out.append(ev)
            elif to == -1:
                raise ev
            elif ev is None:
                break
        self.events_read = num
        return out

    def __iter__(self) -> Iterator[Event]:
        while not self._closed and self.probe is not None:
            yield from self.poll(0.25)

    def events(self, duration: float) -> Iterator[Event]:
        """Events for ``duration`` seconds, then stop (the capture stays open)."""
        end = time.monotonic() + duration
        while self.probe is not None:
            left = end - time.monotonic()
            if left <= 0:
                return
            yield from self.poll(min(left, 0.25))
