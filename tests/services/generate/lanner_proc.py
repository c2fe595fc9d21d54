"""A real `lanner run` process for the generate tests, configured through a YAML file."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from helpers import free_port  # noqa: F401 - re-exported

ROOT = Path(__file__).resolve().parents[3]
SYSCALL_RULES = ROOT / "src" / "lanner" / "rules" / "lanner_rules.yaml"
K8S_RULES = ROOT / "src" / "lanner" / "rules" / "lanner_k8s_audit_rules.yaml"
LANNER = [str(Path(sys.executable).parent / "lanner")]


def wait_port(port: int, timeout: float = 20.0) -> bool:
    """True once something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


class LannerRun:
    """``lanner run -c CONFIG -r RULES... ARGS`` writing JSON alerts to ``alerts``; ``env``
    replaces the environment (this process's by default)."""

    def __init__(
        self,
        tmp: Path,
        rules: list[Path],
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        **config: Any,
    ) -> None:
        self.alerts = tmp / "alerts.json"
        self.log = tmp / "lanner.log"
        cfg: dict[str, Any] = {
            "json_output": True,
            "stdout_output": {"enabled": False},
            "syslog_output": {"enabled": False},
            "file_output": {"enabled": True, "keep_alive": True, "filename": str(self.alerts)},
            "webserver": {"enabled": False},
            "log_syslog": False,
            "log_stderr": True,
        }
        cfg.update(config)
        self.config = tmp / "lanner.yaml"
        self.config.write_text(yaml.safe_dump(cfg))
        argv = [*LANNER, "run", "-c", str(self.config)]
        for r in rules:
            argv += ["-r", str(r)]
        self.log_fh = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [*argv, *args], stdout=self.log_fh, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=env,
        )  # fmt: skip

    @property
    def pid(self) -> int:
        """The lanner process id."""
        return self.proc.pid

    def log_text(self) -> str:
        """What lanner printed so far."""
        return self.log.read_text(errors="replace")

    def wait_log(self, text: str, timeout: float = 30.0) -> bool:
        """True once ``text`` appears in the log; False on timeout or exit."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log_text():
                return True
            if self.proc.poll() is not None:
                return text in self.log_text()
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; always reaped."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_fh.close()


def generate(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run ``lanner generate ARGS`` to completion."""
    env = dict(os.environ)
    return subprocess.run(
        [*LANNER, "generate", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def report_rows(report: str) -> dict[str, str]:
    """Rule -> verdict (proved, not triggered, no action, cannot run here) of the report
    ``lanner generate test`` prints."""
    return dict(re.findall(r"^(.+?)\s{2,}(proved|not triggered|no action|cannot run here)\b",
                           report, re.M))  # fmt: skip


def enabled_rules(path: Path) -> list[str]:
    """The names of the rules of a rules file that are enabled."""
    doc = yaml.safe_load(path.read_text())
    return [
        r["rule"] for r in doc if isinstance(r, dict) and "rule" in r and r.get("enabled", True)
    ]
