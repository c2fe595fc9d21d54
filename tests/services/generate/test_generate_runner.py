"""run_and_check: PASS on the matching alert, FAIL without it, ERROR and SKIP; the table."""

from __future__ import annotations

from pathlib import Path

import orjson

from lanner.exceptions import ActionError
from lanner.services.generate.action import Action, Outcome, RunContext
from lanner.services.generate.alerts import FileAlerts
from lanner.services.generate.runner import failed, run_and_check, skip_reason, table


def writer(path: Path, rule: str) -> Action:
    """An action that 'is detected': it appends its own alert to the file."""

    def run(ctx: RunContext) -> Outcome:
        out = Outcome("lanner-gen-aaaaaaaaaa")
        with open(path, "ab") as fh:
            fh.write(orjson.dumps({"rule": rule, "output": f"x {out.marker}"}) + b"\n")
        return out

    return Action("detected", rule, "writes its alert", False, run)


def silent() -> Action:
    return Action("missed", "Some rule", "raises nothing", False, lambda ctx: Outcome("m-1"))


def broken() -> Action:
    def run(ctx: RunContext) -> Outcome:
        raise ActionError("cannot here")

    return Action("broken", "Some rule", "fails", False, run)


def test_pass_fail_error_and_skip(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    path.touch()
    needs_bpf = Action("bpf", "B", "d", False, lambda ctx: Outcome("m"), needs=("bpf",))
    feed = FileAlerts(path, poll=0.01)
    try:
        results = run_and_check(
            [writer(path, "R"), silent(), broken(), needs_bpf],
            feed,
            RunContext(),
            timeout=0.5,
            captured=frozenset({"execve"}),
        )
    finally:
        feed.close()
    assert [r.status for r in results] == ["PASS", "FAIL", "ERROR", "SKIP"]
    assert results[0].latency is not None
    assert results[3].detail == "the live probe does not capture bpf events"
    text = table(results)
    assert text.splitlines()[0].split() == ["ACTION", "RULE", "RESULT", "DETAIL"]
    assert text.splitlines()[-1] == "1 pass, 1 fail, 1 error, 1 skip"
    assert failed(results)
    assert not failed(results[:1] + results[3:])


def test_skip_reasons() -> None:
    a = Action("k", "K", "d", False, lambda ctx: Outcome("m"), source="k8s_audit", needs=("x",))
    assert skip_reason(a, frozenset()) is None  # needs only apply to syscall actions
    s = Action("s", "S", "d", False, lambda ctx: Outcome("m"), needs=("openat", "open"))
    assert skip_reason(s, frozenset({"open"})) is None
    assert skip_reason(s, None) is None  # probe unknown: try it


def test_retry_runs_a_missed_action_again(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    path.touch()
    runs: list[str] = []

    def flaky(ctx: RunContext) -> Outcome:
        out = Outcome(f"lanner-gen-{len(runs):010d}")
        runs.append(out.marker)
        if len(runs) == 2:  # detected the second time only
            with open(path, "ab") as fh:
                fh.write(orjson.dumps({"rule": "R", "output": out.marker}) + b"\n")
        return out

    action = Action("flaky", "R", "d", False, flaky)
    feed = FileAlerts(path, poll=0.01)
    try:
        (res,) = run_and_check([action], feed, RunContext(), timeout=0.3, retries=2)
        assert res.status == "PASS" and res.detail == " (on attempt 2)"
        assert len(runs) == 2
        (res,) = run_and_check([silent()], feed, RunContext(), timeout=0.1, retries=1)
        assert res.status == "FAIL" and res.detail.endswith("(attempt 2)")
    finally:
        feed.close()
