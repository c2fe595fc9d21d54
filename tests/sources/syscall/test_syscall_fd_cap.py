"""The global bound on tracked fds (state/fd_cap.py), on the state of real captures."""

from __future__ import annotations

import pytest
from syscall_testutil import ALL_CAPTURES, capture

from lanner.sources.syscall.pipeline import CaptureFile, SyscallPipeline
from lanner.sources.syscall.state import StateEngine
from lanner.sources.syscall.state.fd_cap import FdCap


def _tables(state: StateEngine) -> dict[int, dict[int, object]]:
    return {id(t.fdtable): t.fdtable.fds for t in state.threads.threads.values()}


def _state_with_most_fds() -> StateEngine:
    """The state after the fixture capture that leaves the most fds tracked."""
    best, most = None, -1
    for name in ALL_CAPTURES:
        state = StateEngine()
        for _ in SyscallPipeline(CaptureFile(capture(name)), state=state):
            pass
        n = sum(len(f) for f in _tables(state).values())
        if n > most:
            best, most = state, n
    assert best is not None and most > 100, "the fixture captures leave too few fds"
    return best


def test_fds_past_the_cap_are_evicted_and_counted() -> None:
    state = _state_with_most_fds()
    before = {k: len(v) for k, v in _tables(state).items()}
    total = sum(before.values())
    cap = FdCap(state.threads, max_fds=total // 4)
    assert cap.enforce() == total - int(total // 4 * 0.9)
    after = {k: len(v) for k, v in _tables(state).items()}
    assert sum(after.values()) == cap.tracked <= total // 4
    assert cap.evicted == total - cap.tracked
    largest = max(before, key=lambda k: before[k])
    assert after[largest] < before[largest]  # the largest table lost fds first
    assert cap.enforce() == 0  # under the cap now: nothing more


def test_under_the_cap_nothing_changes() -> None:
    state = _state_with_most_fds()
    total = sum(len(v) for v in _tables(state).values())
    cap = FdCap(state.threads, max_fds=total)
    assert cap.enforce() == 0 and cap.tracked == total and cap.evicted == 0


def test_check_counts_at_most_every_interval() -> None:
    state = _state_with_most_fds()
    cap = FdCap(state.threads, max_fds=1, interval=2.0)
    assert cap.check(now=100.0) > 0
    evicted = cap.evicted
    assert cap.check(now=101.0) == 0  # within the interval: not counted again
    assert cap.evicted == evicted


@pytest.mark.parametrize("low_water", [0.5, 0.9])
def test_eviction_goes_to_low_water(low_water: float) -> None:
    state = _state_with_most_fds()
    total = sum(len(v) for v in _tables(state).values())
    cap = FdCap(state.threads, max_fds=total // 2, low_water=low_water)
    cap.enforce()
    assert cap.tracked == int(total // 2 * low_water)
