"""Shared helpers of the app tests: running ``lanner run``, ports, waiting, rules."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import pytest
import yaml

from helpers import free_port, shared_fixture, wait_until  # noqa: F401 - re-exported

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = shared_fixture()
FALCO_RULES = FIXTURES / "rules" / "falco_rules.yaml"
QUICKSTART = ROOT / "examples" / "quickstart-events.jsonl"
LANNER = [sys.executable, "-c", "from lanner.cli import main; main()", "run"]


@functools.cache
def probe_problem() -> str | None:
    """Why the eBPF probe cannot capture on this host (check_requirements' message), or
    None when it can."""
    try:
        from lanner.sources.syscall.probe import check_requirements

        check_requirements()
    except Exception as exc:
        return str(exc)
    return None


def needs_probe() -> pytest.MarkDecorator:
    """Skips a live capture test where the probe cannot run, the reason naming why."""
    problem = probe_problem()
    return pytest.mark.skipif(problem is not None, reason=str(problem))


def run_lanner(
    *args: str, stdin: bytes | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    """``lanner run ARGS`` to completion."""
    return subprocess.run(
        [*LANNER, *args], input=stdin, capture_output=True, timeout=timeout, cwd=ROOT
    )


class LineCollector:
    """Reads a stream on a thread and keeps its lines."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.lines: list[bytes] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            with self._lock:
                self.lines.append(line.rstrip(b"\n"))

    def snapshot(self) -> list[bytes]:
        with self._lock:
            return list(self.lines)

    def text(self) -> str:
        return b"\n".join(self.snapshot()).decode(errors="replace")

    def join(self, timeout: float = 30) -> None:
        self._thread.join(timeout)


def capturing_lanner(
    *args: str,
) -> tuple[subprocess.Popen[bytes], LineCollector, LineCollector]:
    """``lanner run ARGS`` capturing this host's syscalls with the probe (cwd the
    repository), once the probe is attached: the process, its stdout and its stderr lines.
    A run that exits first, or whose probe does not attach within 60 s, fails the test
    with its log (and is stopped)."""
    proc = subprocess.Popen(
        [*LANNER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT
    )
    assert proc.stdout is not None and proc.stderr is not None
    out, err = LineCollector(proc.stdout), LineCollector(proc.stderr)

    def started() -> bool:
        return "syscall capture started" in err.text() or proc.poll() is not None

    try:
        wait_until(started, 60, "the probe")
        if proc.poll() is not None:
            err.join(5)
            raise AssertionError(f"lanner run exited {proc.returncode}:\n{err.text()[-3000:]}")
    except BaseException:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        raise
    return proc, out, err


class LiveLanner:
    """``lanner run ... -e -`` as a subprocess with stdin open and outputs collected."""

    def __init__(self, *args: str, cwd: Path | None = None) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [*LANNER, *args, "-e", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd or ROOT,
            env=env,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.out = LineCollector(self.proc.stdout)
        self.err = LineCollector(self.proc.stderr)

    def send(self, line: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + b"\n")
        self.proc.stdin.flush()

    def finish(self, timeout: float = 60) -> int:
        """Close stdin (end of events) and wait for the exit code."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        rc = self.proc.wait(timeout)
        self.out.join()
        self.err.join()
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


SEQ_RULES = """
- rule: {name}
  desc: test rule {name}
  condition: evt.type = open and fd.name startswith /etc
  output: "{tag} opened (file=%fd.name seq=%test.seq)"
  priority: {priority}
  tags: [test]
"""


def seq_rules(name: str, tag: str, priority: str = "WARNING") -> str:
    """A rules file with one rule matching every ``open_event``."""
    return SEQ_RULES.format(name=name, tag=tag, priority=priority)


def open_event(seq: int, path: str = "/etc/shadow") -> bytes:
    """A JSON-lines syscall event that the SEQ_RULES rule matches."""
    return b'{"evt.type": "open", "fd.name": "%s", "test.seq": "%d", "evt.time": %d}' % (
        path.encode(),
        seq,
        1_700_000_000_000_000_000 + seq,
    )


def webserver_config(path: Path, rules: Path, port: int, **extra: Any) -> Path:
    """Write a config file at ``path``: ``rules`` and the web server on 127.0.0.1:``port``,
    plus ``extra`` top-level keys."""
    doc = {
        "rules_files": [str(rules)],
        "webserver": {"enabled": True, "listen_port": port, "listen_address": "127.0.0.1"},
        **extra,
    }
    path.write_text(yaml.safe_dump(doc))
    return path
