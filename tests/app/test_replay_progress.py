"""The replay summary counts every event of the file and those the rules evaluated."""

from __future__ import annotations

import re

from helpers import shared_fixture
from lanner.app.replay_progress import ScapReplay
from lanner.sources.syscall.scap import ScapReader

CAPTURE = shared_fixture("captures", "curl_google.scap")


def test_rate_line_counts_the_file_and_the_evaluated_events() -> None:
    total = sum(1 for _ in ScapReader(CAPTURE).events())
    replay = ScapReplay(CAPTURE, {"open", "openat"})
    evaluated = [ev for _src, ev in replay]
    assert evaluated and len(evaluated) < total
    assert all(ev.name in ("open", "openat") for ev in evaluated)
    line = replay.rate_line()
    m = re.fullmatch(
        r"Replayed ([\d,]+) events \(([\d,]+) evaluated by the rules\) in [\d.]+ s "
        r"\(([\d,]+) events/s\)",
        line,
    )
    assert m, line
    assert int(m[1].replace(",", "")) == total
    assert int(m[2].replace(",", "")) == len(evaluated)
