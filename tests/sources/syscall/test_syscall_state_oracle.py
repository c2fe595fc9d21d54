"""Every event's visible state on every fixture capture and on Lanner-written captures
agrees with the digests recorded in data/state_hashes.json (see state_oracle.py)."""

from __future__ import annotations

import pytest
from state_oracle import all_sources, digest, recorded
from syscall_testutil import ALL_CAPTURES

SOURCES = all_sources()


def test_every_fixture_capture_is_recorded() -> None:
    assert ALL_CAPTURES, "no fixture captures found"
    assert set(recorded()) == set(SOURCES)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_state_digest_matches_the_recording(name: str) -> None:
    want = recorded()[name]
    got = digest(SOURCES[name])
    assert got["events"] == want["events"]
    assert got == want, f"{name}: the state seen by some event differs from the recording"
