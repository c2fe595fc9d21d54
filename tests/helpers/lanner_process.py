"""A ``lanner run`` process with JSON alerts on stdout, read on a thread as they come,
its log in a file: the scaffolding of the tests of the cloud and SaaS plugin sources."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

LANNER_RUN = [sys.executable, "-c", "from lanner.cli import main; main()", "run"]
Alert = dict[str, Any]


class LannerProcess:
    """``lanner run -c CFG -r RULE_FILE... --disable-source syscall``; its stderr goes to
    ``err``, ``env`` replaces the environment (this process's by default)."""

    def __init__(
        self, cfg: Path, rules: list[Path], err: Path, env: dict[str, str] | None = None
    ) -> None:
        self.err = err
        argv = [*LANNER_RUN, "-c", str(cfg)]
        for r in rules:
            argv += ["-r", str(r)]
        argv += ["--disable-source", "syscall"]
        with open(err, "w") as fh:
            self.proc = subprocess.Popen(argv, env=dict(os.environ) if env is None else env,
                                         stdout=subprocess.PIPE, stderr=fh, text=True)  # fmt: skip
        self.alerts: queue.Queue[Alert] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.alerts.put(json.loads(line))

    def until(self, done: Callable[[Alert], bool], what: str, timeout: float = 60.0) -> list[Alert]:
        """Every alert up to and including the first for which ``done`` is true; an
        AssertionError naming ``what`` with the alerts and the log when none comes in time."""
        got: list[Alert] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                alert = self.alerts.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no alert of {what}; got {got}; log:\n"
                                     f"{self.log()[-3000:]}") from None  # fmt: skip
            got.append(alert)
            if done(alert):
                return got

    def take(self, n: int, settle: float = 3.0, timeout: float = 60.0) -> list[Alert]:
        """``n`` alerts, then whatever else comes within ``settle`` seconds."""
        got: list[Alert] = []
        deadline = time.monotonic() + timeout
        while len(got) < n:
            try:
                got.append(self.alerts.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(
                    f"{len(got)} of {n} alerts: {got}\n{self.log()[-3000:]}"
                ) from None
        time.sleep(settle)
        while not self.alerts.empty():
            got.append(self.alerts.get())
        return got

    def log(self) -> str:
        return self.err.read_text()

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM; the exit code, waited for ``timeout`` seconds."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout)
        return self.proc.returncode


def metrics(port: int) -> str:
    """The Prometheus text of the web server on 127.0.0.1:``port``."""
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
