"""``lanner run`` derives the probe's kernel-side filter from its rules and recomputes it on
a reload: with rules on successful mkdirs only, failed mkdirs are dropped in the kernel; a
SIGHUP that adds a rule on failed mkdirs makes them arrive (the rule fires). State the rules
rely on (a chdir before a relative open) still arrives while failures are filtered.

Skipped, with the reason, where live capture cannot run (not root, no BTF, no probe).
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live_requirements import live_skip_reason

ROOT = Path(__file__).resolve().parents[2]
LANNER = str(Path(sys.executable).parent / "lanner")
BTF = Path("/sys/kernel/btf/vmlinux")
WAIT = 30.0

RULE = """\
- rule: {name}
  desc: e2e kernel filter
  condition: {condition}
  output: "{name} (path=%evt.arg.path file=%fd.name res=%evt.res proc=%proc.name)"
  priority: WARNING
"""


def rules_text(tmp: Path, with_failed: bool) -> str:
    prefix = f"{tmp}/"
    failed = "evt.type = mkdir and evt.failed = true and evt.arg.path startswith "
    text = RULE.format(
        name="mkdir ok",
        condition=f"evt.type = mkdir and evt.failed = false and evt.arg.path startswith {prefix}",
    ) + RULE.format(
        name="relative open",
        condition=f"evt.type = openat and fd.num >= 0 and fd.name = {tmp}/sub/rel",
    )
    if with_failed:
        text += RULE.format(
            name="mkdir failed",
            condition=failed + prefix,
        )
    return text


def alerts(path: Path) -> list[dict[str, Any]]:
    out = []
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
    return out


def wait_for(pred: Any, what: str, log: Path) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} within {WAIT} s; log tail:\n{log.read_text()[-3000:]}")


def act(tmp: Path, name: str) -> None:
    """A successful and a failed mkdir, then a chdir and a relative open."""
    code = f"""
        import os
        os.mkdir({str(tmp / name)!r})
        try:
            os.mkdir({str(tmp / name)!r})
        except FileExistsError:
            pass
        os.chdir({str(tmp / "sub")!r})
        os.close(os.open("rel", os.O_RDONLY))
    """
    subprocess.run([sys.executable, "-c", textwrap.dedent(code)], check=True)


@pytest.fixture
def run(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path, Path]]:
    reason = live_skip_reason()
    if reason:
        pytest.skip(reason)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "rel").write_text("x")
    rules = tmp_path / "rules.yaml"
    rules.write_text(rules_text(tmp_path, with_failed=False))
    out = tmp_path / "alerts.json"
    log = tmp_path / "lanner.log"
    argv = [
        LANNER, "run", "-r", str(rules),
        "-o", "json_output=true",
        "-o", "file_output.enabled=true",
        "-o", "file_output.keep_alive=true",
        "-o", f"file_output.filename={out}",
        "-o", "stdout_output.enabled=false",
        "-o", "syslog_output.enabled=false",
        "-o", "rule_matching=all",
        "-o", "log_stderr=true",
        "-o", "log_syslog=false",
        "-o", "log_level=info",
    ]  # fmt: skip
    with open(log, "wb") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        wait_for(lambda: "syscall capture started" in log.read_text(), "capture start", log)
        time.sleep(0.5)  # the /proc snapshot is loaded right after the message
        yield proc, rules, out, log
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_reload_widens_the_kernel_filter(
    run: tuple[subprocess.Popen[bytes], Path, Path, Path], tmp_path: Path
) -> None:
    proc, rules, out, log = run
    act(tmp_path, "first")
    first = str(tmp_path / "first")

    def fired(rule: str, path: str | None = None) -> bool:
        return any(
            a.get("rule") == rule and (path is None or f"path={path} " in a.get("output", ""))
            for a in alerts(out)
        )

    wait_for(lambda: fired("mkdir ok", first), "the successful mkdir alert", log)
    wait_for(lambda: fired("relative open"), "the relative open alert (chdir state)", log)
    rel = next(a for a in alerts(out) if a["rule"] == "relative open")
    assert f"file={tmp_path}/sub/rel " in rel["output"]

    rules.write_text(rules_text(tmp_path, with_failed=True))
    proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload (SIGHUP): 3 rules loaded" in log.read_text(), "the reload", log)
    act(tmp_path, "second")
    second = str(tmp_path / "second")
    wait_for(lambda: fired("mkdir failed", second), "the failed mkdir alert after reload", log)
    failed = [a for a in alerts(out) if a["rule"] == "mkdir failed"]
    assert all(f"path={second} " in a["output"] and "res=EEXIST" in a["output"] for a in failed)
    # before the reload no failed mkdir reached the rules (there was none to match it), and
    # after it the successful one still fires once
    assert [a for a in alerts(out) if a["rule"] == "mkdir ok" and f"path={second} " in a["output"]]
    assert proc.poll() is None
