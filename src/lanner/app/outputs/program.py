"""program_output: pipe alerts to a command's stdin, one process or one per alert.

The command line comes from the configuration only and is split with shlex; no shell
runs and alert data never reaches the argument list (use ``sh -c '…'`` explicitly for
pipelines).
"""

from __future__ import annotations

import logging
import shlex
import subprocess
from typing import Any, BinaryIO

from lanner.app.outputs.base import Message, Output
from lanner.app.outputs.registry import register

log = logging.getLogger("lanner.outputs")


@register
class ProgramOutput(Output):
    """Writes alert lines to a program's standard input."""

    name = "program"
    config_key = "program_output"

    @classmethod
    def from_config(
        cls, section: dict[str, Any], stdout: BinaryIO | None, **common: Any
    ) -> ProgramOutput:
        return cls(str(section.get("program", "")), bool(section.get("keep_alive")), **common)

    def __init__(
        self, program: str, keep_alive: bool = False, timeout: float = 30.0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.argv = shlex.split(program)
        if not self.argv:
            raise ValueError("program_output.program is empty")
        self.keep_alive = keep_alive
        self.timeout = timeout
        self._proc: subprocess.Popen[bytes] | None = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.argv, stdin=subprocess.PIPE, close_fds=True)

    def _running(self) -> subprocess.Popen[bytes]:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            if proc is not None:
                log.warning("program output: %s exited (%s), restarting", self.argv[0],
                            proc.returncode)  # fmt: skip
            proc = self._proc = self._spawn()
        return proc

    def write(self, msg: Message) -> None:
        data = msg.line + b"\n"
        if not self.keep_alive:
            proc = self._spawn()
            try:
                proc.communicate(data, timeout=self.timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise RuntimeError(f"{self.argv[0]} did not finish in {self.timeout}s") from None
            if proc.returncode:
                raise RuntimeError(f"{self.argv[0]} exited with status {proc.returncode}")
            return
        proc = self._running()
        assert proc.stdin is not None
        try:
            proc.stdin.write(data)
            if not self.buffered:
                proc.stdin.flush()
        except BrokenPipeError:
            self._stop_proc()
            proc = self._running()
            assert proc.stdin is not None
            proc.stdin.write(data)
            proc.stdin.flush()

    def flush(self) -> None:
        proc = self._proc
        if proc is not None and proc.stdin is not None and proc.poll() is None:
            proc.stdin.flush()

    def _stop_proc(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def reopen(self) -> None:
        self._stop_proc()

    def shutdown(self) -> None:
        self._stop_proc()
