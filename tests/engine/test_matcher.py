"""Generated per-type matchers agree with the rules' own predicates, rule by rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_testutil import SYSCALL_TYPES, load, typed_source

from helpers import shared_fixture
from lanner.engine.engine import Engine
from lanner.engine.fields import Field, FieldType
from lanner.engine.rules import Rule
from lanner.sources.syscall import read_capture, syscall_source

SHARED = shared_fixture()
UPSTREAM = [SHARED / "rules" / n for n in ("falco_rules.yaml", "falco-incubating_rules.yaml")]
CAPTURES = sorted((SHARED / "captures").glob("*.scap"))


def by_predicates(engine: Engine, event: Any) -> list[str]:
    out = []
    for rule in engine.ruleset.candidates(event, "syscall"):
        try:
            if rule.predicate(event):
                out.append(rule.name)
        except Exception:
            pass
    return out


def negated_rules(conditions: dict[str, str]) -> str:
    """Every rule again with its condition negated, so each event matches about half."""
    out = []
    for name, cond in conditions.items():
        text = cond.replace("\n", " ").replace("'", "''")
        out.append(
            f"- rule: NOT {name}\n  desc: d\n  condition: 'not ({text})'\n"
            "  output: o\n  priority: DEBUG\n  warn_evttypes: false\n"
        )
    return "".join(out)


@pytest.fixture(scope="module")
def engine() -> Engine:
    base = Engine([syscall_source()])
    assert base.load_rules(UPSTREAM).successful
    conditions = {r.name: r.condition for r in base.ruleset if r.source == "syscall"}
    engine = Engine([syscall_source()])
    outcome = engine.load_rules(UPSTREAM, [("negated.yaml", negated_rules(conditions))])
    assert outcome.successful, outcome
    # every rule enabled, so that each condition is exercised on every event of its types
    engine.ruleset.set_enabled(True, substring="")
    engine.ruleset.match_all = True
    return engine


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_matchers_agree_with_predicates_on_real_captures(engine: Engine, capture: Path) -> None:
    matched = 0
    for event in read_capture(capture):
        expected = by_predicates(engine, event)
        got = [r.name for r in engine.ruleset.match(event, "syscall")]
        assert got == expected, f"event #{event.num} {event.name}{event.dir}"
        matched += len(expected)
    assert matched > 1000  # the negated rules make both outcomes common


def test_first_match_only_unless_match_all() -> None:
    src = typed_source(event_types=SYSCALL_TYPES)
    rules = (
        "- rule: a\n  desc: d\n  condition: evt.type = open and proc.name = cat\n"
        "  output: a\n  priority: WARNING\n"
        "- rule: b\n  desc: d\n  condition: evt.type in (open, openat) and proc.name = cat\n"
        "  output: b\n  priority: WARNING\n"
        "- rule: c\n  desc: d\n  condition: evt.type = execve and proc.name = cat\n"
        "  output: c\n  priority: WARNING\n"
    )
    ruleset = load(rules, sources=[src]).ruleset
    event = {"evt.type": "open", "proc.name": "cat"}
    assert [r.name for r in ruleset.match(event, src.name)] == ["a"]
    ruleset.match_all = True
    assert [r.name for r in ruleset.match(event, src.name)] == ["a", "b"]
    assert [
        r.name for r in ruleset.match({"evt.type": "openat", "proc.name": "cat"}, src.name)
    ] == ["b"]


def test_each_field_extracted_once_per_event_and_errors_isolated() -> None:
    calls: list[str] = []

    def extract(event: dict[str, Any], arg: Any) -> Any:
        calls.append("x")
        return event.get("proc.name")

    def broken(event: dict[str, Any], arg: Any) -> Any:
        raise RuntimeError("bad event")

    src = typed_source(event_types=SYSCALL_TYPES)
    src.fields.add(Field("proc.counted", FieldType.STRING, "counted", extract))
    src.fields.add(Field("proc.broken", FieldType.STRING, "broken", broken))
    rules = "".join(
        f"- rule: r{i}\n  desc: d\n  condition: evt.type = open and {cond}\n"
        f"  output: r{i}\n  priority: WARNING\n"
        for i, cond in enumerate(
            [
                "proc.counted = bash",
                "proc.broken = cat",
                "proc.counted startswith c and proc.counted != bash",
                "proc.counted in (cat, dog)",
            ]
        )
    )
    ruleset = load(rules, sources=[src]).ruleset
    ruleset.match_all = True
    got = ruleset.match({"evt.type": "open", "proc.name": "cat"}, src.name)
    assert [r.name for r in got] == ["r2", "r3"]
    assert len(calls) == 1  # shared by r0, r2 and r3


def test_rule_without_expression_uses_its_predicate() -> None:
    src = typed_source(event_types=SYSCALL_TYPES)
    ruleset = load(
        "- rule: a\n  desc: d\n  condition: evt.type = open\n  output: a\n  priority: WARNING\n",
        sources=[src],
    ).ruleset
    rule: Rule = ruleset.rules[0]
    rule.expr = None
    rule.predicate = lambda e: e.get("proc.name") == "cat"
    ruleset.reindex()
    assert [r.name for r in ruleset.match({"evt.type": "open", "proc.name": "cat"}, src.name)]
    assert not ruleset.match({"evt.type": "open", "proc.name": "dog"}, src.name)
