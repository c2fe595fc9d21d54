"""The kernel-side filter derived from rules: which outcomes of each syscall rules can match
(no root needed: the analysis and the selection map's values, not the probe)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import shared_fixture
from lanner.engine.loader import load_rules
from lanner.engine.rules import Ruleset
from lanner.sources.syscall import syscall_source
from lanner.sources.syscall.probe.filters import condition_outcomes, rule_outcomes
from lanner.sources.syscall.probe.syscalls import (
    ANY,
    FAIL,
    INPROGRESS,
    OK,
    SYSCALL_NR,
    select,
)

FIXTURES = shared_fixture("rules")
OPENS = ("open", "openat", "openat2")


def ruleset(tmp_path: Path, conditions: list[str], macros: str = "") -> Ruleset:
    """Rules with these conditions, loaded and compiled like a rules file."""
    text = macros
    for i, cond in enumerate(conditions):
        text += (
            f"- rule: r{i}\n  desc: d\n  condition: {cond}\n  output: o %proc.name\n"
            "  priority: WARNING\n"
        )
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    outcome = load_rules([path], [syscall_source()])
    assert outcome.successful, outcome.results
    return outcome.ruleset


def outcomes_of(tmp_path: Path, condition: str, macros: str = "") -> dict[str, int]:
    (rule,) = list(ruleset(tmp_path, [condition], macros))
    assert rule.expr is not None
    return condition_outcomes(rule.expr)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("evt.type = openat and fd.num >= 0", {"openat": OK}),
        ("evt.type = openat and fd.num = -1", {"openat": FAIL}),
        ("evt.type = openat and evt.failed = true", {"openat": FAIL}),
        ("evt.type = openat and evt.failed = false", {"openat": OK}),
        ("evt.type = openat and evt.failed != true", {"openat": OK}),
        ("evt.type = openat and evt.res = SUCCESS", {"openat": OK}),
        ("evt.type = openat and evt.res != SUCCESS", {"openat": FAIL}),
        ("evt.type = openat and evt.res = ENOENT", {"openat": FAIL}),
        ("evt.type = openat and evt.res startswith E", {"openat": FAIL}),
        ("evt.type = openat and evt.res in (SUCCESS, EACCES)", {"openat": ANY}),
        ("evt.type = openat and evt.rawres >= 0", {"openat": OK}),
        ("evt.type = openat and evt.rawres < 0", {"openat": FAIL}),
        ("evt.type = openat and evt.rawres in (0, 1, 2)", {"openat": OK}),
        ("evt.type = openat and evt.rawres != 0", {"openat": ANY}),
        ("evt.type = openat and evt.rawres > -5", {"openat": ANY}),
        ("evt.type = openat and not evt.rawres < 0", {"openat": OK}),
        ("evt.type = openat and fd.name = /etc/shadow", {"openat": ANY}),
        # connect: successes, and the EINPROGRESS of a non-blocking connect (a failure)
        ("evt.type = connect and (evt.rawres >= 0 or evt.res = EINPROGRESS)", {"connect": ANY}),
        # fd.num is the result only for calls creating an fd: close's is its argument
        ("evt.type in (openat, close) and fd.num >= 0", {"openat": OK, "close": ANY}),
        # a missing check on the result leaves every outcome
        ("evt.type = execve and proc.name = sh", {"execve": ANY}),
        ("(evt.type = openat and fd.num >= 0) or evt.type = mkdir", {"openat": OK, "mkdir": ANY}),
        ("evt.type = openat and not fd.num >= 0", {"openat": ANY}),  # fd.num may be unknown
    ],
)
def test_condition_outcomes(tmp_path: Path, condition: str, expected: dict[str, int]) -> None:
    assert outcomes_of(tmp_path, condition) == expected


def test_macros_are_followed(tmp_path: Path) -> None:
    macros = (
        "- macro: open_read\n  condition: (evt.type in (open,openat,openat2) and "
        "evt.is_open_read=true and fd.typechar='f' and fd.num>=0)\n"
        "- macro: open_file_failed\n  condition: (evt.type in (open,openat,openat2) and "
        "fd.typechar='f' and fd.num=-1 and evt.res startswith E)\n"
    )
    assert outcomes_of(tmp_path, "open_read", macros) == dict.fromkeys(OPENS, OK)
    assert outcomes_of(tmp_path, "open_file_failed", macros) == dict.fromkeys(OPENS, FAIL)
    both = outcomes_of(tmp_path, "open_read or open_file_failed", macros)
    assert both == dict.fromkeys(OPENS, ANY)


def test_rule_outcomes_unites_rules_and_none_is_everything(tmp_path: Path) -> None:
    rs = ruleset(
        tmp_path, ["evt.type = openat and fd.num >= 0", "evt.type = openat and evt.failed = true"]
    )
    assert rule_outcomes(r.expr for r in rs) == {"openat": ANY}
    assert rule_outcomes([None]) is None


def test_upstream_rules_need_failed_opens_only_for_the_traversal_rule() -> None:
    """falco_rules.yaml: open_read/open_write keep fd.num >= 0; only 'Directory traversal
    monitored file read' (open_read or open_file_failed) needs failed opens."""
    path = FIXTURES / "falco_rules.yaml"
    assert path.is_file(), f"fixture missing: {path}"
    rs = load_rules([path], [syscall_source()]).ruleset
    active = [r for r in rs if r.source == "syscall" and rs.is_active(r)]
    fail_opens = [
        r.name
        for r in active
        if r.expr is not None and condition_outcomes(r.expr).get("openat", 0) & FAIL
    ]
    assert fail_opens == ["Directory traversal monitored file read"]
    out = rule_outcomes(r.expr for r in active if r.name not in fail_opens)
    assert out is not None and out["openat"] == OK and out["execve"] == ANY


def test_selection_masks_add_what_the_state_needs() -> None:
    masks, unsupported = select(
        {"openat", "mkdir", "close"}, outcomes={"openat": OK, "mkdir": FAIL}
    )
    assert not unsupported
    nr = SYSCALL_NR
    assert masks[nr["openat"]] == OK
    assert masks[nr["mkdir"]] == FAIL  # not a base syscall: only what the rule needs
    assert masks[nr["close"]] == ANY  # a rule type without an analysis result: everything
    assert masks[nr["connect"]] == OK | INPROGRESS  # the state engine's EINPROGRESS
    assert masks[nr["execve"]] == OK
    # no outcomes given: every outcome of every wanted type, successes of the base set
    masks, _ = select({"mkdir"})
    assert masks[nr["mkdir"]] == ANY and masks[nr["dup"]] == OK
    assert select(None, outcomes={"openat": OK})[0][nr["openat"]] == ANY
    only, _ = select({"mkdir"}, base=False, outcomes={"mkdir": 0})
    assert only == {}  # no outcome of it can match: not selected
