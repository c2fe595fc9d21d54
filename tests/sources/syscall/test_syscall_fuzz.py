"""Fuzz the reader, the state engine and the fields with truncated and mutated captures.

Damaged input may only ever raise ScapError; no other exception, no hang.
"""

from __future__ import annotations

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from syscall_testutil import raw_bytes

from lanner.sources.syscall import ScapError, read_capture, syscall_source

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
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=len(DATA) - 1), st.integers(0, 255)),
        min_size=1,
        max_size=12,
    )
)
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
