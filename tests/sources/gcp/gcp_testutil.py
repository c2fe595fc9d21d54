"""Helpers of the Google Cloud source tests: ``lanner run`` with a Pub/Sub plugin against
the Pub/Sub DOUBLE (tests/helpers/pubsub_double.py), its alerts read as they come."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from helpers import shared_fixture
from helpers.pubsub_double import PubSubDouble

RULES = shared_fixture("rules")
LANNER = [sys.executable, "-c", "from lanner.cli import main; main()", "run"]


def write_config(tmp: Path, plugin: str, init: dict[str, Any], sub: str, web_port: int = 0,
                 extra_fields: list[str] | None = None) -> Path:  # fmt: skip
    cfg: dict[str, Any] = {
        "json_output": True,
        "stdout_output": {"enabled": True}, "log_level": "info", "rule_matching": "all",
        "load_plugins": [plugin, "json"],
        "plugins": [{"name": plugin, "init_config": init, "open_params": sub},
                    {"name": "json"}],
    }  # fmt: skip
    if extra_fields:  # Falco's append_output: fields to tell the alerts' events apart
        cfg["append_output"] = [{"extra_fields": extra_fields}]
    if web_port:  # the metrics endpoint
        cfg["webserver"] = {"enabled": True, "listen_port": web_port,
                            "listen_address": "127.0.0.1"}  # fmt: skip
    path = tmp / "lanner.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


class Lanner:
    """``lanner run -c CFG -r RULES...`` with the double's address in PUBSUB_EMULATOR_HOST."""

    def __init__(self, cfg: Path, rules: list[Path], err: Path, pubsub: PubSubDouble) -> None:
        self.err = err
        env = {**os.environ, "PUBSUB_EMULATOR_HOST": pubsub.host}
        args = [*LANNER, "-c", str(cfg), "--disable-source", "syscall"]
        for r in rules:
            args += ["-r", str(r)]
        with open(err, "w") as fh:
            self.proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=fh,
                                         text=True)  # fmt: skip
        self.alerts: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.alerts.put(json.loads(line))

    def take(self, n: int, settle: float = 2.0) -> list[dict[str, Any]]:
        """``n`` alerts, then whatever else comes within ``settle`` seconds."""
        got = []
        deadline = time.monotonic() + 90
        while len(got) < n:
            try:
                got.append(self.alerts.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(f"{len(got)} of {n} alerts: {got}\n{self.log()}") from None
        time.sleep(settle)
        while not self.alerts.empty():
            got.append(self.alerts.get())
        return got

    def log(self) -> str:
        return self.err.read_text()[-4000:]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        return self.proc.returncode
