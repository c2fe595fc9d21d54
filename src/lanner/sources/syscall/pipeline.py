"""The syscall pipeline: a byte source in, events with state out (libsinsp's ``sinsp::next``).

One object serves every consumer of syscall events (``lanner run`` live and ``-e``,
``lanner capture``, ``lanner dump``)::

    source (CaptureFile | LiveCapture) -> records -> run(): per record, in order
        metadata record -> state.load_record, tee
        event           -> state.process (right before it is handed out), tee,
                           container event -> metadata store, yield,
                           then the inserter's container events (live) -> tee, yield

State is applied to each event right before it is handed out, so a consumer that
evaluates events as they come sees the tables as they were at that event (removals of
exited threads and closed fds are deferred to the next event by the state engine). The
container metadata store is passed in; nothing here is process-global. The per-event loop
is :meth:`SyscallPipeline.run`, the one place a native core replaces; for capture files
the native walk (``ScapReader.replay``) already applies every event to the state engine
and returns only the wanted ones, which ``run`` then finishes (store, tee, yield).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, NamedTuple, Protocol

from . import event_table as et
from ._native import ring_next
from .containers.capture import CONTAINER_EVENTS, info_from_container_json
from .containers.store import MetadataStore
from .event import Event
from .scap import ScapReader
from .scap.reader import _wanted_tables
from .state import StateEngine
from .state.fd_cap import DEFAULT_MAX_FDS, FdCap

log = logging.getLogger(__name__)

Record = Any  # an Event or a metadata record (ProcList, FdList, UserList, MachineInfo...)

# what run() does with an event of a type, after the state engine saw it
_DROP, _YIELD, _YIELD_IF_NAMED, _CONTAINER, _CONTAINER_QUIET = 0, 1, 2, 3, 4
_GENERIC = frozenset({et.PPME_GENERIC_E, et.PPME_GENERIC_X})


class RingBatch(NamedTuple):
    """Records taken from the probe's ring (``LiveCapture.take``), not walked yet."""

    data: bytes
    records: int  # events in data


class Inserter(Protocol):
    """Makes container events to insert after an event (the live announcer, the recorder
    of ``lanner capture``)."""

    def check(self, event: Any) -> list[Event]:
        """Container events due after ``event`` (usually none)."""
        ...


class CaptureFile:
    """A capture file (plain or gzip, by magic) as a byte source."""

    def __init__(self, source: str | Path | BinaryIO) -> None:
        self.source = source
        self.name = str(source) if isinstance(source, (str, Path)) else "<stream>"
        self.reader: ScapReader | None = None

    def records(
        self,
        keep: frozenset[int] | None,
        state: StateEngine,
        wanted: frozenset[int] | None,
        names: frozenset[str] | None,
        candidates: Callable[[], Any] | None = None,
    ) -> Iterator[Record]:
        """Metadata records, and the events of types in ``wanted`` (None: all; generic
        events only for syscalls in ``names``) with ``state`` applied up to and including
        each (the native walk applies and drops the others: ``ScapReader.replay``), less
        those that fail ``candidates()`` (container and drop events apart). Events of types outside
        ``keep`` are skipped from their header (only counted). Raises ScapError on damage,
        after what came before."""
        self.reader = ScapReader(self.source, keep)
        return self.reader.replay(state, wanted, names, candidates, UNFILTERED_TYPES)

    @property
    def events_dropped(self) -> int:
        """Wanted events the candidate conditions dropped so far."""
        return 0 if self.reader is None else self.reader.dropped_events

    @property
    def events_read(self) -> int:
        """Events of the file read so far (kept or skipped; final once the file ended)."""
        return 0 if self.reader is None else self.reader.events_read

    def progress(self) -> float | None:
        """Fraction of the file read (None: unknown size)."""
        return None if self.reader is None else self.reader.progress()


