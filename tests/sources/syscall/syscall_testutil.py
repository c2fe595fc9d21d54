"""Helpers for the syscall source tests: the real captures and a sysdig oracle."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pytest

CAPTURES = Path(__file__).resolve().parents[4] / "shared" / "fixtures" / "captures"
ALL_CAPTURES = sorted(p.name for p in CAPTURES.glob("*.scap"))
SYSDIG = shutil.which("sysdig")


def capture(name: str) -> Path:
    """Path of a shared fixture capture."""
    return CAPTURES / name


def raw_bytes(name: str) -> bytes:
    """The decompressed bytes of a fixture capture."""
    data = capture(name).read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def sysdig_lines(name: str, fmt: str, flt: str | None = None) -> list[str]:
    """Run ``sysdig -r`` on a fixture and return its output lines (skips without sysdig)."""
    if SYSDIG is None:
        pytest.skip("sysdig is not installed")
    cmd = [SYSDIG, "-r", str(capture(name)), "-p", fmt]
    if flt:
        cmd.append(flt)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    return [line for line in out.stdout.split("\n") if line]


SYSDIG_UNKNOWN_FROM = 354
"""sysdig 0.29.3 predates event ids from 354 on (useradded, groupadded in sample.scap): it
skips them without numbering them, so its evt.num is ours minus the skipped ones."""


def sysdig_numbering(events: list) -> dict[int, object]:  # type: ignore[type-arg]
    """Map sysdig 0.29's evt.num to our events (ours skip nothing)."""
    out = {}
    n = 0
    for e in events:
        if e.type >= SYSDIG_UNKNOWN_FROM:
            continue
        n += 1
        out[n] = e
    return out
