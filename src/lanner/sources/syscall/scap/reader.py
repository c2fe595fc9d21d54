"""Stream a .scap file: metadata blocks decoded, event blocks turned into :class:`Event`."""

from __future__ import annotations

import io
import logging
import os
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from lanner import records
from lanner.exceptions import ScapError

from .. import event_table as et
from ..event import Event
from . import blocks
from .metadata import (
    FdRecord,
    GroupRecord,
    Interface,
    MachineInfo,
    ProcRecord,
    UserRecord,
    parse_fdlist,
    parse_iflist,
    parse_machine_info,
    parse_proclist,
    parse_userlist,
)
from .stream import CHUNK, MAX_BLOCK, open_capture, read_chunk

try:  # the event-block walk in C (native/walk.c), built by pip install
    from .._native import replay as _c_replay
    from .._native import walk as _c_walk
except ImportError as _exc:  # pragma: no cover - a broken install
    raise ImportError(
        "lanner.sources.syscall._native (the syscall source's C core) is not built: "
        "reinstall lanner with `pip install -e .` (scripts/setup.sh) on a machine with gcc "
        f"and the Python headers ({_exc})"
    ) from _exc

log = logging.getLogger(__name__)

USE_C_WALK = True
"""Whether readers use the C event-block walk; False makes the Python loop below, which
handles every block the C walk leaves to it, handle them all (tests compare both)."""

_BLOCK_HDR = struct.Struct("<II")
_HDR_V1 = struct.Struct("<QqIH")  # ts, tid, len, type
_HDR_V2 = struct.Struct("<QqIHI")  # ts, tid, len, type, nparams
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_LARGE = tuple(bool(f & et.EF_LARGE_PAYLOAD) for f in et.EVENT_FLAGS)
_NPARAMS = tuple(len(p) for p in et.EVENT_PARAMS)
assert max(_NPARAMS) < 64, "the C walk keeps parameter counts in six bits"


class SectionHeader(records.Record):
    """The section header block: format version and skipped options size."""

    __slots__ = __match_args__ = ("major", "minor", "section_length", "options_len")
    major: int
    minor: int
    section_length: int
    options_len: int

    def __init__(self, major: int, minor: int, section_length: int, options_len: int = 0) -> None:
        self.major = major
        self.minor = minor
        self.section_length = section_length
        self.options_len = options_len


class ProcList(records.Record):
    """A process-list block: threads known when the capture started."""

    __slots__ = __match_args__ = ("threads",)
    threads: list[ProcRecord]

    def __init__(self, threads: list[ProcRecord]) -> None:
        self.threads = threads


class FdList(records.Record):
    """An fd-list block: the open fds of one thread."""

    __slots__ = __match_args__ = ("tid", "fds")
    tid: int
    fds: list[FdRecord]

    def __init__(self, tid: int, fds: list[FdRecord]) -> None:
        self.tid = tid
        self.fds = fds


class UserList(records.Record):
    """A user-list block."""

    __slots__ = __match_args__ = ("users", "groups")
    users: list[UserRecord]
    groups: list[GroupRecord]

    def __init__(
        self, users: list[UserRecord] | None = None, groups: list[GroupRecord] | None = None
    ) -> None:
        self.users = [] if users is None else users
        self.groups = [] if groups is None else groups


class InterfaceList(records.Record):
    """An interface-list block."""

    __slots__ = __match_args__ = ("interfaces",)
    interfaces: list[Interface]

    def __init__(self, interfaces: list[Interface]) -> None:
        self.interfaces = interfaces


Record = Event | SectionHeader | MachineInfo | ProcList | FdList | UserList | InterfaceList


