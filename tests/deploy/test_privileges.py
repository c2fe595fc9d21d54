"""The engine's least privilege, tried for real: `lanner run` loads the eBPF probe and raises
a live alert with exactly the capabilities the DaemonSet adds (and the systemd unit keeps)
and no_new_privs, and the kernel refuses the probe when BPF or PERFMON is taken away.

Runs where the probe can load: root, x86_64, kernel BTF, and the probe built (it is built
here with scripts/build_probe.sh when clang and bpftool are installed)."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from helpers import missing, require_tool

from .helpers import DEPLOY, ROOT, Service, container, find, rendered, wait_until


def _daemonset_caps() -> list[str]:
    sc = container(find(rendered("overlays/minimal"), "DaemonSet", "lanner"))["securityContext"]
    assert sc["capabilities"]["drop"] == ["ALL"] and sc["allowPrivilegeEscalation"] is False
    return sorted(c.lower() for c in sc["capabilities"]["add"])


def _probe_problem() -> str | None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return "needs root and setpriv"
    if all(shutil.which(t) for t in ("clang", "bpftool")):
        subprocess.run(["bash", "scripts/build_probe.sh"], cwd=ROOT, capture_output=True)
    try:
        from lanner.sources.syscall.probe import check_requirements

        check_requirements()
    except Exception as exc:
        return str(exc)
    return None


PROBLEM = _probe_problem()
needs_probe = pytest.mark.skipif(PROBLEM is not None, reason=str(PROBLEM))


def _engine(tmp: Path, caps: list[str], marker: Path) -> Service:
    rules = tmp / "rules.yaml"
    rules.write_text(
        "- rule: Marker read\n  desc: marker opened\n  priority: WARNING\n"
        f"  condition: evt.type in (open, openat, openat2) and fd.name = {marker}\n"
        '  output: "marker opened by %proc.name (file=%fd.name)"\n'
    )
    bounding = ",".join(["-all", *(f"+{c}" for c in caps)])
    return Service(
        "run", "-r", str(rules), "-o", "json_output=true",
        prefix=["setpriv", "--no-new-privs", "--inh-caps=-all", f"--bounding-set={bounding}"],
    )  # fmt: skip


def test_the_systemd_unit_keeps_the_same_capabilities() -> None:
    unit = configparser.RawConfigParser(strict=False)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((DEPLOY / "systemd/lanner.service").read_text())
    bounding = unit["Service"]["CapabilityBoundingSet"].split()
    assert sorted(c.removeprefix("CAP_").lower() for c in bounding) == _daemonset_caps()


@needs_probe
def test_the_probe_runs_with_only_the_daemonsets_capabilities(tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    marker.write_text("x")
    engine = _engine(tmp_path, _daemonset_caps(), marker)
    try:
        wait_until(
            lambda: engine.alive() and any("capture started" in ln for ln in engine.err.snapshot()),
            60,
            "the probe to load",
        )

        def alerted() -> bool:
            subprocess.run(["cat", str(marker)], capture_output=True, check=True)
            return any('"rule":"Marker read"' in ln for ln in engine.out.snapshot())

        wait_until(alerted, 60, "the live alert")
        assert any(f"marker opened by cat (file={marker})" in ln for ln in engine.out.snapshot())
    finally:
        engine.stop()


@needs_probe
def test_the_kernel_refuses_the_probe_without_bpf_or_perfmon(tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    marker.write_text("x")
    engines = {
        cap: _engine(tmp_path, [c for c in _daemonset_caps() if c != cap], marker)
        for cap in ("bpf", "perfmon")
    }
    try:
        for cap, engine in engines.items():
            wait_until(
                lambda e=engine: any("refused the probe" in ln for ln in e.err.snapshot()),
                60,
                f"the refusal without {cap}",
            )
            assert not any("capture started" in ln for ln in engine.err.snapshot()), cap
    finally:
        for engine in engines.values():
            engine.stop()


HOLDER = """
import os, sys, time
d = sys.argv[1]
f = open(os.path.join(d, "held.txt"), "wb")
open(os.path.join(d, "ready"), "w").close()
while not os.path.exists(os.path.join(d, "go")):
    time.sleep(0.05)
for _ in range(100):
    os.fchmod(f.fileno(), 0o640)
    time.sleep(0.1)
"""


@needs_probe
def test_proc_snapshot_needs_sys_ptrace_and_dac_read_search() -> None:
    """A file another user's process opened before Lanner started is known by name only
    through the /proc snapshot of its fds, which needs both /proc capabilities."""
    python = Path("/usr/bin/python3")  # one the other user may run (not this venv's)
    require_tool("runuser", "util-linux")
    if not python.exists():
        missing(str(python), "python3")
    work = Path(tempfile.mkdtemp(prefix="lanner-caps-"))
    work.chmod(0o777)
    held = work / "held.txt"
    rules = work / "rules.yaml"
    rules.write_text(
        "- rule: Held fchmod\n  desc: x\n  priority: WARNING\n"
        "  condition: evt.type = fchmod and proc.name startswith python\n"
        '  output: "fchmod of [%fd.name] by uid %user.uid"\n'
    )
    holder = subprocess.Popen(
        ["runuser", "-u", "nobody", "--", str(python), "-c", HOLDER, str(work)]
    )
    all_caps = _daemonset_caps()
    variants = {
        "all": all_caps,
        "no sys_ptrace": [c for c in all_caps if c != "sys_ptrace"],
        "no dac_read_search": [c for c in all_caps if c != "dac_read_search"],
    }
    engines: dict[str, Service] = {}
    try:
        wait_until(lambda: (work / "ready").exists(), 30, "the other user's process")
        for name, caps in variants.items():
            bounding = ",".join(["-all", *(f"+{c}" for c in caps)])
            engines[name] = Service(
                "run", "-r", str(rules), "-o", "json_output=true",
                prefix=["setpriv", "--no-new-privs", "--inh-caps=-all",
                        f"--bounding-set={bounding}"],
            )  # fmt: skip
        for name, engine in engines.items():
            wait_until(
                lambda e=engine: (
                    e.alive() and any("capture started" in ln for ln in e.err.snapshot())
                ),
                60,
                f"the probe ({name})",
            )
        (work / "go").touch()

        def outputs(name: str) -> list[str]:
            return [ln for ln in engines[name].out.snapshot() if '"Held fchmod"' in ln]

        for name in engines:
            wait_until(lambda n=name: outputs(n), 30, f"fchmod events ({name})")
        assert all(f"fchmod of [{held}] by uid 65534" in ln for ln in outputs("all"))
        for name in ("no sys_ptrace", "no dac_read_search"):
            assert all("fchmod of [] by uid 65534" in ln for ln in outputs(name)), name
    finally:
        for engine in engines.values():
            engine.stop()
        holder.kill()
        holder.wait()
        shutil.rmtree(work, ignore_errors=True)