class SyscallPipeline:
    """Events with state from a capture file or the probe's ring, in event order.

    ``source``: a :class:`CaptureFile` or a started-on-demand ``LiveCapture`` (the ring).
    ``store``: the container metadata store that container events fill (None: not kept).
    ``event_types``: evt.type names the consumer evaluates; other events only update the
    state (None: every event is handed out). ``state``: the state engine (a fresh one by
    default). ``tee``: a capture writer that gets every record read, events after their
    state was applied and only when ``tee_filter(event)`` holds, if given; inserted
    container events always. ``inserter``: makes container events after events (live).
    ``with_state=False``: events are not applied to the state engine (metadata records
    still are) - for a tee without a filter, where nothing reads the state (``lanner
    capture -w`` without FILTER: as fast as the ring can be written).
    ``candidates``: for a capture file without a tee, returns the rules' current
    candidate conditions (a ``_native.CandidateEvents``, or None): the native walk drops
    the events that fail them after applying their state, without making them Python
    objects (:attr:`events_dropped` counts them); container events are always handed out.
    ``max_fds``: live, the fds tracked across every table (``falco_libs.fd_table_size``;
    past it the oldest fds of the largest tables are evicted, see ``state/fd_cap.py``).
    """

    def __init__(
        self,
        source: Any,
        store: MetadataStore | None = None,
        *,
        event_types: Iterable[str] | None = None,
        state: StateEngine | None = None,
        tee: Any = None,
        tee_filter: Callable[[Event], bool] | None = None,
        inserter: Inserter | None = None,
        with_state: bool = True,
        candidates: Callable[[], Any] | None = None,
        max_fds: int = DEFAULT_MAX_FDS,
    ) -> None:
        self.source = source
        self.candidates = candidates
        self.with_state = with_state
        self.store = store
        self.state = state if state is not None else StateEngine()
        self.tee = tee
        self.tee_filter = tee_filter
        self.inserter = inserter
        self.live = hasattr(source, "poll")
        self.events_out = 0  # events handed out (the ones the rules evaluate)
        self.events_teed = 0  # events read and written to the tee (inserted ones apart)
        self.inserted = 0  # container events inserted
        self.bad_container_events = 0  # container events whose JSON was not usable
        self.events_filtered = 0  # ring events of wanted types the candidate filter dropped
        self.bad_records = 0  # damaged ring records skipped
        self.state_errors = 0  # ring events the state engine raised on (skipped)
        # told after each ring batch how many events it read and did not hand out (for
        # the consumer's counters)
        self.on_batch: Callable[[int], None] | None = None
        self._ring_wanted = b""
        self._ring_codes = b""
        # live: the global bound on tracked fds, checked every few seconds between events
        self.fd_cap = FdCap(self.state.threads, max_fds) if self.live else None
        self._batches_begun = 0  # ring batches run_ring started / finished walking
        self._batches_done = 0
        self._started = False
        self._names: frozenset[str] = frozenset()
        self._act: tuple[int, ...] = ()
        self._keep: frozenset[int] | None = None
        self._wanted: frozenset[int] | None = None
        self._select(event_types)

    # -- selection ------------------------------------------------------------------------
    def _select(self, event_types: Iterable[str] | None) -> None:
        act = [_YIELD] * et.EVENT_COUNT
        keep = wanted_ids = None
        if event_types is not None and not self.live:
            names = frozenset(event_types)
            wanted = type_ids(names)
            act = [_DROP] * et.EVENT_COUNT
            for t in wanted:
                act[t] = _YIELD_IF_NAMED if t in _GENERIC else _YIELD
            self._names = names
            # the tee gets what is read: with one, every event is built and comes back
            if self.tee is None:
                wanted_ids = wanted | CONTAINER_TYPES
                keep = wanted_ids | STATE_TYPES
        for t in CONTAINER_TYPES:  # always read: they fill the store; handed out if wanted
            act[t] = _CONTAINER if act[t] else _CONTAINER_QUIET
        self._act = tuple(act)
        self._keep = keep
        self._wanted = wanted_ids
        if self.live:
            self.select_ring(event_types)

    def select_ring(self, event_types: Iterable[str] | None) -> None:
        """What the ring walk hands out: events of ``event_types`` (None: all) that pass
        ``candidates()`` (read at each event handed out); the others only update the
        state. With a tee, every event is handed out (the tee writes what is read). The
        container announcer also gets the events that can bring a new container (clone,
        execve: their cgroups) and the last event of each batch."""
        if self.tee is not None:
            event_types = None
        names = None if event_types is None else frozenset(event_types)
        ids = None if names is None else type_ids(names)
        wanted, codes = _wanted_tables(ids, names, self.tee is None)
        if self.inserter is not None:
            table = bytearray(wanted)
            for t in CGROUP_TYPES:
                table[t] |= LN_W_INSERTER
            wanted = bytes(table)
        self._ring_wanted, self._ring_codes = wanted, codes

    def settle(self, timeout: float = 2.0) -> None:
        """Wait until the ring batch being walked (if any) is done: it read the selection
        when it started, so the batches after this call use the one set before it."""
        begun = self._batches_begun
        end = time.monotonic() + timeout
        while self._batches_done < begun and time.monotonic() < end:
            time.sleep(0.001)

    def set_event_types(self, event_types: Iterable[str] | None) -> None:
        """Change what the probe captures (a rules reload); live sources only."""
        if self.live:
            self.source.set_event_types(event_types)

    # -- counters -------------------------------------------------------------------------
    @property
    def events_read(self) -> int:
        """Events read from the source (a file's skipped ones included)."""
        return int(self.source.events_read)

    @property
    def drops(self) -> int:
        """Events the kernel lost because the ring was full (0 for files)."""
        return int(self.source.drops) if self.live else 0

    @property
    def events_dropped(self) -> int:
        """Events of a capture file the candidate conditions dropped in the native walk."""
        return 0 if self.live else int(self.source.events_dropped)

    def progress(self) -> float | None:
        """Fraction of a capture file read (None: live, or unknown size)."""
        return None if self.live else self.source.progress()

    def stats(self) -> dict[str, int]:
        """The counters, with the probe's kernel counters for a live source."""
        out = dict(self.source.stats()) if self.live else {}
        out.update(
            events_read=self.events_read,
            events_out=self.events_out,
            events_teed=self.events_teed,
            events_dropped=self.events_dropped,
            container_events_inserted=self.inserted,
            drops=self.drops,
        )
        return out

    # -- the per-event loop ---------------------------------------------------------------
    def run(self, records: Iterable[Record], *, applied: bool = False) -> Iterator[Event]:
        """Apply ``records`` in order and yield the events to hand out: the one loop.
        ``applied``: the events already went through the state engine (a capture file's
        native walk, ``ScapReader.replay``)."""
        state = self.state
        process = state.process if self.with_state and not applied else None
        load = state.load_record
        act = self._act
        names = self._names
        tee = self.tee.write if self.tee is not None else None
        tee_event = self.tee.event if self.tee is not None else None
        tee_filter = self.tee_filter
        # a tee that settles an event once it was evaluated (the alert capture) hears at
        # once of those not handed out: a capture's deadline is checked on every event read
        tee_done = getattr(self.tee, "done", None) if self.tee is not None else None
        insert = self.inserter.check if self.inserter is not None else None
        see_record = getattr(self.inserter, "see_record", None)
        out = 0  # events handed out by this call; self.events_out is kept up to date
        base = self.events_out  # every 1024 events and at the end (a local is cheaper)
        try:
            for rec in records:
                if type(rec) is not Event:
                    load(rec)
                    if tee is not None:
                        tee(rec)
                    if see_record is not None:
                        see_record(rec)
                    continue
                if process is not None:
                    process(rec)
                if tee_event is not None and (tee_filter is None or tee_filter(rec)):
                    tee_event(rec)
                    self.events_teed += 1
                a = act[rec.type]
                if a == _YIELD or (a == _YIELD_IF_NAMED and rec.name in names):
                    out += 1
                    if not out & 1023:
                        self.events_out = base + out
                    yield rec
                elif a >= _CONTAINER:
                    self._remember(rec)
                    if a == _CONTAINER:
                        out += 1
                        yield rec
                    elif tee_done is not None:
                        tee_done(rec)
                elif tee_done is not None:
                    tee_done(rec)
                if insert is not None:
                    extra = insert(rec)
                    if extra:
                        for cev in extra:
                            self.inserted += 1
                            if tee_event is not None:
                                tee_event(cev)
                            out += 1
                            yield cev
        finally:
            self.events_out = base + out

    def run_ring(self, data: bytes) -> Iterator[Event]:
        """One batch of ring records (``LiveCapture.take``) through the native walk
        (``native/ring.c``): every event is decoded and applied to the state in C, and
        only those :meth:`select_ring` wants come back, each with the state applied up to
        and including it, then the announcer's container events. With a tee, every event
        goes through :meth:`run` instead (written, then handed out)."""
        if self.fd_cap is not None:
            self.fd_cap.check()
        if self.tee is not None:  # bare events, the state applied by run() one by one
            yield from self.run(self.source.decode(data))
            return
        src = self.source
        state = self.state if self.with_state else None
        insert = self.inserter.check if self.inserter is not None else None
        current = self.candidates
        wanted, codes = self._ring_wanted, self._ring_codes
        offset = src.ts_offset
        read0 = src.events_read
        out = ins = 0  # events handed out, of which container events inserted
        pos, n = 0, len(data)
        self._batches_begun += 1
        try:
            while pos < n:
                ev, to, pos, num, filtered, bad = ring_next(
                    data, pos, src.events_read, Event, state, wanted, codes,
                    None if current is None else current(), offset, insert is not None,
                )  # fmt: skip
                src.events_read = num
                if filtered:
                    self.events_filtered += filtered
                if bad:
                    self.bad_records += bad
                if to == 1:
                    out += 1
                    yield ev
                elif to == -1:
                    self._state_error(ev)
                    continue
                elif ev is None:
                    break
                if insert is not None:
                    for cev in insert(ev):
                        self.inserted += 1
                        ins += 1
                        out += 1
                        yield cev
                # a reload may have changed the selection meanwhile (see settle)
                wanted, codes = self._ring_wanted, self._ring_codes
        finally:
            self._batches_done += 1
            self.events_out += out
            if self.on_batch is not None:
                self.on_batch(src.events_read - read0 - (out - ins))

    def state_counters(self) -> dict[str, int]:
        """The state tables' sizes and bounds (for metrics): threads tracked and refused,
        fds refused at a process's cap, fds tracked (at the last count) and evicted at
        the global cap, ring records skipped as damaged, events the state engine failed
        on, events of wanted types the candidate filter dropped."""
        out = dict(self.state.counters())
        if self.fd_cap is not None:
            out["fds"] = self.fd_cap.tracked
            out["fds_evicted"] = self.fd_cap.evicted
        out["bad_records"] = self.bad_records
        out["state_errors"] = self.state_errors
        out["events_filtered"] = self.events_filtered
        return out

    def _state_error(self, exc: BaseException) -> None:
        """One ring event the state engine (or the filter) raised on: counted, logged
        the first times; the walk goes on with the next event."""
        self.state_errors += 1
        if self.state_errors <= 10:
            log.warning("syscall event skipped: the state engine failed on it: %r", exc)

    def _remember(self, ev: Event) -> None:
        """A container event's metadata into the store, for the events after it."""
        if self.store is None or not ev.nparams:
            return
        raw = ev.raw(0)
        info = info_from_container_json(raw) if raw else None
        if info is None:
            self.bad_container_events += 1
            return
        self.store.put(info)

    # -- reading --------------------------------------------------------------------------
    def start(self) -> SyscallPipeline:
        """Start a live source: attach the probe, then load its /proc snapshot (through
        :meth:`run`, so the tee gets it too). Nothing for files."""
        if self._started or not self.live:
            return self
        self._started = True
        self.source.start()
        for _ in self.run(self.source.snapshot_records()):
            pass
        return self

    def close(self) -> None:
        """Detach the probe (live); iteration ends."""
        if self.live:
            self.source.close()

    def __enter__(self) -> SyscallPipeline:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def read(self, timeout: float | None = 0.25) -> RingBatch | None:
        """One batch of ring records, not walked yet (pass it to :meth:`run_ring` in the
        thread that evaluates); None when the ring had nothing. Live sources only."""
        data, records = self.source.take(timeout)
        return RingBatch(data, records) if data else None

    def poll(self, timeout: float | None = 0.25) -> list[Event]:
        """One batch from the ring, through :meth:`run_ring`."""
        batch = self.read(timeout)
        return [] if batch is None else list(self.run_ring(batch.data))

    def __iter__(self) -> Iterator[Event]:
        """Every event to hand out: a file to its end; the ring until :meth:`close`."""
        if not self.live:  # run() itself: no generator layer in between
            names = self._names if self._wanted is not None else None
            cands = self.candidates if self.tee is None else None  # the tee gets them all
            records = self.source.records(self._keep, self.state, self._wanted, names, cands)
            return self.run(records, applied=True)
        return self._live()

    def _live(self) -> Iterator[Event]:
        self.start()
        while self.source.probe is not None:
            batch = self.read(0.25)
            if batch is not None:
                yield from self.run_ring(batch.data)

    def merge(self, items: Iterable[Any]) -> Iterator[Any]:
        """``(source, payload)`` items of a live feed with this pipeline's ring batches
        (``("syscall", RingBatch)``, from :meth:`read`) expanded into
        ``("syscall", event)``; everything else passes through."""
        for item in items:
            if type(item) is tuple and item[0] == "syscall" and type(item[1]) is RingBatch:
                for ev in self.run_ring(item[1].data):
                    yield "syscall", ev
            else:
                yield item