class ScapReader:
    """Read a capture file block by block.

    Iterating yields every record in file order: metadata blocks as records and events
    as :class:`Event`. A corrupt or truncated file raises :class:`ScapError` (with the
    byte offset) after every record before the damage has been yielded. Unknown block types
    are skipped with a warning; events whose type id this table does not know are skipped
    like libscap does.
    """

    def __init__(
        self, source: str | Path | BinaryIO, keep_types: frozenset[int] | None = None
    ) -> None:
        """``keep_types``: event type ids to build; others are only counted (evt.num)."""
        self._source = source
        self.skipped_blocks: list[tuple[int, int]] = []
        self.skipped_events = 0
        self.dropped_events = 0  # wanted events the candidate conditions dropped (replay)
        self.events_read = 0  # every event of the file so far (kept or rejected), set at the end
        self.total_bytes: int | None = None
        self._raw: BinaryIO | None = None
        self._finished = False
        self._keep = (
            None if keep_types is None else tuple(i in keep_types for i in range(et.EVENT_COUNT))
        )

    def _open(self) -> BinaryIO:
        try:
            f = open_capture(self._source)
        except OSError as exc:
            raise ScapError(f"cannot open capture: {exc}", 0) from exc
        self._raw = getattr(f, "raw_file", f)
        try:
            self.total_bytes = os.fstat(self._raw.fileno()).st_size
        except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
            self.total_bytes = None
        return f

    def progress(self) -> float | None:
        """Fraction of the file consumed so far (compressed bytes for gzip), if known."""
        raw = self._raw
        if self._finished:
            return 1.0
        if raw is None or not self.total_bytes:
            return None
        try:
            return min(raw.tell() / self.total_bytes, 1.0)
        except (OSError, ValueError):
            return None

    def __iter__(self) -> Iterator[Record]:
        return self._records(self._open(), isinstance(self._source, (str, Path)))

    def replay(
        self,
        state: Any,
        wanted: frozenset[int] | None = None,
        names: frozenset[str] | None = None,
        candidates: Callable[[], Any] | None = None,
        unfiltered: frozenset[int] = frozenset(),
    ) -> Iterator[Record]:
        """Records in file order, every event applied to ``state`` (a StateEngine) as it is
        read, and only events whose type is in ``wanted`` (all when None) yielded, each
        with state applied up to and including it (libsinsp's next()); with ``names``,
        generic events only when their syscall's name is one of them. Metadata records
        are yielded for the caller to load into ``state``. The C walk (native/walk_py.c
        replay) applies and drops the other events without returning to Python.

        ``candidates``: returns the rules' current candidate conditions (a
        ``_native.CandidateEvents``, or None: keep everything); wanted events of types
        outside ``unfiltered`` that fail them are dropped too, after their state, and
        counted in ``dropped_events``."""
        return self._records(
            self._open(),
            isinstance(self._source, (str, Path)),
            state,
            wanted,
            names,
            candidates,
            unfiltered,
        )

    def events(self) -> Iterator[Event]:
        """Only the events."""
        for rec in self:
            if type(rec) is Event:
                yield rec

    def _records(
        self,
        f: BinaryIO,
        close: bool,
        state: Any = None,
        wanted: frozenset[int] | None = None,
        names: frozenset[str] | None = None,
        candidates: Callable[[], Any] | None = None,
        unfiltered: frozenset[int] = frozenset(),
    ) -> Iterator[Record]:
        # One loop walks blocks and builds events in place: this is the hot path.
        num = 0  # events of the file so far, kept or rejected (evt.num)
        try:
            read = f.read
            buf = read_chunk(read, CHUNK, 0)
            base = 0  # stream offset of buf[0]
            pos = 0
            first = True
            ev_types = blocks.EVENT_TYPES
            large_blocks = blocks.LARGE_EVENT_TYPES
            max_small = blocks.MAX_SMALL_EVENT_BLOCK + 8
            hdr = _BLOCK_HDR.unpack_from
            hdr_v1 = _HDR_V1.unpack_from
            hdr_v2 = _HDR_V2.unpack_from
            u16 = _U16.unpack_from
            u32 = _U32.unpack_from
            large_types = _LARGE
            max_type = et.EVENT_COUNT
            keep = self._keep
            hint = bytearray(_NPARAMS)  # per type, the count the last v1 event had
            lens16 = _LENS16
            fast = _c_walk if USE_C_WALK else None
            types = self._walk_types()
            process = state.process if state is not None else None
            want, codes = _wanted_tables(wanted, names, candidates is not None, unfiltered, state)
            current = candidates if candidates is not None else _no_candidates
            # the chunk to go on with (and where) once a block that straddled two chunks
            # has been walked on its own, and the stream offset of that chunk
            pending: tuple[bytes, int] | None = None
            pending_base = 0
            while True:
                n = len(buf)
                while pos + 8 <= n:
                    if fast is not None and not first:
                        # every event block it can handle; it stops at anything else
                        if process is None:
                            evs, pos, num, skipped = fast(buf, pos, base, types, hint, num, Event)
                            if skipped:
                                self.skipped_events += skipped
                            yield from evs
                        else:
                            while True:  # one wanted event at a time, state applied
                                evt, pos, num, skipped, dropped = _c_replay(
                                    buf,
                                    pos,
                                    base,
                                    types,
                                    hint,
                                    num,
                                    Event,
                                    state,
                                    want,
                                    codes,
                                    current(),
                                )
                                if skipped:
                                    self.skipped_events += skipped
                                if dropped:
                                    self.dropped_events += dropped
                                if evt is None:
                                    break
                                yield evt
                        if pos + 8 > n:
                            break
                    btype, blen = hdr(buf, pos)
                    if blen < 12 or blen > MAX_BLOCK:
                        raise ScapError(
                            f"invalid block length {blen} for block type {btype:#x}", base + pos
                        )
                    bend = pos + blen
                    if bend > n:
                        break  # incomplete: read more
                    if u32(buf, bend - 4)[0] != blen:
                        raise ScapError(
                            f"block trailer length {u32(buf, bend - 4)[0]} differs from header "
                            f"length {blen}",
                            base + pos,
                        )
                    offset = base + pos
                    start = pos + 8
                    end = bend - 4
                    pos = bend
                    if first:
                        first = False
                        if btype != blocks.SHB:
                            raise ScapError(f"not a capture file: first block type {btype:#x}", 0)
                        yield self._section_header(buf, start, end, offset)
                        continue
                    kind = ev_types.get(btype)
                    if kind is None:
                        yield from self._metadata(btype, buf, start, end, offset)
                        continue
                    has_nparams, has_flags = kind
                    if blen > max_small and btype not in large_blocks:
                        raise ScapError(f"event block too long ({blen} bytes)", offset)
                    p = start + 2
                    dump_flags = 0
                    if has_flags:
                        if p + 4 > end:
                            raise ScapError("event block too short", offset)
                        dump_flags = u32(buf, p)[0]
                        p += 4
                    if has_nparams:
                        if p + 26 > end:
                            raise ScapError("event block too short for an event header", offset)
                        ts, tid, elen, etype, nparams = hdr_v2(buf, p)
                        hlen = 26
                    else:
                        if p + 22 > end:
                            raise ScapError("event block too short for an event header", offset)
                        ts, tid, elen, etype = hdr_v1(buf, p)
                        hlen = 22
                        nparams = -1
                    evend = p + elen
                    if elen < hlen or evend > end:
                        raise ScapError(
                            f"event length {elen} does not fit its block ({end - p} bytes)", offset
                        )
                    if etype >= max_type:
                        self.skipped_events += 1
                        continue
                    if keep is not None and not keep[etype]:
                        num += 1  # rejected from the header alone, still numbered
                        continue
                    large = large_types[etype]
                    if nparams < 0:
                        # v1 events carry no count: the table's count fits almost always
                        n0 = hint[etype]
                        vals = p + hlen + 2 * n0
                        if (
                            vals <= evend
                            and vals + sum(lens16[n0].unpack_from(buf, p + hlen)) == evend
                        ):
                            nparams = n0
                        else:
                            nparams = hint[etype] = _v1_nparams(buf, p + hlen, evend, etype, offset)
                    elif p + hlen + nparams * (4 if large else 2) > evend:
                        raise ScapError(f"event has {nparams} params but only {elen} bytes", offset)
                    num += 1
                    evt = Event(
                        num,
                        ts,
                        tid,
                        etype,
                        nparams,
                        buf,
                        p + hlen,
                        evend,
                        large,
                        u16(buf, start)[0],
                        dump_flags,
                        offset,
                    )
                    if process is not None:
                        w = want[etype]
                        if w & 32 and evt.name not in names:  # type: ignore[operator]
                            continue  # a generic event no one wants, not needed by the state
                        process(evt)
                        if not w or (w & 2 and names is not None and evt.name not in names):
                            continue
                        if w & 8 and (cands := current()) is not None and not cands.accepts(evt):
                            self.dropped_events += 1
                            continue
                    yield evt
                if pending is not None:
                    # the block that straddled two chunks is done: on with the next chunk
                    base, (buf, pos) = pending_base, pending
                    pending = None
                    continue
                # Need more data: read the next chunk.
                avail = n - pos
                need = CHUNK
                blen = 0
                if avail >= 8:
                    blen = hdr(buf, pos)[1]
                    need = max(CHUNK, blen - avail)
                more = read_chunk(read, need, base + n)
                if not more:
                    if avail == 0:
                        if first:
                            raise ScapError("empty capture file", 0)
                        return
                    what = "block header" if avail < 8 else "block"
                    raise ScapError(f"truncated {what}: only {avail} bytes left", base + pos)
                rest = blen - avail  # what the straddling block has in ``more``
                if avail == 0:
                    buf, base, pos = more, base + n, 0  # no copy
                elif 12 <= blen <= MAX_BLOCK and 0 < rest <= len(more):
                    # Only the straddling block is copied (the tail and its rest), walked
                    # alone; then the walk goes on in ``more`` after it. Joining the whole
                    # chunk to the tail cost a copy of every byte (and fresh pages).
                    pending, pending_base = (more, rest), base + n
                    buf, base, pos = buf[pos:] + more[:rest], base + pos, 0
                else:  # a header cut in two, or a damaged length: the loop reports it
                    buf = buf[pos:] + more
                    base += pos
                    pos = 0
        finally:
            self.events_read = num
            self._finished = True
            if close:
                f.close()

    def _walk_types(self) -> bytes:
        """The C walk's type table: per event type id, 1 = keep, 2 = 32-bit param lengths,
        the upper six bits its parameter count (native/walk.h)."""
        keep = self._keep
        return bytes(
            (1 if keep is None or keep[i] else 0) | (2 if _LARGE[i] else 0) | _NPARAMS[i] << 2
            for i in range(et.EVENT_COUNT)
        )

    def _section_header(self, buf: bytes, start: int, end: int, offset: int) -> SectionHeader:
        if end - start < 16:
            raise ScapError("section header block too short", offset)
        magic, major, minor, length = struct.unpack_from("<IHHq", buf, start)
        if magic != blocks.SHB_MAGIC:
            raise ScapError(f"invalid byte-order magic {magic:#x}", offset + 8)
        if major > 1:
            raise ScapError(f"unsupported capture format version {major}.{minor}", offset + 12)
        # Anything after the fixed fields is options (pcapng-style); skip them.
        return SectionHeader(major, minor, length, end - start - 16)

    def _metadata(
        self, btype: int, buf: bytes, start: int, end: int, offset: int
    ) -> Iterator[Record]:
        if btype == blocks.SHB:
            yield self._section_header(buf, start, end, offset)
        elif btype in blocks.MACHINE_INFO_TYPES:
            yield parse_machine_info(buf, start, end, offset)
        elif btype in blocks.PROCLIST_VERSION:
            yield ProcList(parse_proclist(buf, start, end, btype, offset))
        elif btype in blocks.FDLIST_TYPES:
            tid, fds = parse_fdlist(buf, start, end, btype, offset)
            yield FdList(tid, fds)
        elif btype in blocks.USERLIST_TYPES:
            users, groups = parse_userlist(buf, start, end, btype, offset)
            yield UserList(users, groups)
        elif btype in blocks.IFLIST_TYPES:
            yield InterfaceList(parse_iflist(buf, start, end, btype, offset))
        else:
            log.warning("skipping unknown block type %#x at offset %d", btype, offset)
            self.skipped_blocks.append((offset, btype))


