"""Every event's visible state on every fixture capture and on Lanner-written captures
agrees with the digests recorded in data/state_hashes.json (see state_oracle.py)."""

from __future__ import annotations

import pytest
from state_oracle import _extractors, all_sources, digest, event_line, recorded
from syscall_testutil import ALL_CAPTURES

SOURCES = all_sources()
EXTRACTORS = _extractors()


def test_every_fixture_capture_is_recorded() -> None:
    assert ALL_CAPTURES, "no fixture captures found"
    assert set(recorded()) == set(SOURCES)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_state_digest_matches_the_recording(name: str) -> None:
    want = recorded()[name]
    got = digest(SOURCES[name])
    assert got["events"] == want["events"]
    assert got == want, f"{name}: the state seen by some event differs from the recording"


@pytest.mark.parametrize("name", sorted(SOURCES))
@pytest.mark.parametrize(
    "types",
    [
        ("open", "openat", "connect", "execve", "clone", "procexit"),
        ("read", "write", "close", "sendto", "mprotect"),
    ],
)
def test_wanted_events_see_the_state_of_a_full_replay(name: str, types: tuple[str, ...]) -> None:
    """Replaying only some event types (the others applied natively and dropped) shows
    each yielded event exactly the state a full replay shows it."""
    import io

    from lanner.sources.syscall import read_capture

    src = SOURCES[name]

    def lines(event_types: tuple[str, ...] | None) -> list[str]:
        data = io.BytesIO(src) if isinstance(src, bytes) else src
        return [
            event_line(e, EXTRACTORS)
            for e in read_capture(data, event_types=event_types)
            if e.name in types
        ]

    full = lines(None)
    assert lines(types) == full
    from lanner.sources.syscall.scap import reader

    reader.USE_C_WALK = False  # the Python loop alone applies and filters alike
    try:
        assert lines(types) == full
    finally:
        reader.USE_C_WALK = True


def test_wanted_replays_cover_events() -> None:
    """The comparison above is not vacuous: the real captures have such events."""
    from lanner.sources.syscall import read_capture

    names = {e.name for e in read_capture(SOURCES["curl_google.scap"])}
    assert {"open", "connect", "close", "read", "write", "mprotect", "execve"} <= names


@pytest.mark.parametrize("chunk", [61, 1024, 4099])
@pytest.mark.parametrize("name", sorted(SOURCES))
def test_state_digest_holds_whatever_the_read_chunk_size(
    name: str, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fixtures are smaller than the reader's 1 MiB chunk: with small chunks every
    block boundary falls somewhere, so a block cut between two reads (walked alone, then
    the walk goes on in the next chunk) and a header cut in two are both exercised."""
    from lanner.sources.syscall.scap import reader

    monkeypatch.setattr(reader, "CHUNK", chunk)
    assert digest(SOURCES[name]) == recorded()[name]
