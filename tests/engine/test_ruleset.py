"""The ruleset: event-type indexing, first/all matching, selection and priority threshold."""

from __future__ import annotations

from typing import Any

import pytest
from engine_testutil import SYSCALL_TYPES, codes, load, typed_source

from lanner.engine.engine import Engine
from lanner.engine.fields import Field, FieldType, SourceSpec
from lanner.engine.priority import Priority
from lanner.engine.rules import Ruleset


def rule(name: str, condition: str, priority: str = "WARNING", tags: str = "[]") -> str:
    return (
        f"- rule: {name}\n  desc: d\n  condition: {condition}\n"
        f"  output: {name} fired\n  priority: {priority}\n  tags: {tags}\n"
    )


class Counter:
    """A field whose extractor counts how often it is called."""

    def __init__(self) -> None:
        self.calls = 0

    def extract(self, event: dict[str, Any], arg: Any) -> Any:
        self.calls += 1
        return event.get("proc.name")


def counted_source(counter: Counter) -> SourceSpec:
    src = typed_source(event_types=SYSCALL_TYPES)
    src.fields.add(Field("proc.counted", FieldType.STRING, "counted", counter.extract))
    return src


def loaded(*contents: str, source: SourceSpec | None = None) -> Ruleset:
    out = load(*contents, sources=[source or typed_source(event_types=SYSCALL_TYPES)])
    assert out.successful, codes(out)
    return out.ruleset


def names(rules: list) -> list[str]:
    return [r.name for r in rules]


# -- event-type index ------------------------------------------------------------------


def test_only_rules_for_the_event_type_are_evaluated() -> None:
    counter = Counter()
    rs = loaded(
        rule("open_rule", "evt.type = open and proc.counted = x"), source=counted_source(counter)
    )
    assert rs.match({"evt.type": "execve", "proc.name": "x"}, "syscall") == []
    assert rs.match({"evt.type": "connect", "proc.name": "x"}, "syscall") == []
    assert counter.calls == 0  # the predicate never ran
    assert names(rs.match({"evt.type": "open", "proc.name": "x"}, "syscall")) == ["open_rule"]
    assert counter.calls == 1


def test_rule_evaluation_order_follows_the_index() -> None:
    counter = Counter()
    rs = loaded(
        rule("exec_rule", "evt.type = execve and proc.counted = y")
        + rule("open_rule", "evt.type in (open, openat) and proc.counted = x"),
        source=counted_source(counter),
    )
    for _ in range(5):
        rs.match({"evt.type": "close", "proc.name": "x"}, "syscall")
    assert counter.calls == 0
    rs.match({"evt.type": "openat", "proc.name": "x"}, "syscall")
    assert counter.calls == 1  # only open_rule ran


@pytest.mark.parametrize(
    ("condition", "types"),
    [
        ("evt.type = open", {"open"}),
        ("evt.type == open", {"open"}),
        ("evt.type in (open, openat)", {"open", "openat"}),
        ("evt.type in (open, openat) and evt.type != openat", {"open"}),
        ("evt.type = open or evt.type = execve", {"open", "execve"}),
        ("not evt.type = open", set(SYSCALL_TYPES) - {"open"}),
        ("evt.type != open", set(SYSCALL_TYPES) - {"open"}),
        (
            "not (evt.type in (open, close) or evt.type = read)",
            set(SYSCALL_TYPES) - {"open", "close", "read"},
        ),
        ("evt.type = open and proc.name = x", {"open"}),
        ("evt.type = open or proc.name = x", set(SYSCALL_TYPES)),
        ("proc.name = x", set(SYSCALL_TYPES)),
        ("evt.type = open and evt.type = execve", set()),
    ],
)
def test_event_types_of_conditions(condition: str, types: set[str]) -> None:
    rs = loaded(rule("r", condition))
    r = rs.get("r")
    assert r is not None and r.event_types == frozenset(types)
    for t in SYSCALL_TYPES:
        cands = names(rs.candidates({"evt.type": t}, "syscall"))
        assert cands == (["r"] if t in types else []), t