def type_ids(names: Iterable[str]) -> frozenset[int]:
    """Event type ids (both directions, every version) of evt.type names.

    Syscalls without an event of their own (in the capture's driver) arrive as generic
    ``syscall`` events, so a name of the syscall-code table brings in the generic ids;
    their name is checked later.
    """
    names = set(names)
    ids = {i for i, n in enumerate(et.EVENT_NAMES) if n in names}
    # also when the syscall has an event of its own: older captures (and drivers) record
    # it as a generic event (curl_google.scap's mprotect)
    if names & set(et.SYSCALL_CODE_NAMES):
        ids |= _GENERIC
    return frozenset(ids)


def _state_types() -> frozenset[int]:
    """Types the state engine must see: those with a handler, and their enter events
    (exit handlers read the enter's parameters in old captures)."""
    ids = {i for i in range(et.EVENT_COUNT) if StateEngine.has_handler(i)}
    ids |= {i - 1 for i in ids if i > 0 and et.EVENT_DIRS[i] == "<"}
    return frozenset(ids)


STATE_TYPES = _state_types()
"""Event type ids that can change threads, fds or users (never skipped from the header)."""
CONTAINER_TYPES = frozenset(CONTAINER_EVENTS)
"""Container events: always read, they fill the metadata store."""
UNFILTERED_TYPES = CONTAINER_TYPES | {et.PPME_DROP_E, et.PPME_DROP_X}
"""Wanted events the candidate conditions never drop: container events, and the driver's
drop events (the replay's syscall_event_drops monitor reads them)."""
CGROUP_TYPES = frozenset(
    i for i in range(et.EVENT_COUNT) if any(p[0] == "cgroups" for p in et.EVENT_PARAMS[i])
)
"""Events that carry a thread's cgroups (clone, execve exits): a new container shows there."""
LN_W_INSERTER = 16  # native/next.h: handed to the container announcer only
