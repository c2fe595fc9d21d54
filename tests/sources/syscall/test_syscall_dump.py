"""sysdig's default line: ours must equal ``sysdig -r FILE`` output, line for line."""

from __future__ import annotations

import subprocess

import pytest
from syscall_testutil import SYSDIG, SYSDIG_UNKNOWN_FROM, capture

from helpers import missing
from lanner.sources.syscall import read_capture
from lanner.sources.syscall.dump import default_line, is_shown

READABLE = ["curl_google.scap", "sample.scap", "single_ipv6_conn.scap", "test_ipv6_client.scap"]


def _sysdig_default(name: str) -> list[str]:
    """``sysdig -r FILE`` output (its default format: no ``-p``)."""
    if SYSDIG is None:
        missing("sysdig", "sysdig")
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


def _lanner_dump(*args: str) -> list[str]:
    from click.testing import CliRunner

    from lanner.app.dump_command import dump

    result = CliRunner().invoke(dump, list(args))
    assert result.exit_code == 0, result.output
    return [line for line in result.output.split("\n") if line]


# fields and filters with no known sysdig 0.29 difference (see test_syscall_sysdig_diff)
FORMATS = [
    ("*%evt.num %evt.type %evt.dir %proc.name %proc.pid %thread.tid %evt.res\\t%user.uid", ""),
    ("%evt.num %fd.name %fd.typechar %proc.pname", "evt.type in (open, close, socket, connect)"),
    ("*%evt.num %fd.sip:%fd.sport %fd.cip:%fd.cport %fd.l4proto", "evt.type = connect"),
    ("n=%evt.num %proc.cmdline", "evt.dir = < and evt.type in (open, connect, close)"),
]


@pytest.mark.parametrize("name", ["curl_google.scap", "test_ipv6_client.scap"])
@pytest.mark.parametrize(("fmt", "flt"), FORMATS)
def test_format_lines_match_sysdig_p(name: str, fmt: str, flt: str) -> None:
    if SYSDIG is None:
        missing("sysdig", "sysdig")
    cmd = [SYSDIG, "-r", str(capture(name)), "-p", fmt] + ([flt] if flt else [])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    want = [line for line in out.stdout.split("\n") if line]
    ours = _lanner_dump("-e", str(capture(name)), "-p", fmt, *([flt] if flt else []))
    assert want, cmd
    assert ours == want


def test_format_without_star_skips_events_missing_a_field() -> None:
    every = _lanner_dump("-e", str(capture("curl_google.scap")), "-p", "*%evt.num %fd.name")
    some = _lanner_dump("-e", str(capture("curl_google.scap")), "-p", "%evt.num %fd.name")
    assert len(some) < len(every)
    assert all("<NA>" not in line for line in some)
    assert any("<NA>" in line for line in every)


def test_bad_format_token_is_reported() -> None:
    from click.testing import CliRunner

    from lanner.app.dump_command import dump

    result = CliRunner().invoke(dump, ["-e", str(capture("sample.scap")), "-p", "%proc.nope"])
    assert result.exit_code == 2
    assert "proc.nope" in result.output