def test_event_types_through_macros_and_lists() -> None:
    rs = loaded(
        "- list: open_types\n  items: [open, openat]\n"
        "- macro: open_read\n  condition: evt.type in (open_types)\n"
        + rule("r", "open_read and proc.name = x")
    )
    r = rs.get("r")
    assert r is not None and r.event_types == frozenset({"open", "openat"})


def test_unknown_event_type_of_an_event_runs_nothing() -> None:
    rs = loaded(rule("r", "proc.name = x"))
    assert rs.candidates({"evt.type": "nonexistent", "proc.name": "x"}, "syscall") == []


def test_source_without_event_types_runs_every_rule() -> None:
    text = rule("a", "proc.name = x") + rule("b", "proc.name = y")
    out = load(text.replace("tags: []", "source: k8s_audit"), sources=[typed_source("k8s_audit")])
    rs = out.ruleset
    assert names(rs.candidates({}, "k8s_audit")) == ["a", "b"]
    assert rs.get("a") is not None and rs.get("a").event_types is None  # type: ignore[union-attr]


def test_rules_only_see_their_own_source() -> None:
    rs = load(
        rule("sys", "proc.name = x")
        + rule("k8s", "proc.name = x").replace("tags: []", "source: k8s_audit"),
        sources=[typed_source(), typed_source("k8s_audit")],
    ).ruleset
    assert names(rs.match({"proc.name": "x"}, "syscall")) == ["sys"]
    assert names(rs.match({"proc.name": "x"}, "k8s_audit")) == ["k8s"]
    assert rs.match({"proc.name": "x"}, "aws_cloudtrail") == []


# -- first vs all ----------------------------------------------------------------------


def test_rule_matching_first_and_all() -> None:
    rs = loaded(
        rule("one", "evt.type = open and proc.name = x")
        + rule("two", "proc.name = x")
        + rule("three", "evt.type = open")
    )
    ev = {"evt.type": "open", "proc.name": "x"}
    assert rs.match_all is False
    assert names(rs.match(ev, "syscall")) == ["one"]
    rs.match_all = True
    assert names(rs.match(ev, "syscall")) == ["one", "two", "three"]


def test_first_match_is_in_definition_order_even_after_redefinition() -> None:
    rs = loaded(rule("a", "proc.name = x") + rule("b", "proc.name = x"), rule("a", "proc.name = x"))
    assert names(rs.match({"evt.type": "open", "proc.name": "x"}, "syscall")) == ["a"]


def test_failing_predicate_does_not_stop_other_rules() -> None:
    def boom(event: Any, arg: Any) -> Any:
        raise RuntimeError("broken extractor")

    src = typed_source(event_types=SYSCALL_TYPES)
    src.fields.add(Field("proc.broken", FieldType.STRING, "broken", boom))
    rs = loaded(rule("bad", "proc.broken = x") + rule("good", "proc.name = x"), source=src)
    assert names(rs.match({"evt.type": "open", "proc.name": "x"}, "syscall")) == ["good"]


# -- selection -------------------------------------------------------------------------

SELECTION = (
    rule("Write below etc", "proc.name = x", tags="[filesystem, mitre_persistence]")
    + rule("Read sensitive file", "proc.name = x", tags="[filesystem]")
    + rule("Shell in container", "proc.name = x", tags="[container, shell]")
)
EV = {"evt.type": "open", "proc.name": "x"}


def test_disable_by_name() -> None:
    rs = loaded(SELECTION)
    rs.match_all = True
    assert rs.set_enabled(False, name="Read sensitive file") == 1
    assert names(rs.match(EV, "syscall")) == ["Write below etc", "Shell in container"]
    assert rs.set_enabled(False, name="Read sensitive") == 0  # exact name only
    assert rs.set_enabled(True, name="Read sensitive file") == 1
    assert len(rs.match(EV, "syscall")) == 3


