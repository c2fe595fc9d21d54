"""The Dockerfile (docker cannot run here: its stages, what it copies, and the probe stage's
build command are checked) and the systemd unit."""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import require_tool

from .helpers import DEPLOY, ROOT, configmap_file, container, env_of, find, rendered

DOCKERFILE = ROOT / "Dockerfile"
UNIT = DEPLOY / "systemd/lanner.service"
ENGINE_CAPS = {
    "CAP_BPF",
    "CAP_PERFMON",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_PTRACE",
    "CAP_DAC_READ_SEARCH",
}


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            word, _, rest = pending.partition(" ")
            out.append((word.upper(), rest.strip()))
            pending = ""
    return out


def _stages() -> dict[str, list[tuple[str, str]]]:
    stages: dict[str, list[tuple[str, str]]] = {}
    current = None
    for word, rest in _instructions():
        if word == "FROM":
            parts = rest.split()
            assert len(parts) == 3 and parts[1].upper() == "AS", rest
            current = parts[2]
            stages[current] = [(word, rest)]
        elif current is not None:
            stages[current].append((word, rest))
    return stages


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def _dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps ``path`` out of the build context (a pattern matching a
    directory excludes what is below it; no ``!`` exceptions are used)."""
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [_ignore_regex(ln.strip()) for ln in lines if ln.strip() and ln[0] != "#"]
    assert not any(ln.startswith("!") for ln in lines)
    parts = Path(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(p.fullmatch(prefix) for p in patterns for prefix in prefixes)


def test_dockerfile_has_probe_wheels_and_runtime_stages() -> None:
    stages = _stages()
    assert list(stages) == ["probe", "wheels", "runtime"]
    probe_run = " ".join(rest for word, rest in stages["probe"] if word == "RUN")
    for tool in ("clang", "llvm", "bpftool", "libbpf-dev", "build_probe.sh"):
        assert tool in probe_run, tool
    runtime = stages["runtime"]
    runtime_text = " ".join(rest for _, rest in runtime)
    # no compiler in the final image, but libbpf.so.1 for the loader
    assert "clang" not in runtime_text and "libbpf1" in runtime_text
    froms = [rest for word, rest in runtime if word == "COPY" and "--from=" in rest]
    assert any("--from=probe" in c and "lanner_probe.bpf.o" in c for c in froms)
    assert any("--from=wheels" in c for c in froms)
    entry = next(rest for word, rest in runtime if word == "ENTRYPOINT")
    assert yaml.safe_load(entry) == ["lanner"]


def test_dockerfile_copies_files_that_exist_and_are_not_ignored() -> None:
    copied = 0
    for stage, instructions in _stages().items():
        for word, rest in instructions:
            if word != "COPY" or "--from=" in rest:
                continue
            *sources, _dest = shlex.split(rest)
            for src in sources:
                assert (ROOT / src).exists(), f"{stage}: COPY {src}: no such file"
                assert not _dockerignored(src), f"{stage}: {src} is excluded by .dockerignore"
                copied += 1
    assert copied >= 7
    assert _dockerignored(".venv/bin/python") and _dockerignored("tests/deploy/test_packaging.py")
    assert _dockerignored("src/lanner/__pycache__/cli.cpython-311.pyc")
    assert not _dockerignored("src/lanner/cli.py")


def test_image_paths_agree_with_the_manifests_and_the_code() -> None:
    text = DOCKERFILE.read_text()
    objs = rendered("overlays/minimal")
    engine = container(find(objs, "DaemonSet", "lanner"))
    probe = env_of(engine)["LANNER_PROBE"]
    assert f"COPY --from=probe /out/lanner_probe.bpf.o {probe}" in text
    assert f"LANNER_PROBE={probe}" in text
    # the rules the engine's configuration loads are where the image puts them
    cfg = yaml.safe_load(configmap_file(objs, "lanner-config", "lanner.yaml"))
    for path in cfg["rules_files"][:-1]:
        name = Path(path).name
        assert (ROOT / "src/lanner/rules" / name).is_file()
        assert f"src/lanner/rules/{name}" in text and path.startswith("/etc/lanner/")
    assert "mkdir -p /etc/lanner/rules.d" in text
    # the image's default command (`run -c /etc/lanner/lanner.yaml`) finds every rules path
    # of the shipped lanner.yaml
    default = yaml.safe_load((ROOT / "lanner.yaml").read_text())
    for path in default["rules_files"]:
        name = Path(path).name
        assert (
            f"src/lanner/rules/{name}" in text
            or f"mkdir -p {path}" in text
            or f"touch {path}" in text
        ), path
    cmd = next(r for w, r in _instructions() if w == "CMD")
    assert yaml.safe_load(cmd) == ["run", "-c", "/etc/lanner/lanner.yaml"]
    assert "COPY lanner.yaml /etc/lanner/lanner.yaml" in text
    # the services' non-root user exists in the image
    for name in ("lanner-sidekick", "lanner-ui", "lanner-respond"):
        uid = find(rendered("overlays/standard"), "Deployment", name)["spec"]["template"]["spec"][
            "securityContext"
        ]["runAsUser"]
        assert f"--uid {uid}" in text
    ports = {int(p) for p in next(r for w, r in _instructions() if w == "EXPOSE").split()}
    assert ports == {8765, 9765, 2801, 2802, 2804}


@pytest.mark.skipif(
    not all(shutil.which(t) for t in ("clang", "bpftool"))
    or not Path("/sys/kernel/btf/vmlinux").exists(),
    reason="clang, bpftool or kernel BTF missing",
)
def test_probe_stage_command_builds_the_probe() -> None:
    """The probe stage's RUN line, as docker would run it, with build/probe for /out (the
    script's own default, so that an up-to-date probe is not built twice)."""
    run = next(r for w, r in _stages()["probe"] if w == "RUN" and "build_probe.sh" in r)
    out = ROOT / "build/probe"
    command = run.replace("/out", str(out)).replace("${LANNER_BTF}", "/sys/kernel/btf/vmlinux")
    res = subprocess.run(
        ["bash", "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, res.stderr
    obj = out / "lanner_probe.bpf.o"
    assert obj.read_bytes()[:4] == b"\x7fELF"


# --- systemd -----------------------------------------------------------------------------


def _unit() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def test_systemd_unit_runs_lanner_with_only_the_probes_capabilities() -> None:
    unit = _unit()
    service = unit["Service"]
    assert shlex.split(service["ExecStart"])[1:] == ["run", "-c", "/etc/lanner/lanner.yaml"]
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"  # lanner reloads on SIGHUP
    assert set(service["CapabilityBoundingSet"].split()) == ENGINE_CAPS
    assert service["NoNewPrivileges"] == "yes"
    assert service["User"] == "root"
    # SECBIT_NOROOT would leave root with no capabilities after exec, unless ambient
    # capabilities carried them: neither is set, so root keeps the bounding set
    assert "SecureBits" not in service and "AmbientCapabilities" not in service
    assert service["ProtectSystem"] == "strict"
    assert "LANNER_PROBE=/usr/share/lanner/lanner_probe.bpf.o" in UNIT.read_text()
    syscalls = service["SystemCallFilter"].split()
    assert {"bpf", "perf_event_open", "@system-service"} <= set(syscalls)
    # settings that would stop the probe or hide what it watches
    for key in ("ProtectProc", "ProcSubset", "PrivateDevices", "MemoryDenyWriteExecute"):
        assert key not in service, key
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    require_tool("systemd-analyze", "systemd")
    exe = str(Path(sys.executable).parent / "lanner")
    if not Path(exe).exists():
        pytest.fail(f"no lanner console script at {exe}: run scripts/setup.sh", pytrace=False)
    unit = tmp_path / "lanner.service"
    unit.write_text(UNIT.read_text().replace("/opt/lanner/bin/lanner", exe))
    out = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    # unknown or misspelt directives are only warnings: none allowed
    assert "Unknown" not in out.stderr and "ignoring" not in out.stderr, out.stderr
