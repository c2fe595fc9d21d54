"""Compare ``sysdig -r FILE`` (0.29.3) with ``lanner dump -e FILE`` line by line.

sysdig 0.29 carries an older event table than the one Lanner follows; three known,
documented differences are normalized, everything else must be byte-identical:

* event ids from 354 on (e.g. ``bpf``, ``umount2``, ``pidfd_open``) are unknown to it: it
  skips them without numbering them, so ours are dropped and the rest renumbered;
* a few exit events gained parameters since (``close`` its ``fd``, ``openat`` its ``ino``):
  sysdig prints the ones its table has, which must be a prefix of ours;
* flag names are listed in its table's order (``O_DIRECTORY|O_NONBLOCK|O_RDONLY``) and
  it lacks newer ones (``O_F_CREATED``, ``CHILD_IN_PIDNS``): the sets of known names must
  be equal;
* renamed or retyped parameters: execve's ``pgid`` is ``vpgid`` today and ``loginuid`` a
  uid (``4294967295``, not ``-1``).

One difference is of state, not of table: the probe sends exit events only, each carrying
every parameter today's table gives it, while sysdig 0.29 takes the fd of ``close`` and the
arguments of ``socket`` and ``fcntl`` from their enter events. It therefore never removes
a closed fd nor adds a socket or a duplicated fd, and may resolve a later fd number to a
stale name. Such lines are counted (``fd_state``) when they are equal once the resolved
fd names (``(<f>/path)``) are taken out; the event itself (number, time, CPU, process,
thread, direction, type) must still be identical on every line.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from lanner.sources.syscall import read_capture
from lanner.sources.syscall.dump import default_line

SYSDIG = shutil.which("sysdig")
SYSDIG_UNKNOWN_FROM = 354
_FLAGS = re.compile(r"\(([A-Z0-9_]+(?:\|[A-Z0-9_]+)*)\)")
_NEW_FLAGS = frozenset({"O_F_CREATED", "CHILD_IN_PIDNS"})
_RENAMES = ((" pgid=", " vpgid="), (" loginuid=-1 ", " loginuid=4294967295 "))
_FD_NAME = re.compile(r"\(<[^>]*>.*?\)(?= |$)")


def _sorted_flags(m: re.Match[str]) -> str:
    return "(" + "|".join(sorted(set(m.group(1).split("|")) - _NEW_FLAGS)) + ")"


def _norm_table(text: str, sysdig: bool) -> str:
    text = _FLAGS.sub(_sorted_flags, text)
    if sysdig and " execve " in text:
        for old, new in _RENAMES:
            text = text.replace(old, new)
    return text


def _same_or_prefix(s: str, mine: str) -> bool:
    return s == mine or (s.endswith(" ") and mine.startswith(s))


@dataclass
class Comparison:
    """Result of one comparison."""

    sysdig_lines: int = 0
    lanner_lines: int = 0
    identical: int = 0  # byte-identical after renumbering
    prefix: int = 0  # sysdig's args a prefix of ours (newer parameters)
    table: int = 0  # same after the flag/rename normalizations
    fd_state: int = 0  # same once resolved fd names are taken out
    skipped_unknown: int = 0  # our events sysdig 0.29 does not know
    mismatches: list[tuple[str, str]] = field(default_factory=list)
    other_events: int = 0  # lines where even the event (number ... type) differs

    @property
    def ok(self) -> bool:
        return not self.mismatches and self.sysdig_lines == self.lanner_lines


def sysdig_output(path: str | Path) -> list[str]:
    """``sysdig -r FILE`` lines (raises if sysdig fails)."""
    assert SYSDIG is not None
    r = subprocess.run(
        [SYSDIG, "-r", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    if r.returncode != 0:
        raise RuntimeError(f"sysdig -r {path} failed: {r.stderr.strip()}")
    return r.stdout.splitlines()


def lanner_output(path: str | Path) -> list[tuple[int, str]]:
    """``(event type, default line)`` of every shown event, as ``lanner dump`` prints them."""
    out = []
    for ev in read_capture(path):
        line = default_line(ev)
        if line is not None:
            out.append((ev.type, line))
    return out


def compare(path: str | Path) -> Comparison:
    """Compare the two readers' output on one capture."""
    want = sysdig_output(path)
    ours = lanner_output(path)
    c = Comparison(sysdig_lines=len(want))
    kept = []
    for etype, line in ours:
        if etype >= SYSDIG_UNKNOWN_FROM:
            c.skipped_unknown += 1
        else:
            kept.append(line)
    c.lanner_lines = len(kept)
    for i, (s, line) in enumerate(zip(want, kept, strict=False), start=1):
        mine = f"{i} {line.split(' ', 1)[1]}"
        if s == mine:
            c.identical += 1
            continue
        if s.split(" ", 7)[:7] != mine.split(" ", 7)[:7]:
            c.mismatches.append((s, mine))  # not the same event
            c.other_events += 1
            continue
        if _same_or_prefix(s, mine):
            c.prefix += 1
            continue
        ns, nm = _norm_table(s, True), _norm_table(mine, False)
        if _same_or_prefix(ns, nm):
            c.table += 1
        elif _same_or_prefix(_FD_NAME.sub("", ns), _FD_NAME.sub("", nm)):
            c.fd_state += 1
        else:
            c.mismatches.append((s, mine))
    return c