def test_disable_by_substring() -> None:
    rs = loaded(SELECTION)
    rs.match_all = True
    assert rs.set_enabled(False, substring="e") == 3
    assert rs.match(EV, "syscall") == []
    rs.set_enabled(True, substring="")
    assert rs.set_enabled(False, substring="below") == 1
    assert names(rs.match(EV, "syscall")) == ["Read sensitive file", "Shell in container"]


def test_disable_and_enable_by_tag() -> None:
    rs = loaded(SELECTION)
    rs.match_all = True
    assert rs.set_enabled(False, tags=["filesystem"]) == 2
    assert names(rs.match(EV, "syscall")) == ["Shell in container"]
    assert rs.set_enabled(False, tags=["nope", "shell"]) == 1
    assert rs.match(EV, "syscall") == []
    assert rs.set_enabled(True, tags=["mitre_persistence"]) == 1
    assert names(rs.match(EV, "syscall")) == ["Write below etc"]


def test_disabled_rule_in_file_can_be_enabled() -> None:
    rs = loaded(rule("off", "proc.name = x") + "  enabled: false\n")
    assert rs.match(EV, "syscall") == []
    rs.set_enabled(True, name="off")
    assert names(rs.match(EV, "syscall")) == ["off"]


# -- priority threshold ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        (Priority.DEBUG, ["crit", "err", "warn", "info", "debug"]),
        (Priority.INFORMATIONAL, ["crit", "err", "warn", "info"]),
        (Priority.WARNING, ["crit", "err", "warn"]),
        (Priority.ERROR, ["crit", "err"]),
        (Priority.EMERGENCY, []),
    ],
)
def test_priority_threshold(threshold: Priority, expected: list[str]) -> None:
    rs = loaded(
        rule("crit", "proc.name = x", "CRITICAL")
        + rule("err", "proc.name = x", "ERROR")
        + rule("warn", "proc.name = x", "WARNING")
        + rule("info", "proc.name = x", "INFO")
        + rule("debug", "proc.name = x", "DEBUG")
    )
    rs.match_all = True
    rs.set_min_priority(threshold)
    assert names(rs.match(EV, "syscall")) == expected


def test_priority_parse() -> None:
    assert Priority.parse("error") is Priority.ERROR
    assert Priority.parse(" Info ") is Priority.INFORMATIONAL
    with pytest.raises(ValueError, match="Invalid priority 'loud'"):
        Priority.parse("loud")
    assert [p.label for p in Priority] == [
        "Emergency",
        "Alert",
        "Critical",
        "Error",
        "Warning",
        "Notice",
        "Informational",
        "Debug",
    ]


# -- engine facade ---------------------------------------------------------------------


def test_engine_keeps_settings_across_reloads_and_counts() -> None:
    engine = Engine([typed_source(event_types=SYSCALL_TYPES)], hostname="h")
    engine.ruleset.match_all = True
    engine.ruleset.set_min_priority(Priority.WARNING)
    out = engine.load_rules(
        contents=[
            ("r.yaml", rule("a", "proc.name = x", "ERROR") + rule("b", "proc.name = x", "DEBUG"))
        ]
    )
    assert out.successful
    assert engine.ruleset.match_all is True
    assert [a.rule for a in engine.process(EV, "syscall")] == ["a"]
    assert [a.rule for a in engine.process_all([EV, {"evt.type": "open"}, EV], "syscall")] == [
        "a",
        "a",
    ]
    assert engine.counts_by_rule == {"a": 3}
    assert engine.counts_by_priority == {Priority.ERROR: 3}


def test_engine_keeps_previous_rules_when_a_reload_fails() -> None:
    engine = Engine([typed_source(event_types=SYSCALL_TYPES)], hostname="h")
    assert engine.load_rules(contents=[("r.yaml", rule("a", "proc.name = x"))]).successful
    out = engine.load_rules(contents=[("r.yaml", rule("a", "proc.nope = x"))])
    assert not out.successful
    assert [a.rule for a in engine.process(EV, "syscall")] == ["a"]
