"""What live syscall capture needs here, checked once for every live end-to-end test.

``live_skip_reason()`` builds the probe when clang is there (as setup does) and returns why
live capture cannot run on this machine (not root, no kernel BTF, no probe), or None.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BTF = Path("/sys/kernel/btf/vmlinux")


def live_skip_reason(build: bool = True) -> str | None:
    """Why live capture cannot run here, or None; ``build``: build the probe first."""
    if os.geteuid() != 0:
        return "live syscall capture needs root (loading eBPF programs)"
    if not BTF.exists():
        return f"live syscall capture needs kernel BTF at {BTF}"
    try:
        from lanner.sources.syscall.probe import default_object
    except ImportError as exc:
        return f"the live probe is not in this build ({exc})"
    if build and shutil.which("clang") and "LANNER_PROBE" not in os.environ:
        subprocess.run(["bash", str(ROOT / "scripts" / "build_probe.sh")], check=True)
    if not default_object().is_file():
        return f"the probe is not built ({default_object()}): run scripts/build_probe.sh"
    return None
