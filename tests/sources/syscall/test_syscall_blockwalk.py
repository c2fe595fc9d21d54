"""The C event-block walk gives exactly what the Python loop gives, on every capture.

reader.py uses ``_native.walk`` (built by ``pip install``) for the event blocks and its
own loop for everything else; ``USE_C_WALK = False`` forces the Python loop alone. Both
must yield the same records, numbers, offsets, parameters and errors, on the real
captures, with event types rejected from the header, and on damaged captures.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from syscall_testutil import ALL_CAPTURES, byte_flips, raw_bytes

from lanner.exceptions import ScapError
from lanner.sources.syscall import Event
from lanner.sources.syscall._native import walk
from lanner.sources.syscall.capture import STATE_TYPES, type_ids
from lanner.sources.syscall.scap import blocks, reader
from lanner.sources.syscall.scap.reader import ScapReader


def records(data: bytes, use_c: bool, keep: frozenset[int] | None = None) -> list[Any]:
    """Every record of a capture as comparable values, then the error if any."""
    old = reader.USE_C_WALK
    reader.USE_C_WALK = use_c
    out: list[Any] = []
    r = ScapReader(io.BytesIO(data), keep)
    try:
        for rec in r:
            if type(rec) is Event:
                out.append(
                    (
                        rec.num, rec.ts, rec.tid, rec.type, rec.nparams, rec.cpu,
                        rec.dump_flags, rec.offset, rec._large, tuple(rec.raw_params()),
                    )
                )  # fmt: skip
            else:
                out.append(repr(rec))
    except ScapError as exc:
        out.append(("error", str(exc), exc.offset))
    finally:
        reader.USE_C_WALK = old
    out.append(("skipped", r.skipped_events, r.skipped_blocks))
    return out


@pytest.mark.parametrize("name", ALL_CAPTURES)
def test_same_records_on_every_capture(name: str) -> None:
    data = raw_bytes(name)
    c = records(data, True)
    assert c == records(data, False)
    assert sum(1 for r in c if isinstance(r, tuple) and isinstance(r[0], int)) > 100


@pytest.mark.parametrize("name", ALL_CAPTURES)
def test_same_records_with_types_rejected_from_the_header(name: str) -> None:
    data = raw_bytes(name)
    keep = type_ids({"open", "openat", "connect", "execve"}) | STATE_TYPES
    c = records(data, True, keep)
    assert c == records(data, False, keep)
    # rejected events keep their numbers: the kept ones are not numbered 1..n
    nums = [r[0] for r in c if isinstance(r, tuple) and isinstance(r[0], int)]
    assert nums and nums[-1] >= len(nums)


DATA = raw_bytes("test_ipv6_client.scap")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    byte_flips(DATA),
    st.integers(min_value=0, max_value=len(DATA)),
)
def test_same_records_and_errors_on_damaged_captures(
    flips: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(DATA)
    for pos, value in flips:
        data[pos] = value
    damaged = bytes(data[:cut]) if cut > 100 else bytes(data)
    assert records(damaged, True) == records(damaged, False)


def event_block(btype: int, etype: int, params: list[bytes]) -> bytes:
    """One event block of type ``btype`` in the layout its type says (an event type with
    16-bit parameter lengths: their width is a property of the event type)."""
    has_nparams, has_flags = blocks.EVENT_TYPES[btype]
    lens = b"".join(struct.pack("<H", len(p)) for p in params)
    hlen = 26 if has_nparams else 22
    elen = hlen + len(lens) + sum(len(p) for p in params)
    header = struct.pack("<QqIH", 123, 45, elen, etype)
    if has_nparams:
        header += struct.pack("<I", len(params))
    body = struct.pack("<H", 1) + (struct.pack("<I", 7) if has_flags else b"")
    body += header + lens + b"".join(params)
    return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)


def walked(chunk: bytes) -> Iterator[Any]:
    evs, pos, num, skipped = walk(chunk, 0, 0, b"\x01" * 400, bytearray(b"\x01" * 400), 0, Event)
    return iter((evs, pos, num, skipped))


@pytest.mark.parametrize("btype", sorted(blocks.EVENT_TYPES), ids=hex)
def test_walk_knows_every_event_block_type_of_blocks_py(btype: int) -> None:
    # a close enter event with its 8-byte fd parameter
    from lanner.sources.syscall import event_table as et

    etype = next(
        i for i, n in enumerate(et.EVENT_NAMES) if n == "close" and et.EVENT_DIRS[i] == ">"
    )
    block = event_block(btype, etype, [struct.pack("<q", 3)])
    evs, pos, num, skipped = walked(block * 2)
    assert pos == 2 * len(block) and num == 2 and skipped == 0
    assert [(e.tid, e.type, e.nparams, e.cpu) for e in evs] == [(45, etype, 1, 1)] * 2
    assert evs[0].int_param(0) == 3


def test_walk_stops_at_metadata_and_damaged_blocks() -> None:
    from lanner.sources.syscall import event_table as et

    etype = next(
        i for i, n in enumerate(et.EVENT_NAMES) if n == "close" and et.EVENT_DIRS[i] == ">"
    )
    good = event_block(blocks.EV_V2, etype, [struct.pack("<q", 3)])
    meta = struct.pack("<II", blocks.UL_V2, 16) + b"\0" * 4 + struct.pack("<I", 16)
    evs, pos, _num, _ = walked(good + meta + good)
    assert len(evs) == 1 and pos == len(good)
    bad = good[:-4] + struct.pack("<I", len(good) + 1)  # trailer disagrees
    evs, pos, _num, _ = walked(good + bad)
    assert len(evs) == 1 and pos == len(good)
    evs, pos, _num, _ = walked(good + good[:10])  # incomplete block: needs more data
    assert len(evs) == 1 and pos == len(good)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0), st.integers(min_value=0, max_value=31), st.binary(max_size=12))
def test_decode_int_is_the_number_decode_param_gives(evt: int, index: int, raw: bytes) -> None:
    from lanner.sources.syscall import event_table as et
    from lanner.sources.syscall.params import decode_int, decode_param

    evt %= et.EVENT_COUNT
    v = decode_param(evt, index, raw)
    assert decode_int(evt, index, raw) == (int(v) if isinstance(v, int) else None)
