"""`lanner generate test` against a live `lanner run` capturing syscalls with the eBPF probe,
with the default syscall rules: every syscall action must be detected.

Skipped, with the exact reason, where live capture cannot run: not root, no kernel BTF,
probe not built, or a `lanner run` without live capture.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from lanner.services.generate.registry import select

from .lanner_proc import ROOT, SYSCALL_RULES, LannerRun, free_port, generate, wait_port

BTF = Path("/sys/kernel/btf/vmlinux")
STARTED = "syscall capture started"
UNAVAILABLE = re.compile(r".*(live capture (is not available|needs)|ProbeUnavailable).*")

# Actions whose alert a live `lanner run` is known to miss, and why. They are run and
# reported; the test fails only for the others (and reports these when they pass again).
KNOWN_LIVE_GAPS: dict[str, str] = {}


def live_skip_reason() -> str | None:
    """Why a live run cannot be tried here, or None."""
    if os.geteuid() != 0:
        return "live syscall capture needs root (loading eBPF programs)"
    if not BTF.exists():
        return f"live syscall capture needs kernel BTF at {BTF}"
    try:
        from lanner.sources.syscall.probe import default_object
    except ImportError as exc:
        return f"the live probe is not in this build ({exc})"
    obj = default_object()
    if not obj.is_file():
        return f"the probe is not built ({obj}): run scripts/build_probe.sh"
    return None


@pytest.fixture(scope="module")
def live_lanner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LannerRun, str]]:
    """A live `lanner run` with the default syscall rules, its file output and /metrics."""
    reason = live_skip_reason()
    if reason:
        pytest.skip(reason)
    web = free_port()
    run = LannerRun(
        tmp_path_factory.mktemp("live-lanner"),
        [SYSCALL_RULES],
        webserver={"enabled": True, "listen_port": web, "listen_address": "127.0.0.1"},
    )
    try:
        if not run.wait_log(STARTED, timeout=60):
            log = run.log_text()
            found = UNAVAILABLE.search(log)
            if found and run.proc.poll() is not None:
                pytest.skip(f"lanner run has no live capture here: {found.group(0).strip()}")
            pytest.fail(f"lanner run did not start live capture:\n{log[-3000:]}")
        assert wait_port(web), run.log_text()
        yield run, f"http://127.0.0.1:{web}/metrics"
    finally:
        run.stop()


def test_every_syscall_action_is_detected_live(live_lanner: tuple[LannerRun, str]) -> None:
    run, metrics = live_lanner
    r = generate(
        "test", "--source", "syscall", "--alerts", str(run.alerts), "--timeout", "15",
        "--retries", "1", "--metrics", metrics, timeout=300,
    )  # fmt: skip
    print(r.stdout)
    status = {}
    for line in r.stdout.splitlines():
        m = re.match(r"^(\w+)\s{2,}.+?\s{2,}(PASS|FAIL|ERROR|SKIP)\b", line)
        if m:
            status[m.group(1)] = m.group(2)
    assert set(status) == {a.name for a in select(source="syscall", ruleset="lanner")}, (
        r.stdout + r.stderr
    )
    missed = {n: s for n, s in status.items() if s in ("FAIL", "ERROR")}
    unexpected = {n: s for n, s in missed.items() if n not in KNOWN_LIVE_GAPS}
    assert not unexpected, f"not detected live: {unexpected}\n{r.stdout}\n{run.log_text()[-2000:]}"
    gaps = {n: KNOWN_LIVE_GAPS[n] for n in missed}
    if gaps:
        pytest.xfail(f"known live gaps: {gaps}")


UPSTREAM_RULES = ROOT.parent / "shared" / "fixtures" / "rules" / "falco_rules.yaml"


def generator_lanner(tmp_path: Path, rules: list[Path]) -> tuple[LannerRun, Path]:
    """A live `lanner run` with ``rules`` whose container runtime is the generator's
    endpoint socket (returned), every matching rule alerting with its output fields."""
    sock = tmp_path / "generate-docker.sock"
    run = LannerRun(
        tmp_path,
        rules,
        json_include_output_fields_property=True,
        rule_matching="all",
        append_output=[{"suggested_output": True}],
        container_engines={
            "docker": {"sockets": [str(sock)]},
            "cri": {"enabled": False},
            "podman": {"enabled": False},
        },
    )
    return run, sock


def test_upstream_falco_rules_are_proved_live(tmp_path: Path) -> None:
    """Issue 26: with the upstream falco_rules.yaml loaded live, `generate test --rules`
    proves >= 80 % of its rules (all enabled by default), lists the others with a reason,
    and proves the training lab's two alerts with the simulated container's name."""
    reason = live_skip_reason()
    if reason:
        pytest.skip(reason)
    assert UPSTREAM_RULES.is_file(), f"missing fixture {UPSTREAM_RULES}"
    run, sock = generator_lanner(tmp_path, [UPSTREAM_RULES])
    try:
        assert run.wait_log(STARTED, timeout=90), run.log_text()[-3000:]
        r = generate(
            "test", "--rules", str(UPSTREAM_RULES), "--alerts", str(run.alerts),
            "--timeout", "30", "--runtime-socket", str(sock), timeout=600,
        )  # fmt: skip
    finally:
        run.stop()
    print(r.stdout)
    rows = {}
    for line in r.stdout.splitlines():
        m = re.match(r"^(.+?)\s{2,}(proved|not triggered|no action|cannot run here)\b(.*)$", line)
        if m:
            rows[m.group(1).strip()] = (m.group(2), m.group(3))
    upstream = set(re.findall(r"^- rule: (.+)$", UPSTREAM_RULES.read_text(), re.M))
    assert set(rows) == upstream, r.stdout + r.stderr
    proved = [n for n, (s, _) in rows.items() if s == "proved"]
    assert len(proved) >= 0.8 * len(upstream), r.stdout + run.log_text()[-2000:]
    for name in ("Terminal shell in container", "Netcat Remote Code Execution in Container"):
        status, detail = rows[name]
        assert status == "proved" and "container lanner-gen-sim-" in detail, (name, detail)
        assert "(simulated)" in detail
    for name, (status, detail) in rows.items():
        if status != "proved":
            assert status == "cannot run here" and detail.strip(), (name, status, detail)


def test_upstream_incubating_and_sandbox_rules_are_proved_live(tmp_path: Path) -> None:
    """Issue 26: with the three upstream syscall files loaded live, `generate test --rules`
    proves >= 80 % of the rules the incubating and sandbox files enable by default (the
    actions of syscall_upstream_more and mapped ones), and gives a reason for each other."""
    import yaml

    reason = live_skip_reason()
    if reason:
        pytest.skip(reason)
    files = [
        UPSTREAM_RULES.with_name(n)
        for n in ("falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml")
    ]
    for f in files:
        assert f.is_file(), f"missing fixture {f}"
    run, sock = generator_lanner(tmp_path, files)
    try:
        assert run.wait_log(STARTED, timeout=90), run.log_text()[-3000:]
        args = [a for f in files for a in ("--rules", str(f))]
        r = generate(
            "test", *args, "--alerts", str(run.alerts), "--timeout", "30",
            "--runtime-socket", str(sock), timeout=900,
        )  # fmt: skip
    finally:
        run.stop()
    print(r.stdout)
    rows = {}
    for line in r.stdout.splitlines():
        m = re.match(r"^(.+?)\s{2,}(proved|not triggered|no action|cannot run here)\b(.*)$", line)
        if m:
            rows[m.group(1).strip()] = (m.group(2), m.group(3))
    for f in files[1:]:
        doc = yaml.safe_load(f.read_text())
        enabled = {i["rule"] for i in doc if "rule" in i and i.get("enabled", True) is not False}
        assert enabled <= set(rows), (f.name, enabled - set(rows), r.stderr)
        proved = {n for n in enabled if rows[n][0] == "proved"}
        assert len(proved) >= 0.8 * len(enabled), (f.name, r.stdout, run.log_text()[-2000:])
        for name in enabled - proved:
            status, detail = rows[name]
            assert status == "cannot run here" and detail.strip(), (name, status, detail)
    for name in ("Launch Privileged Container", "Mount Launched in Privileged Container"):
        status, detail = rows[name]
        assert status == "proved" and "(simulated)" in detail, (name, detail)


def test_suite_of_the_training_lab_passes_live(tmp_path: Path) -> None:
    """`lanner generate suite` runs examples/generate/training-lab.yaml's scenarios against
    a live lanner run with the upstream rules: every scenario passes; a scenario expecting
    an alert its steps never raise fails, naming the missing rule."""
    reason = live_skip_reason()
    if reason:
        pytest.skip(reason)
    run, sock = generator_lanner(tmp_path, [UPSTREAM_RULES])
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        "- scenario: expects what it cannot raise\n  steps: [ptrace_traceme]\n"
        "  expect: [{rule: Terminal shell in container}]\n"
    )
    try:
        assert run.wait_log(STARTED, timeout=90), run.log_text()[-3000:]
        suite = ROOT / "examples" / "generate" / "training-lab.yaml"
        common = ["--alerts", str(run.alerts), "--timeout", "30", "--runtime-socket", str(sock)]
        ok = generate("suite", str(suite), *common, timeout=600)
        bad = generate("suite", str(wrong), *common, timeout=600)
    finally:
        run.stop()
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "3 pass, 0 fail, 0 error, 0 skip" in ok.stdout, ok.stdout
    assert bad.returncode == 1 and "missing ['Terminal shell in container']" in bad.stdout
