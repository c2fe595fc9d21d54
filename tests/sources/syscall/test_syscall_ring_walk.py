"""The live ring walk (native/ring.c through ``SyscallPipeline.run_ring``) on records laid
out as the probe writes them: events handed out keep their own values while the walk
reuses the objects of the events it drops, and the state sees every event."""

from __future__ import annotations

import struct

from lanner.sources.syscall import event_table as et
from lanner.sources.syscall.pipeline import SyscallPipeline
from lanner.sources.syscall.scap.metadata import ProcRecord
from lanner.sources.syscall.scap.reader import ProcList

TID = 4242
OPENAT_X = et.PPME_SYSCALL_OPENAT_2_X
CLOSE_X = et.PPME_SYSCALL_CLOSE_X


def _record(ts: int, tid: int, etype: int, params: list[bytes]) -> bytes:
    """One ring record: ring header, Lanner's prefix (u16 cpu), the scap event."""
    lens = b"".join(struct.pack("<H", len(p)) for p in params)
    body = lens + b"".join(params)
    ev = struct.pack("<QqIHI", ts, tid, 26 + len(body), etype, len(params)) + body
    data = struct.pack("<H6x", 1) + ev
    rec = struct.pack("<II", len(data), 0) + data
    return rec + b"\0" * (-len(rec) % 8)


def _pairs(n: int) -> bytes:
    """openat (fd 3 + i, a path of its own) then its close, for i below ``n``."""
    out = []
    ts = 1_000
    for i in range(n):
        fd = struct.pack("<q", 3 + i)
        path = f"/tmp/lanner-ring-{i}".encode() + b"\0"
        openat = [fd, struct.pack("<q", -100), path, struct.pack("<I", 1), b"\0" * 4,
                  struct.pack("<I", 0x800001), struct.pack("<Q", 1000 + i)]  # fmt: skip
        out.append(_record(ts, TID, OPENAT_X, openat))
        out.append(_record(ts + 1, TID, CLOSE_X, [struct.pack("<q", 0), fd]))
        ts += 10
    return b"".join(out)


_PROCS = ProcList([ProcRecord(TID, TID, 1, comm="ringtest", exe="/bin/ringtest", cwd="/")])


class _Ring:
    """What run_ring reads of a LiveCapture."""

    ts_offset = 0
    events_read = 0

    def poll(self) -> None:  # marks a live source
        raise NotImplementedError


def _pipeline() -> SyscallPipeline:
    pipe = SyscallPipeline(_Ring(), None, event_types={"openat"})
    pipe.state.load_record(_PROCS)
    return pipe


def test_events_handed_out_keep_their_values_while_dropped_ones_are_reused() -> None:
    pipe = _pipeline()
    n = 500
    got = list(pipe.run_ring(_pairs(n)))  # every close is dropped (not a wanted type)
    assert len(got) == n
    assert len({id(e) for e in got}) == n  # never an object handed out twice
    for i, e in enumerate(got):  # read after the whole walk: nothing was overwritten
        assert (e.num, e.ts, e.type, e.tid) == (2 * i + 1, 1_000 + 10 * i, OPENAT_X, TID)
        assert e.raw(2) == f"/tmp/lanner-ring-{i}".encode() + b"\0"
        assert e.int_value(0) == 3 + i
        assert e.fdinfo is not None and e.fdinfo.name == f"/tmp/lanner-ring-{i}"
        assert e.thread is not None and e.thread.comm == "ringtest"
    assert pipe.source.events_read == 2 * n
    # the dropped closes went through the state engine: of the n fds, only the last one is
    # left (its close is applied at the next event, as libsinsp defers removals)
    thread = pipe.state.threads.get(TID)
    assert thread is not None
    assert [fd for fd in range(3, 3 + n) if thread.fdtable.get(fd) is not None] == [2 + n]


def test_an_event_held_elsewhere_is_not_reused() -> None:
    """An event the walk did not hand out but someone keeps (here the container
    announcer, given the last event of each batch) is a fresh object every time."""
    kept = []

    class Keep:
        def check(self, ev: object) -> list[object]:
            kept.append(ev)
            return []

    pipe = SyscallPipeline(_Ring(), None, event_types={"openat"}, inserter=Keep())
    pipe.state.load_record(_PROCS)
    batches = [_pairs(3), _pairs(3)]
    got = [e for b in batches for e in pipe.run_ring(b)]
    assert len(got) == 6
    # the last close of each batch came to the announcer, with its own values
    closes = [e for e in kept if e.type == CLOSE_X]
    assert [e.num for e in closes] == [6, 12]
    assert len({id(e) for e in kept}) == len(kept)
    assert [e.num for e in got] == [1, 3, 5, 7, 9, 11]


def test_an_event_the_state_keeps_is_not_reused() -> None:
    """The state engine keeps each enter event for its exit (``event.enter``); the walk
    drops the enter events (not wanted) but must not reuse an object it still holds."""
    out, ts = [], 1_000
    for i in range(50):
        path = f"/tmp/lanner-enter-{i}".encode() + b"\0"
        enter = [struct.pack("<q", -100), path, struct.pack("<I", 1), b"\0" * 4]
        out.append(_record(ts, TID, et.PPME_SYSCALL_OPENAT_2_E, enter))
        exit_ = [struct.pack("<q", 3), struct.pack("<q", -100), path, struct.pack("<I", 1),
                 b"\0" * 4, struct.pack("<I", 0x800001), struct.pack("<Q", 1)]  # fmt: skip
        out.append(_record(ts + 1, TID, OPENAT_X, exit_))
        ts += 10
    pipe = _pipeline()
    wanted = bytearray(pipe._ring_wanted)  # "openat" selects both directions: exits only
    wanted[et.PPME_SYSCALL_OPENAT_2_E] = 0
    pipe._ring_wanted = bytes(wanted)
    got = list(pipe.run_ring(b"".join(out)))
    assert len(got) == 50
    for i, e in enumerate(got):
        assert e.enter is not None and e.enter is not e
        assert (e.enter.num, e.enter.type) == (2 * i + 1, et.PPME_SYSCALL_OPENAT_2_E)
        assert e.enter.raw(1) == f"/tmp/lanner-enter-{i}".encode() + b"\0"
