"""Helpers for the live capture-writing tests (root + BTF + the built probe)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lanner.exceptions import ProbeUnavailable
from lanner.sources.syscall.probe import check_requirements
from lanner.sources.syscall.probe.loader import BTF_PATH, repo_root

LANNER = [str(Path(sys.executable).with_name("lanner"))]


def live_skip_reason() -> str | None:
    """Why a live capture cannot run here, or None (builds the probe when it can)."""
    if os.geteuid() != 0:
        return "live capture needs root (loading eBPF programs)"
    if not BTF_PATH.exists():
        return f"live capture needs kernel BTF at {BTF_PATH}"
    if shutil.which("clang") and "LANNER_PROBE" not in os.environ:
        r = subprocess.run(
            ["bash", str(repo_root() / "scripts" / "build_probe.sh")],
            capture_output=True,
            text=True,
            check=False,
        )
        if r.returncode != 0:
            raise RuntimeError(f"scripts/build_probe.sh failed:\n{r.stderr[-2000:]}")
    try:
        check_requirements()
    except ProbeUnavailable as exc:
        return str(exc)
    return None


def capture_while(
    path: Path, actions: Callable[[], None], *args: str, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run ``lanner capture -w path [args]``, do ``actions`` once it captures, stop it."""
    proc = subprocess.Popen(
        [*LANNER, "capture", "-w", str(path), "-M", str(timeout), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=repo_root(),
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()  # "capturing to ..." once the snapshot is written
    if "capturing to" not in line:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"capture did not start: {line}{err}")
    try:
        actions()
        time.sleep(0.5)  # the reader checks the ring every 50 ms
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, line + err)
