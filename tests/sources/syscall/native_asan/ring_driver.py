"""Walk damaged probe ring records through a sanitizer build of the native module.

Run by test_syscall_native_asan.py in a subprocess with libasan preloaded:
``python ring_driver.py SANITIZED_SO SEED CAPTURE...``. The events of the captures are
written as the probe writes ring records (ring header, Lanner's 8-byte prefix, the scap
event with 16-bit lengths), then copies with truncations and mutated bytes go through
``ring_take`` (from buffers laid out as the mmapped ring) and ``ring_next`` with the state
engine, the upstream rules' candidate filter and every field getter on what comes back.
Damage may be skipped (counted) or raise a Python exception, never corrupt memory.
"""

from __future__ import annotations

import random
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from replay_driver import candidate_filter, load_sanitized

PAGE = 4096
SIZE = 1 << 20


def records(paths: list[str]) -> bytes:
    """Ring records of every event with 16-bit lengths in the captures."""
    from lanner.sources.syscall import read_capture

    out = bytearray()
    for path in paths:
        for e in read_capture(path):
            if e._large:
                continue
            body = bytes(e._buf[e._off : e._end])
            event = struct.pack("<QqIHI", e.ts, e.tid, 26 + len(body), e.type, e.nparams) + body
            rec = struct.pack("<HHI", e.cpu, 0, 0) + event
            out += struct.pack("<II", len(rec), 0) + rec + b"\0" * (-len(rec) % 8)
    return bytes(out)


def damaged(data: bytes, rng: random.Random, n: int) -> list[bytes]:
    """Truncated copies and copies with a few random bytes changed."""
    out = []
    for _ in range(n):
        d = bytearray(data[: rng.randrange(len(data) + 1)] if rng.random() < 0.3 else data)
        for _ in range(rng.randrange(1, 12)):
            if d:
                d[rng.randrange(len(d))] = rng.randrange(256)
        out.append(bytes(d))
    return out


def walk(data: bytes, state, filt, getters) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    from lanner.sources.syscall import _native
    from lanner.sources.syscall.event import Event
    from lanner.sources.syscall.event_table import EVENT_COUNT

    wanted = bytes([1 | 8 | 16]) * EVENT_COUNT
    pos, num, handed, errors = 0, 0, 0, 0
    while pos < len(data):
        ev, to, pos, num, _f, _bad = _native.ring_next(
            data, pos, num, Event, state, wanted, b"", filt, 0, True
        )
        if to == -1:
            errors += 1
            continue
        if ev is None:
            break
        handed += 1
        for g in getters:
            try:
                g(ev)
            except Exception:  # a getter on damaged parameters: an error, not a crash
                errors += 1
    return handed, errors


def take(data: bytes) -> bytes:
    """The records through ring_take, from buffers laid out as the mmapped ring."""
    from lanner.sources.syscall import _native

    data = data[: SIZE - 8]
    cons = bytearray(8)
    prod = bytearray(PAGE + 2 * SIZE)
    struct.pack_into("<Q", prod, 0, len(data))
    prod[PAGE : PAGE + len(data)] = data
    out, _records = _native.ring_take(cons, prod, PAGE, SIZE, 4 << 20)
    assert struct.unpack_from("<Q", cons)[0] == len(out)
    return bytes(out)


def main() -> int:
    load_sanitized(sys.argv[1])
    from lanner.sources.syscall import _native, syscall_source
    from lanner.sources.syscall.state import StateEngine

    assert _native.__file__ == sys.argv[1], _native.__file__
    rng = random.Random(sys.argv[2])
    getters = [f.bind(None) for f in syscall_source().fields if not f.arg_required]
    filt = candidate_filter()
    data = records(sys.argv[3:])
    handed, errors = walk(take(data), StateEngine(), filt, getters)
    print(f"events {handed} errors {errors}")
    for copy in damaged(data, rng, 12):
        walk(take(copy), StateEngine(), filt, getters)
        walk(copy, StateEngine(), None, getters)  # not through ring_take: any bytes
    return 0


if __name__ == "__main__":
    sys.exit(main())
