"""Fuzz the reader, the state engine and the fields with truncated and mutated captures.

Damaged input may only ever raise ScapError; no other exception, no hang.
"""

from __future__ import annotations

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from syscall_testutil import byte_flips, raw_bytes

from lanner.exceptions import ScapError
from lanner.sources.syscall import read_capture, syscall_source

DATA = raw_bytes("test_ipv6_client.scap")
GETTERS = [f.bind(None) for f in syscall_source().fields if not f.arg_required]


def _replay(data: bytes) -> int:
    n = 0
    try:
        for e in read_capture(io.BytesIO(data)):
            for g in GETTERS:
                g(e)
            for i in range(e.nparams):
                e.param(i)
            n += 1
    except ScapError as exc:
        assert exc.offset >= 0
    return n


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=len(DATA)))
def test_truncated(cut: int) -> None:
    _replay(DATA[:cut])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(byte_flips(DATA))
def test_mutated(flips: list[tuple[int, int]]) -> None:
    data = bytearray(DATA)
    for pos, value in flips:
        data[pos] = value
    _replay(bytes(data))


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes(blob: bytes) -> None:
    _replay(blob)
    _replay(DATA[:1000] + blob)


def _event_header_offsets() -> list[int]:
    """Byte offsets of event block headers, event headers and parameter lengths."""
    out = []
    pos = 0
    while pos + 8 <= len(DATA):
        btype = int.from_bytes(DATA[pos : pos + 4], "little")
        blen = int.from_bytes(DATA[pos + 4 : pos + 8], "little")
        if btype in (0x204, 0x216):
            out.extend(range(pos, min(pos + 48, pos + blen)))
        pos += blen
    return out


HEADER_OFFSETS = _event_header_offsets()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(HEADER_OFFSETS), st.integers(0, 255)),
        min_size=1,
        max_size=6,
    )
)
def test_mutated_event_headers(flips: list[tuple[int, int]]) -> None:
    data = bytearray(DATA)
    for pos, value in flips:
        data[pos] = value
    _replay(bytes(data))
