"""Event's fast parameter paths (one length read, integers unpacked in place) give what the
general ones (raw_params, params.decode_int) give, including on truncated events."""

from __future__ import annotations

import random
import struct

import pytest

from lanner.sources.syscall import event_table as et
from lanner.sources.syscall.event import Event
from lanner.sources.syscall.params import decode_int


def _event(etype: int, raws: list[bytes], large: bool, cut: int = 0) -> Event:
    lens = struct.pack(f"<{len(raws)}{'I' if large else 'H'}", *(len(r) for r in raws))
    pad = b"\xaa" * 3  # the event sits inside a bigger buffer, like a read chunk
    body = lens + b"".join(raws)
    buf = pad + body + pad
    end = len(pad) + len(body) - cut
    return Event(1, 0, 1, etype, len(raws), buf, len(pad), end, large)


def _cases(seed: int) -> list[tuple[int, list[bytes], bool, int]]:
    rnd = random.Random(seed)
    out = []
    for etype, params in enumerate(et.EVENT_PARAMS):
        if not params:
            continue
        for _ in range(3):
            n = rnd.randint(1, len(params) + 1)  # sometimes one more than the table
            raws = [rnd.randbytes(rnd.choice((0, 1, 2, 3, 4, 5, 8, 9, 16))) for _ in range(n)]
            total = sum(len(r) for r in raws)
            cut = rnd.choice((0, 0, rnd.randint(0, total)))
            out.append((etype, raws, rnd.random() < 0.3, cut))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fast_paths_match_the_general_ones(seed: int) -> None:
    for etype, raws, large, cut in _cases(seed):
        ref = _event(etype, raws, large, cut).raw_params()
        for i in range(len(raws) + 1):
            want = ref[i] if i < len(ref) else None
            # each access on a fresh event (first-parameter path) and on a used one
            fresh = _event(etype, raws, large, cut)
            assert fresh._raw_at(i) == want
            used = _event(etype, raws, large, cut)
            used._raw_at(len(raws) - 1)
            assert used._raw_at(i) == want
            for e in (_event(etype, raws, large, cut), used):
                got = e.int_value(i)
                assert got == (None if want is None else decode_int(etype, i, want))
                assert type(got) in (int, type(None))
                ip = e.int_param(i)
                assert ip == (int.from_bytes(want, "little", signed=True) if want else None)


def test_res_of_exit_events() -> None:
    for etype, params in enumerate(et.EVENT_PARAMS):
        e = _event(etype, [struct.pack("<q", -2)] + [b""] * (len(params) - 1), False)
        is_res = (
            et.EVENT_DIRS[etype] == "<"
            and bool(params)
            and (
                params[0][1] in (et.PT_ERRNO, et.PT_PID, et.PT_FD, et.PT_FD32, et.PT_PID32)
                or params[0][0] == "res"
            )
        )
        assert e.res == (e.int_value(0) if is_res else None)


@pytest.mark.parametrize("seed", [4, 5])
def test_param_matches_decode_param(seed: int) -> None:
    from lanner.sources.syscall.params import decode_param

    rnd = random.Random(seed)
    for etype, params in enumerate(et.EVENT_PARAMS):
        for _ in range(3):
            raws = [
                rnd.choice((b"", b"/etc/passwd\0", b"a\xffb\0junk", rnd.randbytes(6)))
                for _ in range(len(params) + 1)
            ]
            e = _event(etype, raws, False)
            for i, raw in enumerate(raws):
                got, want = e.param(i), decode_param(etype, i, raw)
                assert got == want and type(got) is type(want)
