"""Macros expand once and conditions stay bounded: the exponential-macro attack of issue 18.

The attack: a rules file of a few lines where every macro uses the previous one twice. A
tree expansion doubles the condition at each level (20 levels: 43 s and 2.4 GB to load
before the fix, 8 GB at 22). Now each macro is expanded once and shared, and a condition
whose expanded tree passes ``MAX_CONDITION_NODES`` is rejected with an error naming the
file, the line and the macro. Bounds are asserted on the loader's step counters, not on
time.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_testutil import SYSCALL_TYPES, errors, typed_source

from helpers import shared_fixture
from lanner.engine.diagnostics import ErrorCode
from lanner.engine.expand import MAX_CONDITION_NODES, MAX_LIST_ITEMS
from lanner.engine.loader import LoadOutcome, RulesLoader
from lanner.engine.matcher import ALL_MATCHERS_INLINE_NODES
from lanner.sources.memory import dict_source


def doubling_macros(levels: int) -> str:
    """The attack file: m<i> uses m<i-1> twice."""
    text = "- macro: m0\n  condition: proc.name != z\n"
    for i in range(1, levels + 1):
        text += (
            f"- macro: m{i}\n"
            f"  condition: (m{i - 1} and proc.name != b{i}) or (m{i - 1} and proc.pname = c{i})\n"
        )
    return text + (
        f"- rule: r\n  desc: d\n  condition: evt.type = execve and m{levels}\n"
        "  output: hit %proc.name\n  priority: WARNING\n"
    )


def rule_size(levels: int) -> int:
    """Nodes of rule r as a tree: m<i> is an or of two ands of m<i-1> and a check."""
    size = 1
    for _ in range(levels):
        size = 1 + 2 * (1 + size + 1)
    return 1 + 1 + size  # and(evt.type check, m<levels>)


def load_file(path: Path, **limits: int) -> LoadOutcome:
    loader = RulesLoader([typed_source(event_types=SYSCALL_TYPES)], **limits)
    loader.add_path(path)
    return loader.compile()


@pytest.mark.parametrize("levels", [20, 25, 30])
def test_doubling_macro_file_is_rejected_with_a_clear_error(tmp_path: Path, levels: int) -> None:
    path = tmp_path / "attack.yaml"
    path.write_text(doubling_macros(levels))
    assert path.stat().st_size < 90 * levels  # the file: 1.6 KB at 20 levels

    out = load_file(path)

    assert not out.successful
    assert out.ruleset.get("r") is None
    # every macro was expanded at most once, and no more code was generated than the
    # limit allows: the work is linear in the file, not 2**levels
    assert out.stats.macro_expansions <= levels + 1
    assert out.stats.nodes_generated <= MAX_CONDITION_NODES
    assert out.stats.condition_nodes == 0

    first, *rest = errors(out)
    # under the macro that crosses the limit: file, line, item, what it uses and how often
    assert first.code is ErrorCode.LOAD_ERR_VALIDATE
    where = first.locations[0]
    assert (where.item_type, where.item_name, where.file) == ("macro", "m11", str(path))
    assert where.line == 23
    assert first.message == (
        "Macro 'm11' expands to 12,283 nodes, more than the limit of 10,000 (each reference "
        "to a macro copies its whole condition); it uses 'm10' (6,139 nodes) 2 times"
    )
    # the later macros fail because of it and are not reported one by one; the rule is,
    # at its reference, naming the cause and where it is
    (at_rule,) = rest
    assert at_rule.locations[0].item_name == "r"
    assert at_rule.message.startswith(f"Macro 'm{levels}' used in filter is invalid: Macro 'm11'")
    assert at_rule.message.endswith(f"(in macro 'm11' at {path}:23)")
    assert (at_rule.locations[-1].line, at_rule.locations[-1].column) == (1, 23)


def test_doubling_macros_under_the_limit_load_shared_and_evaluate(tmp_path: Path) -> None:
    path = tmp_path / "nine.yaml"
    path.write_text(doubling_macros(9))
    out = load_file(path)
    assert out.successful, [e.describe() for e in errors(out)]
    assert out.stats.macro_expansions == 10  # m0..m9, each once for its 2**9 references
    rule = out.ruleset.get("r")
    assert rule is not None and rule.expr is not None
    # the two references to m8 inside m9 are one shared tree
    m9 = rule.expr.children[1]  # type: ignore[attr-defined]
    left, right = m9.children[0].children[0], m9.children[1].children[0]
    assert left is right
    # as large as a tree (what evaluation may cost), but built and analysed once
    assert out.stats.largest_condition == rule_size(9) == 3069
    assert rule.event_types == frozenset({"execve"})
    # m<i> holds when m<i-1> does and (proc.name != b<i> or proc.pname = c<i>)
    cases = [("a", "x", True), ("z", "x", False), ("b5", "x", False), ("b5", "c5", True)]
    for name, pname, expected in cases:
        event = {"evt.type": "execve", "proc.name": name, "proc.pname": pname}
        assert rule.predicate(event) is expected, (name, pname)
        # the per-type matcher, generated from the same shared tree, agrees
        assert out.ruleset.match(event, "syscall") == ([rule] if expected else [])


def test_the_limit_is_a_loader_setting(tmp_path: Path) -> None:
    path = tmp_path / "twelve.yaml"
    path.write_text(doubling_macros(12))
    assert not load_file(path).successful
    out = load_file(path, max_condition_nodes=50_000)
    assert out.successful
    assert out.stats.largest_condition == rule_size(12)


def test_total_size_of_the_ruleset_is_bounded(tmp_path: Path) -> None:
    # a macro within the limit used by many rules: the sum is bounded too
    text = doubling_macros(8)
    for i in range(20):
        text += (
            f"- rule: r{i}\n  desc: d\n  condition: evt.type = open and m8\n"
            "  output: x\n  priority: INFO\n"
        )
    path = tmp_path / "many.yaml"
    path.write_text(text)
    out = load_file(path, max_total_nodes=20_000)
    assert not out.successful
    loaded = [r.name for r in out.ruleset]
    assert rule_size(8) == 1533
    assert loaded == ["r"] + [f"r{i}" for i in range(12)]  # 13 x 1,533 nodes fit
    assert out.stats.condition_nodes == 13 * 1533
    err = errors(out)[0]
    assert err.locations[0].item_name == "r12"
    assert err.message.startswith("The rules expand to more than 20,000 condition nodes in total")


def big_list_rules(items: int, rules: int) -> str:
    """A list referenced by many rules: each reference copies every item."""
    text = "- list: big\n  items: [" + ", ".join(f"i{n}" for n in range(items)) + "]\n"
    for n in range(rules):
        text += (
            f"- rule: r{n}\n  desc: d\n  condition: evt.type = open and proc.name in (big)\n"
            "  output: x\n  priority: INFO\n"
        )
    return text


def test_list_items_copied_into_conditions_are_bounded(tmp_path: Path) -> None:
    # the same attack with a list: 2,000 rules using a 5,000-item list made a 260 KB file
    # cost 107 s and 1.9 GB (10 M items parsed); here 30 rules, 1,000 items, limit 10,000
    path = tmp_path / "lists.yaml"
    path.write_text(big_list_rules(1000, 30))
    out = load_file(path, max_list_items=10_000)
    assert not out.successful
    assert [r.name for r in out.ruleset] == [f"r{n}" for n in range(10)]
    assert out.stats.list_items == 10_000
    errs = errors(out)
    assert len(errs) == 11  # ten one by one, then the rest counted in one
    assert errs[0].locations[0].item_name == "r10"
    assert (errs[0].locations[0].file, errs[0].locations[0].line) == (str(path), 53)
    assert errs[0].message == (
        "List 'big' (1,000 items, used once here) would bring the list items copied into "
        "conditions past the limit of 10,000 (already 10,000); each reference to a list "
        "copies all its items"
    )
    assert errs[-1].message.startswith("10 more rules and macros were refused")


def test_one_condition_copying_a_list_many_times_is_refused_before_copying(
    tmp_path: Path,
) -> None:
    cond = " or ".join(["proc.name in (big)"] * 50)
    text = "- list: big\n  items: [" + ", ".join(f"i{n}" for n in range(1000)) + "]\n"
    text += f"- macro: m\n  condition: {cond}\n"
    text += (
        "- rule: r\n  desc: d\n  condition: evt.type = open and m\n  output: x\n  priority: INFO\n"
    )
    path = tmp_path / "one.yaml"
    path.write_text(text)
    out = load_file(path, max_list_items=10_000)
    assert out.stats.list_items == 0  # nothing of the refused condition was counted
    first = errors(out)[0]
    assert first.locations[0].item_name == "m"
    assert "List 'big' (1,000 items, used 11 times here)" in first.message
    assert out.ruleset.get("r") is None


def test_upstream_files_copy_few_list_items() -> None:
    rules = shared_fixture("rules")
    loader = RulesLoader([dict_source("syscall", dynamic=True)])
    for name in ("falco_rules", "falco-incubating_rules", "falco-sandbox_rules"):
        loader.add_path(rules / f"{name}.yaml")
    out = loader.compile()
    assert out.successful
    assert 1000 < out.stats.list_items < MAX_LIST_ITEMS / 100


def wide_rules(levels: int, rules: int) -> str:
    """Rules that can match any event type, each using one shared doubling macro."""
    text = doubling_macros(levels).split("- rule: r\n")[0].replace("proc.pname", "proc.exe")
    for n in range(rules):
        text += (
            f"- rule: wide{n}\n  desc: d\n  condition: m{levels} and proc.name = never{n}\n"
            "  output: x\n  priority: INFO\n  warn_evttypes: false\n"
        )
    return text


def test_rules_of_every_event_type_are_not_copied_into_every_matcher(tmp_path: Path) -> None:
    # 10 rules of 3,069 nodes that can match all of the syscall source's event types:
    # copied into the matcher of each type, the first event of every type used to wait
    # seconds for code generation; now they run through their own predicates
    from lanner.sources.syscall import syscall_source

    path = tmp_path / "wide.yaml"
    path.write_text(wide_rules(9, 10))
    loader = RulesLoader([syscall_source()])
    loader.add_path(path)
    out = loader.compile()
    assert out.successful, [e.describe() for e in errors(out)]
    ruleset = out.ruleset
    built = ruleset.build_matchers()
    assert built > 300  # one per event type
    budget = ruleset.inline_budget
    assert budget.remaining == ALL_MATCHERS_INLINE_NODES  # nothing copied in
    assert {id(p) for p in budget.predicates} == {id(r.predicate) for r in ruleset}


def test_rules_past_a_matchers_budget_run_through_their_predicates() -> None:
    from engine_testutil import load

    text = "".join(
        f"- rule: r{n}\n  desc: d\n  condition: evt.type in (open, execve) and "
        f"(proc.name = a{n} or fd.name startswith /x{n})\n  output: x\n  priority: INFO\n"
        for n in range(6)
    )
    out = load(text, sources=[typed_source(event_types=SYSCALL_TYPES)])
    ruleset = out.ruleset
    ruleset.match_all = True  # (clears the matchers and their budget: set it after)
    ruleset.inline_budget.per_matcher = 15  # room for three of these 5-node rules
    for n in range(6):
        hit = {"evt.type": "open", "proc.name": f"a{n}", "fd.name": "/y"}
        assert [r.name for r in ruleset.match(hit, "syscall")] == [f"r{n}"]
        assert ruleset.match({**hit, "evt.type": "connect"}, "syscall") == []
    both = {"evt.type": "execve", "proc.name": "a1", "fd.name": "/x4/z"}
    assert [r.name for r in ruleset.match(both, "syscall")] == ["r1", "r4"]
    called = {id(p) for p in ruleset.inline_budget.predicates}
    assert called == {id(ruleset.get(f"r{n}").predicate) for n in range(3, 6)}  # type: ignore[union-attr]
