"""An unprivileged user cannot stop live detection with a name that is not UTF-8.

The attack of issue 18 (item 1): as ``nobody``, copy /bin/true to a temporary directory
under a name ending in the byte 0xff and run it. Lanner's default rules fire "Execution
from a temporary directory"; rendering that alert used to raise (text and JSON outputs)
and ``lanner run`` exited, blind to every later event.

Two live ``lanner run`` processes with the default rules watch the host, one writing text
alerts and one JSON alerts. Each must print the alert with the bad byte as U+FFFD (as
Falco prints invalid UTF-8), stay up, and still alert on what happens afterwards.

Skipped, with the reason, where live capture cannot run (not root, no BTF, no probe).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_requirements import live_skip_reason

ROOT = Path(__file__).resolve().parents[2]
LANNER = str(Path(sys.executable).parent / "lanner")
BTF = Path("/sys/kernel/btf/vmlinux")
STARTED = "syscall capture started"
WAIT = 30.0
RULE = "Execution from a temporary directory"
BAD = b"\xff"


class Run:
    """One ``lanner run`` with the default rules, alerts in a file."""

    def __init__(self, tmp: Path, json_output: bool) -> None:
        self.alerts = tmp / ("alerts.json" if json_output else "alerts.txt")
        self.log = tmp / ("json.log" if json_output else "text.log")
        argv = [
            LANNER, "run",
            "-o", f"json_output={'true' if json_output else 'false'}",
            "-o", "file_output.enabled=true",
            "-o", "file_output.keep_alive=true",
            "-o", f"file_output.filename={self.alerts}",
            "-o", "stdout_output.enabled=false",
            "-o", "syslog_output.enabled=false",
            "-o", "log_stderr=true",
            "-o", "log_syslog=false",
        ]  # fmt: skip
        with open(self.log, "wb") as fh:
            self.proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, cwd=tmp)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_started(self) -> None:
        deadline = time.monotonic() + 60
        while STARTED not in self.log_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"lanner run did not start capturing:\n{self.log_text()[-3000:]}")
            time.sleep(0.1)

    def lines(self) -> list[str]:
        if not self.alerts.exists():
            return []
        # the file must be valid UTF-8 as a whole: decode strictly
        return self.alerts.read_bytes().decode("utf-8").splitlines()

    def wait_line(self, *needles: str) -> str:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            for line in self.lines():
                if all(n in line for n in needles):
                    return line
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(
            f"no alert line with {needles} within {WAIT} s (lanner exit code "
            f"{self.proc.poll()}); log tail:\n{self.log_text()[-3000:]}"
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Run, Run]]:
    reason = live_skip_reason()
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("hostile-names")
    text, js = Run(tmp, json_output=False), Run(tmp, json_output=True)
    try:
        text.wait_started()
        js.wait_started()
        time.sleep(0.5)  # the /proc snapshot is loaded right after the message
        yield text, js
    finally:
        text.stop()
        js.stop()


def _run_as_nobody(directory: Path, name: bytes) -> None:
    """Copy /bin/true to ``directory/name`` and execute it as the user nobody."""
    nobody = pwd.getpwnam("nobody")
    path = os.path.join(os.fsencode(directory), name)
    shutil.copy("/bin/true", os.fsdecode(path))
    os.chown(path, nobody.pw_uid, nobody.pw_gid)

    def drop() -> None:
        os.setgroups([])
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)

    p = subprocess.run([path], preexec_fn=drop, check=False)
    assert p.returncode == 0


def test_non_utf8_executable_does_not_stop_detection(runs: tuple[Run, Run]) -> None:
    text, js = runs
    with tempfile.TemporaryDirectory(prefix="lanner-hostile-", dir="/tmp") as d:
        os.chmod(d, 0o755)
        first = b"rel" + BAD
        _run_as_nobody(Path(d), first)
        shown = f"{d}/rel\ufffd"
        # text alert: the byte prints as U+FFFD, the file stays valid UTF-8
        line = text.wait_line("Program executed from a temporary directory", shown)
        assert "user=nobody" in line
        # JSON alert: valid JSON, the field carries U+FFFD
        doc = json.loads(js.wait_line(RULE, shown))
        assert doc["rule"] == RULE
        assert doc["output_fields"]["proc.exepath"] == shown
        assert doc["output_fields"]["user.name"] == "nobody"
        assert shown in doc["output"]

        # both are still running and still detecting what comes after
        second = b"after-" + BAD + b"\xfe"
        _run_as_nobody(Path(d), second)
        after = f"{d}/after-\ufffd\ufffd"
        text.wait_line("Program executed from a temporary directory", after)
        json.loads(js.wait_line(RULE, after))
    assert text.proc.poll() is None, text.log_text()[-3000:]
    assert js.proc.poll() is None, js.log_text()[-3000:]
