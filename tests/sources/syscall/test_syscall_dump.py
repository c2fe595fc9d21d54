"""sysdig's default line: ours must equal ``sysdig -r FILE`` output, line for line."""

from __future__ import annotations

import subprocess

import pytest
from syscall_testutil import SYSDIG, SYSDIG_UNKNOWN_FROM, capture

from lanner.sources.syscall import read_capture
from lanner.sources.syscall.dump import default_line, is_shown

READABLE = ["curl_google.scap", "sample.scap", "single_ipv6_conn.scap", "test_ipv6_client.scap"]


def _sysdig_default(name: str) -> list[str]:
    """``sysdig -r FILE`` output (its default format: no ``-p``)."""
    if SYSDIG is None:
        pytest.skip("sysdig is not installed")
    out = subprocess.run(
        [SYSDIG, "-r", str(capture(name))], capture_output=True, text=True, timeout=60, check=False
    )
    return [line for line in out.stdout.split("\n") if line]


@pytest.mark.parametrize("name", READABLE)
def test_default_lines_match_sysdig(name: str) -> None:
    want = _sysdig_default(name)
    ours = []
    n = 0
    for e in read_capture(capture(name)):
        if e.type >= SYSDIG_UNKNOWN_FROM:
            continue  # sysdig 0.29 neither shows nor numbers these (sample.scap)
        n += 1
        line = default_line(e)
        if line is not None:
            # renumber like sysdig (identical to evt.num when nothing was skipped)
            ours.append(f"{n}{line[line.index(' ') :]}")
    assert len(ours) == len(want) > 20
    assert [a for a, b in zip(ours, want, strict=True) if a != b] == []


def test_internal_events_are_hidden() -> None:
    hidden = [e.name for e in read_capture(capture("curl_google.scap")) if not is_shown(e)]
    assert hidden and set(hidden) == {"procinfo"}
