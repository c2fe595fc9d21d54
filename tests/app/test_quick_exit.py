"""A finished ``lanner run`` ends without the interpreter's teardown (lanner.app.quick_exit),
and everything it wrote is there: every alert on stdout and in the file output, the
summary, the atexit handlers' work, the exit status."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .helpers import FALCO_RULES, FIXTURES, QUICKSTART, ROOT

# `lanner run` with two witnesses: an atexit handler writing to MARKS (the first argument)
# through a buffered file, and the interpreter's verbose mode (-v), which reports the last
# step of its teardown on stderr
CHILD = """
import atexit, sys
marks = sys.argv.pop(1)

def at_exit():
    with open(marks, "a") as fh:
        fh.write("atexit\\n")

atexit.register(at_exit)
from lanner.cli import main
main()
"""
TEARDOWN = b"# clear sys.audit hooks"


def run_with_witnesses(marks: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    marks.write_bytes(b"")
    return subprocess.run(
        [sys.executable, "-v", "-c", CHILD, str(marks), "run", *args],
        capture_output=True, timeout=120, cwd=ROOT,
    )  # fmt: skip


def test_a_finished_replay_skips_the_teardown_and_loses_no_output(tmp_path: Path) -> None:
    events = tmp_path / "many.jsonl"
    events.write_bytes(QUICKSTART.read_bytes() * 2000)  # 6,000 alerts: many buffers' worth
    out, marks = tmp_path / "alerts.txt", tmp_path / "marks"
    res = run_with_witnesses(
        marks, "-r", str(FALCO_RULES), "-e", str(events),
        "-o", "file_output.enabled=true", "-o", f"file_output.filename={out}",
        "-o", "file_output.keep_alive=true",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    assert marks.read_text() == "atexit\n"  # the atexit handler ran
    assert TEARDOWN not in res.stderr  # the teardown did not
    alerts, summary = res.stdout.split(b"Events detected: ")
    assert summary.startswith(b"6000\nRule counts by severity:\n")
    assert summary.endswith(b"\n   Netcat Remote Code Execution in Container: 2000\n")
    lines = alerts.splitlines(keepends=True)
    assert len(lines) == 6000 and lines == lines[:3] * 2000  # each event's alert, whole
    assert out.read_bytes() == alerts  # the file output holds the same lines, all of them


def test_the_exit_status_and_the_error_survive_the_quick_exit(tmp_path: Path) -> None:
    whole = (FIXTURES / "captures" / "sample.scap").read_bytes()
    damaged = tmp_path / "damaged.scap"
    damaged.write_bytes(whole[: len(whole) * 2 // 3])  # cut inside a block
    marks = tmp_path / "marks"
    res = run_with_witnesses(marks, "-r", str(FALCO_RULES), "-e", str(damaged))
    assert res.returncode == 1
    assert marks.read_text() == "atexit\n" and TEARDOWN not in res.stderr
    assert b"Events detected: " in res.stdout
    assert b"Error: " in res.stderr and b"corrupt capture at byte offset" in res.stderr


def test_a_run_that_ends_early_exits_as_usual(tmp_path: Path) -> None:
    # the witness does see a teardown when there is one: a dry run never arms the quick exit
    marks = tmp_path / "marks"
    res = run_with_witnesses(marks, "-r", str(FALCO_RULES), "--dry-run")
    assert res.returncode == 0, res.stderr[-2000:]
    assert marks.read_text() == "atexit\n" and TEARDOWN in res.stderr