_LENS16 = tuple(struct.Struct(f"<{n}H") for n in range(max(_NPARAMS) + 1))
_GENERIC = (et.PPME_GENERIC_E, et.PPME_GENERIC_X)


def _state_needs(state: Any, etype: int) -> bool:
    """Whether the state engine needs events of ``etype``: it has a handler, or it is the
    enter event of an exit that has one (old captures' exits read their enter's)."""
    exit_ = etype + 1 if et.EVENT_DIRS[etype] == ">" and etype + 1 < et.EVENT_COUNT else None
    return bool(state.has_handler(etype) or (exit_ is not None and state.has_handler(exit_)))


def _no_candidates() -> None:
    return None


def _wanted_tables(
    wanted: frozenset[int] | None,
    names: frozenset[str] | None,
    filtered: bool = False,
    unfiltered: frozenset[int] = frozenset(),
    state: Any = None,
) -> tuple[bytes, bytes]:
    """The replay's wanted table (per type: 1 wanted; for generic types 2, plus 4 when
    the type's own name is wanted, plus 32 when ``state`` needs no event of the type, so
    those of syscalls not wanted are not even built; plus 8 when the candidate conditions
    apply to it) and, per syscall code, whether generic events of that syscall are wanted
    (see native/walk_py.c replay)."""
    want = bytearray(1 if wanted is None or i in wanted else 0 for i in range(et.EVENT_COUNT))
    codes = b""
    if names is not None:
        for g in _GENERIC:
            if want[g]:
                want[g] = 2 | (4 if et.EVENT_NAMES[g] in names else 0)
                if state is not None and not _state_needs(state, g):
                    want[g] |= 32
        codes = bytes(1 if n in names else 0 for n in et.SYSCALL_CODE_NAMES)
    if filtered:
        for i in range(et.EVENT_COUNT):
            if want[i] and i not in unfiltered:
                want[i] |= 8
    return bytes(want), codes


def _v1_nparams(buf: bytes, lens_start: int, evend: int, etype: int, offset: int) -> int:
    """Infer the parameter count of an old (v1) event from its length, like libscap does."""
    for n in range(_NPARAMS[etype], -1, -1):
        vals = lens_start + 2 * n
        if vals > evend:
            continue
        total = vals + sum(_LENS16[n].unpack_from(buf, lens_start)) if n else vals
        if total < evend:
            raise ScapError("cannot infer the parameter count of a v1 event", offset)
        if total == evend:
            return n
    raise ScapError("cannot infer the parameter count of a v1 event (2)", offset)


def read_records(path: str | Path) -> Iterator[Record]:
    """Iterate every record of a capture file."""
    return iter(ScapReader(path))
