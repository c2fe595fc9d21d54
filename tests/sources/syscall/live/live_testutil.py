"""Helpers for the live probe tests (imported by name: a unique module name)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lanner.sources.syscall.event import Event
from lanner.sources.syscall.pipeline import SyscallPipeline
from lanner.sources.syscall.probe import default_object
from lanner.sources.syscall.probe.loader import BTF_PATH, repo_root


def probe_skip_reason() -> str | None:
    """Why live tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "live probe tests need root (loading eBPF programs)"
    if not BTF_PATH.exists():
        return f"live probe tests need kernel BTF at {BTF_PATH}"
    obj = default_object()
    have_tools = shutil.which("clang") and (
        shutil.which("bpftool") or Path("/usr/sbin/bpftool").exists()
    )
    if have_tools and "LANNER_PROBE" not in os.environ:
        # idempotent: rebuilds only when the source or the kernel's BTF changed
        r = subprocess.run(
            ["bash", str(repo_root() / "scripts" / "build_probe.sh")],
            capture_output=True,
            text=True,
            check=False,
        )
        if r.returncode != 0:  # a broken probe is a failure, not a skip
            raise RuntimeError(f"scripts/build_probe.sh failed:\n{r.stderr.strip()[-2000:]}")
    if not obj.is_file():
        return f"probe not built ({obj}) and clang/bpftool missing (apt-get install clang bpftool)"
    return None


Collector = Callable[..., tuple[subprocess.Popen[bytes], list[Event]]]


def run_and_collect(
    cap: SyscallPipeline, argv: list[str], timeout: float = 15.0, **popen_kw: Any
) -> tuple[subprocess.Popen[bytes], list[Event]]:
    """Run ``argv``, reading the capture meanwhile; return its events up to its procexit."""
    popen_kw.setdefault("stdout", subprocess.DEVNULL)
    while cap.source.probe is not None and cap.source.probe.pending():
        cap.poll(0)  # catch up first, so the ring has room for this process's events
    proc = subprocess.Popen(argv, **popen_kw)
    pid = proc.pid
    events: list[Event] = []
    deadline = time.monotonic() + timeout
    done = False
    while not done and time.monotonic() < deadline:
        for ev in cap.poll(0.1):
            th = ev.thread
            if ev.tid == pid or (th is not None and th.pid == pid):
                events.append(ev)
                if ev.name == "procexit" and ev.tid == pid:
                    done = True
    proc.wait(timeout=timeout)
    return proc, events
