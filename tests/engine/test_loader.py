"""Rules files: lists, macros, rules, exceptions, append/override, and every load code.

References: falcosecurity/falco ``userspace/engine/rule_loader_reader.cpp``,
``rule_loader_collector.cpp``, ``rule_loader_compiler.cpp``, ``falco_load_result.cpp``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_testutil import (
    SYSCALL_TYPES,
    all_diags,
    codes,
    errors,
    load,
    result_named,
    typed_source,
    warnings,
)

from lanner.engine.diagnostics import ErrorCode, WarningCode
from lanner.engine.loader import RulesLoader, load_rules
from lanner.engine.priority import Priority
from lanner.engine.reader import ERROR_OVERRIDE_APPEND, WARNING_APPEND, WARNING_ENABLED


def rule(name: str = "r", condition: str = "proc.name = bash", **extra: object) -> str:
    lines = [
        f"- rule: {name}",
        f"  desc: {name} desc",
        f"  condition: {condition}",
        f'  output: "{name} %proc.name"',
        f"  priority: {extra.pop('priority', 'WARNING')}",
    ]
    lines += [f"  {k.replace('__', '-')}: {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def cond(outcome: object, name: str = "r") -> str:
    r = outcome.ruleset.get(name)  # type: ignore[attr-defined]
    assert r is not None, f"rule {name} not compiled: {codes(outcome)}"
    return r.condition


def fires(outcome: object, event: dict, name: str = "r") -> bool:
    r = outcome.ruleset.get(name)  # type: ignore[attr-defined]
    assert r is not None, f"rule {name} not compiled: {codes(outcome)}"
    return bool(r.predicate(event))


def only_code(outcome: object, code: ErrorCode | WarningCode) -> list:
    return [d for d in all_diags(outcome) if d.code is code]  # type: ignore[arg-type]


# -- lists ------------------------------------------------------------------------------


def test_list_substitution_quotes_items_with_spaces() -> None:
    out = load(
        '- list: shells\n  items: [bash, "my shell"]\n' + rule(condition="proc.name in (shells)")
    )
    assert codes(out) == []
    assert fires(out, {"proc.name": "my shell"})
    assert fires(out, {"proc.name": "bash"})
    assert not fires(out, {"proc.name": "my"})
    assert '"my shell"' in cond(out)


def test_nested_list_expands() -> None:
    out = load(
        "- list: a\n  items: [x, y]\n- list: b\n  items: [a, z]\n"
        + rule(condition="proc.name in (b)")
    )
    assert codes(out) == []
    for name in "xyz":
        assert fires(out, {"proc.name": name})
    assert not fires(out, {"proc.name": "a"})


def test_lists_expand_one_level_deep_as_falco() -> None:
    # Falco's compile_list_infos copies a referenced list's items as written, so a list
    # two levels down stays a plain item (it is substituted in a condition only when it
    # comes after the outer list in definition order, which visibility forbids)
    out = load(
        "- list: a\n  items: [x, y]\n"
        "- list: b\n  items: [a, z]\n"
        "- list: c\n  items: [b, w]\n" + rule(condition="proc.name in (c)")
    )
    assert codes(out) == []
    for name in ("a", "z", "w"):
        assert fires(out, {"proc.name": name})
    for name in ("x", "y", "b"):
        assert not fires(out, {"proc.name": name})


def test_list_sees_only_lists_defined_before_it() -> None:
    out = load(
        "- list: b\n  items: [later, w]\n- list: later\n  items: [x]\n"
        + rule(condition="proc.name in (b)")
    )
    # 'later' is not expanded inside b; the condition text then still names it and, as in
    # Falco, the later list's substitution pass replaces it there
    assert fires(out, {"proc.name": "w"})
    assert fires(out, {"proc.name": "x"})


def test_long_list_chain_stays_linear() -> None:
    n = 3000
    text = "- list: l0\n  items: [x]\n" + "".join(
        f"- list: l{i}\n  items: [l{i - 1}, y{i}]\n" for i in range(1, n)
    )
    out = load(text + rule(condition=f"proc.name in (l{n - 1})"))
    assert codes(out) == []
    assert fires(out, {"proc.name": f"y{n - 1}"})
    assert fires(out, {"proc.name": f"y{n - 2}"})
    assert not fires(out, {"proc.name": "x"})


def test_list_is_substituted_next_to_other_items_and_in_intersects_and_pmatch() -> None:
    out = load(
        "- list: dirs\n  items: [/etc, /usr/bin]\n"
        "- list: shells\n  items: [bash, zsh]\n"
        + rule(
            condition="(proc.name in (sh, shells, csh) and fd.name pmatch (dirs)) "
            "or proc.args intersects (shells)"
        )
    )
    assert codes(out) == []
    assert fires(out, {"proc.name": "zsh", "fd.name": "/usr/bin/x"})
    assert fires(out, {"proc.name": "csh", "fd.name": "/etc"})
    assert not fires(out, {"proc.name": "zsh", "fd.name": "/usr/lib/x"})
    assert fires(out, {"proc.args": ["-x", "bash"]})


def test_empty_lists() -> None:
    out = load(
        "- list: empty\n  items: []\n"
        + rule(
            condition="proc.name in (empty) or proc.name in (empty, x) or proc.name in (x, empty)"
        )
    )
    assert codes(out) == []
    assert not fires(out, {"proc.name": "y"})
    assert fires(out, {"proc.name": "x"})


def test_list_names_are_only_replaced_as_whole_words() -> None:
    out = load(
        "- list: sh\n  items: [zsh]\n" + rule(condition="proc.name in (sh) and proc.pname != shx")
    )
    assert fires(out, {"proc.name": "zsh", "proc.pname": "bash"})
    assert "shx" in cond(out)


def test_list_append_and_overrides() -> None:
    out = load(
        "- list: a\n  items: [x]\n"
        "- list: a\n  items: [y]\n  append: true\n"
        "- list: a\n  items: [z]\n  override:\n    items: append\n"
        + rule(condition="proc.name in (a)")
    )
    assert [d.code for d in warnings(out)] == [WarningCode.LOAD_DEPRECATED_ITEM]
    assert warnings(out)[0].message == WARNING_APPEND
    for name in "xyz":
        assert fires(out, {"proc.name": name})


def test_list_override_replace_and_redefinition() -> None:
    out = load(
        "- list: a\n  items: [x]\n"
        "- list: a\n  items: [y]\n  override:\n    items: replace\n"
        + rule(condition="proc.name in (a)")
    )
    assert codes(out) == []
    assert fires(out, {"proc.name": "y"}) and not fires(out, {"proc.name": "x"})
    out = load(
        "- list: a\n  items: [x]\n- list: a\n  items: [w]\n" + rule(condition="proc.name in (a)")
    )
    assert fires(out, {"proc.name": "w"}) and not fires(out, {"proc.name": "x"})


def test_list_append_in_a_later_file() -> None:
    out = load(
        "- list: a\n  items: [x]\n" + rule(condition="proc.name in (a)"),
        "- list: a\n  items: [y]\n  override:\n    items: append\n",
    )
    assert codes(out) == []
    assert fires(out, {"proc.name": "y"})


def test_list_append_without_previous_list() -> None:
    out = load("- list: nope\n  items: [y]\n  override:\n    items: append\n")
    (err,) = errors(out)
    assert err.code is ErrorCode.LOAD_ERR_VALIDATE
    assert err.message == (
        "List uses 'append' or 'override.items: append' but no list by that name already exists"
    )
    assert (err.locations[0].item_type, err.locations[0].item_name) == ("list", "nope")


def test_list_items_must_be_a_sequence_of_scalars() -> None:
    out = load("- list: a\n  items: x\n")
    assert errors(out)[0].code is ErrorCode.LOAD_ERR_YAML_VALIDATE
    assert errors(out)[0].message == "Value is not a sequence"
    out = load("- list: a\n  items: [[x]]\n")
    assert errors(out)[0].message == "sequence value is not scalar"
    out = load("- list: a\n")
    assert errors(out)[0].message == "Item has no mapping for key 'items'"
    # an empty value is not an empty sequence (yaml-cpp's Null is no sequence)
    out = load("- list: a\n  items:\n")
    assert errors(out)[0].message == "Value is not a sequence"
    out = load(rule(tags=""))
    assert errors(out)[0].message == "Value is not a sequence"


def test_yaml_scalars_are_read_as_written() -> None:
    # yaml-cpp hands Falco the scalar text: `off`, `no`, `0x1F`, `1.10`, `010` stay as written
    out = load(
        "- list: l\n  items: [on, no, 0x1F, 1.10, 010, true]\n"
        + rule("off", condition="proc.name in (l)")
        + "  exceptions:\n    - name: e\n      fields: proc.pname\n      values: [yes, 0o7]\n"
    )
    assert codes(out) == []
    assert [r.name for r in out.ruleset] == ["off"]
    for name in ("on", "no", "0x1F", "1.10", "010", "true"):
        assert fires(out, {"proc.name": name}, "off"), name
    assert not fires(out, {"proc.name": "31"}, "off")
    assert not fires(out, {"proc.name": "on", "proc.pname": "yes"}, "off")
    assert not fires(out, {"proc.name": "on", "proc.pname": "0o7"}, "off")


# -- macros ----------------------------------------------------------------------------


def test_macros_substitute_and_nest() -> None:
    out = load(
        "- macro: is_shell\n  condition: proc.name in (bash, sh)\n"
        "- macro: shell_in_etc\n  condition: is_shell and fd.name startswith /etc\n"
        + rule(condition="shell_in_etc or not is_shell and proc.name = x")
    )
    assert codes(out) == []
    assert fires(out, {"proc.name": "sh", "fd.name": "/etc/x"})
    assert not fires(out, {"proc.name": "sh", "fd.name": "/tmp/x"})
    assert fires(out, {"proc.name": "x"})


def test_macro_keeps_its_own_precedence() -> None:
    # a macro is substituted as a tree, so 'a or b' stays grouped
    out = load(
        "- macro: m\n  condition: proc.name = a or proc.name = b\n"
        + rule(condition="m and fd.name = /x")
    )
    assert not fires(out, {"proc.name": "a", "fd.name": "/y"})
    assert fires(out, {"proc.name": "b", "fd.name": "/x"})


def test_macro_using_a_list() -> None:
    out = load(
        "- list: l\n  items: [a, b]\n- macro: m\n  condition: proc.name in (l)\n"
        + rule(condition="m")
    )
    assert codes(out) == []
    assert fires(out, {"proc.name": "b"})


def test_macro_append_and_override() -> None:
    out = load(
        "- macro: m\n  condition: proc.name = a\n"
        "- macro: m\n  condition: or proc.name = b\n  append: true\n"
        "- macro: m\n  condition: or proc.name = c\n  override:\n    condition: append\n"
        + rule(condition="m")
    )
    assert [d.code.name for d in warnings(out)] == ["LOAD_DEPRECATED_ITEM"]
    assert all(fires(out, {"proc.name": n}) for n in "abc")
    out = load(
        "- macro: m\n  condition: proc.name = a\n"
        "- macro: m\n  condition: proc.name = z\n  override:\n    condition: replace\n"
        + rule(condition="m")
    )
    assert fires(out, {"proc.name": "z"}) and not fires(out, {"proc.name": "a"})


def test_macro_append_without_previous_macro() -> None:
    out = load("- macro: m\n  condition: proc.name = a\n  append: true\n")
    assert errors(out)[0].message == (
        "Macro uses 'append' or 'override.condition: append' but no macro by that name "
        "already exists"
    )


def test_macro_cannot_see_a_later_macro() -> None:
    out = load(
        "- macro: first\n  condition: second\n"
        "- macro: second\n  condition: proc.name = a\n" + rule(condition="first")
    )
    errs = errors(out)
    assert errs and all(e.code is ErrorCode.LOAD_ERR_VALIDATE for e in errs)
    # Falco's sentence, then why and where the macro is (Falco says only the sentence)
    assert errs[0].message == (
        "Undefined macro 'second' used in filter. (A macro can only use the macros defined "
        "before it; 'second' is defined at rules.yaml:3.)"
    )
    assert (errs[0].locations[0].item_type, errs[0].locations[0].item_name) == ("macro", "first")
    # the rule names the macro it uses and the cause, once; no error repeated under 'second'
    assert len(errs) == 2
    assert errs[1].locations[0].item_name == "r"
    assert errs[1].message.startswith("Macro 'first' used in filter is invalid: Undefined macro")
    assert "(in macro 'first' at rules.yaml:1)" in errs[1].message
    assert out.ruleset.get("r") is None


def test_rule_sees_every_macro_even_later_ones() -> None:
    out = load(rule(condition="later"), "- macro: later\n  condition: proc.name = a\n")
    assert codes(out) == []
    assert fires(out, {"proc.name": "a"})


def test_redefined_macro_sees_macros_defined_before_the_redefinition() -> None:
    out = load(
        "- macro: m\n  condition: proc.name = a\n"
        "- macro: helper\n  condition: proc.name = h\n"
        "- macro: m\n  condition: helper\n" + rule(condition="m")
    )
    assert codes(out) == []
    assert fires(out, {"proc.name": "h"})


def test_undefined_macro_in_unused_macro_is_still_an_error() -> None:
    out = load("- macro: foo\n  condition: proc.name = a and foo_bar\n" + rule())
    (err,) = errors(out)
    assert err.code is ErrorCode.LOAD_ERR_VALIDATE
    assert err.message == "Undefined macro 'foo_bar' used in filter."
    assert err.locations[0].item_name == "foo"
    assert err.locations[-1].column == 19  # where 'foo_bar' starts in the condition


def test_undefined_macro_in_rule() -> None:
    out = load(rule(condition="proc.name = a and\n    nothing_here"))
    (err,) = errors(out)
    assert err.code is ErrorCode.LOAD_ERR_VALIDATE
    assert err.message == "Undefined macro 'nothing_here' used in filter."
    # as Falco's resolve_macros: the error hangs from the rule, not from its condition
    assert [loc.item_type for loc in err.locations] == ["rule", "condition expression"]
    assert (err.locations[-1].line, err.locations[-1].column) == (1, 19)


def test_macro_reference_loop_names_the_chain() -> None:
    out = load(
        "- macro: m1\n  condition: proc.name = x\n"
        "- macro: m2\n  condition: m1\n"
        "- macro: m1\n  condition: proc.name = y or m2\n" + rule(condition="m1")
    )
    errs = errors(out)
    loop = "Reference loop in macro 'm1': m1 (rules.yaml:5) -> m2 (rules.yaml:3) -> m1"
    # reported once under the macro whose reference closes the loop, at that reference
    (at_macro,) = [e for e in errs if e.locations[0].item_type == "macro"]
    assert at_macro.message == loop
    assert at_macro.locations[0].item_name == "m2"
    assert at_macro.locations[0].line == 3
    (at_rule,) = [e for e in errs if e.locations[0].item_type == "rule"]
    assert at_rule.message.startswith(f"Macro 'm1' used in filter is invalid: {loop}")
    assert all(e.code is ErrorCode.LOAD_ERR_VALIDATE for e in errs)
    assert out.ruleset.get("r") is None


def test_macro_loop_through_a_later_macro_names_the_loop_not_an_undefined_macro() -> None:
    # the operator's view: two macros using each other; Falco says "Undefined macro 'b'"
    out = load(
        "- macro: a\n  condition: proc.name = x or b\n"
        "- macro: b\n  condition: a and proc.pname = y\n" + rule(condition="a")
    )
    errs = errors(out)
    first = errs[0]
    assert first.message == (
        "Reference loop in macro 'a': a (rules.yaml:1) -> b (rules.yaml:3) -> a "
        "(a macro can only use the macros defined before it)"
    )
    assert (first.locations[0].item_name, first.locations[0].file) == ("a", "rules.yaml")
    assert first.locations[0].line == 1
    assert first.locations[-1].column == 18  # at 'b' in a's condition
    assert "Undefined" not in " ".join(e.message for e in errs)
    assert out.ruleset.get("r") is None


def test_macro_self_reference_is_a_loop() -> None:
    # a macro is not visible to itself (index < visibility fails, as upstream, which says
    # "Undefined macro 'm'"); Lanner names the loop
    out = load("- macro: m\n  condition: proc.name = x or m\n" + rule(condition="m"))
    msgs = [e.message for e in errors(out)]
    assert msgs[0] == (
        "Reference loop in macro 'm': m (rules.yaml:1) -> m "
        "(a macro can only use the macros defined before it)"
    )
    assert out.ruleset.get("r") is None


def test_long_macro_loop_is_named_whole() -> None:
    names = [f"m{i}" for i in range(6)]
    text = "".join(
        f"- macro: {n}\n  condition: proc.name = {n} or {names[(i + 1) % 6]}\n"
        for i, n in enumerate(names)
    )
    out = load(text + rule(condition="m0"))
    msgs = [e.message for e in errors(out)]
    assert msgs[0].startswith("Reference loop in macro 'm0': m0 (rules.yaml:1) -> m1 (")
    assert msgs[0].count(" -> ") == 6 and " -> m5 (rules.yaml:11) -> m0 " in msgs[0]


def test_macro_condition_syntax_error() -> None:
    out = load("- macro: m\n  condition: proc.name = \n" + rule(condition="m"))
    err = errors(out)[0]
    assert err.code is ErrorCode.LOAD_ERR_COMPILE_CONDITION
    assert [loc.item_type for loc in err.locations] == [
        "macro",
        "macro condition",
        "condition expression",
    ]


# -- unused items ----------------------------------------------------------------------


def test_unused_macro_and_list() -> None:
    out = load(
        "- list: used_l\n  items: [a]\n- list: unused_l\n  items: [b]\n"
        "- macro: used_m\n  condition: proc.name in (used_l)\n"
        "- macro: unused_m\n  condition: proc.name = z\n" + rule(condition="used_m")
    )
    assert codes(out) == ["LOAD_UNUSED_MACRO", "LOAD_UNUSED_LIST"]
    m, lst = warnings(out)
    assert m.message == "Macro not referred to by any other rule/macro"
    assert m.locations[0].item_name == "unused_m"
    assert lst.message == "List not referred to by any other rule/macro"
    assert lst.locations[0].item_name == "unused_l"


def test_macro_used_only_by_an_unused_macro_counts_as_used() -> None:
    out = load(
        "- macro: inner\n  condition: proc.name = x\n"
        "- macro: outer\n  condition: inner\n"
        "- list: inner_l\n  items: [a]\n- list: outer_l\n  items: [inner_l]\n" + rule()
    )
    names = sorted((d.code.name, d.locations[0].item_name) for d in warnings(out))
    assert names == [("LOAD_UNUSED_LIST", "outer_l"), ("LOAD_UNUSED_MACRO", "outer")]


# -- rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "priority"),
    [
        ("EMERGENCY", Priority.EMERGENCY),
        ("Alert", Priority.ALERT),
        ("critical", Priority.CRITICAL),
        ("ERROR", Priority.ERROR),
        ("warning", Priority.WARNING),
        ("Notice", Priority.NOTICE),
        ("INFORMATIONAL", Priority.INFORMATIONAL),
        ("info", Priority.INFORMATIONAL),
        ("INFO", Priority.INFORMATIONAL),
        ("debug", Priority.DEBUG),
    ],
)
def test_priorities(text: str, priority: Priority) -> None:
    out = load(rule(priority=text))
    assert codes(out) == []
    r = out.ruleset.get("r")
    assert r is not None and r.priority is priority


def test_invalid_priority() -> None:
    out = load(rule(priority="loud"))
    (err,) = errors(out)
    assert err.code is ErrorCode.LOAD_ERR_YAML_VALIDATE
    assert err.message == "Invalid priority"
    assert [loc.item_type for loc in err.locations] == ["rule", "rule priority"]


def test_rule_defaults_and_attributes() -> None:
    out = load(rule(tags="[shell, mitre_execution]"))
    r = out.ruleset.get("r")
    assert r is not None
    assert r.source == "syscall"
    assert r.enabled is True
    assert r.tags == frozenset({"shell", "mitre_execution"})
    assert r.desc == "r desc"
    assert r.output == "r %proc.name"


def test_rule_output_is_trimmed() -> None:
    out = load(
        "- rule: r\n  desc: d\n  condition: proc.name = a\n"
        "  output: >\n    text %proc.name\n  priority: info\n"
    )
    r = out.ruleset.get("r")
    assert r is not None and r.output == "text %proc.name"


def test_rule_missing_required_keys() -> None:
    for missing in ("condition", "output", "desc", "priority"):
        text = "".join(
            line + "\n" for line in rule().splitlines() if not line.startswith(f"  {missing}:")
        )
        out = load(text)
        (err,) = errors(out)
        assert err.code is ErrorCode.LOAD_ERR_YAML_VALIDATE
        assert err.message == f"Item has no mapping for key '{missing}'"


def test_rule_empty_and_non_scalar_values() -> None:
    out = load("- rule: r\n  desc:\n  condition: proc.name = a\n  output: o\n  priority: info\n")
    assert errors(out)[0].message == "Mapping for key 'desc' is empty"
    out = load(
        "- rule: r\n  desc: [a]\n  condition: proc.name = a\n  output: o\n  priority: info\n"
    )
    assert errors(out)[0].message == "Value is not a scalar value"
    out = load(rule(tags="notalist"))
    assert errors(out)[0].message == "Value is not a sequence"


def test_rule_enabled_false_is_compiled_but_disabled() -> None:
    out = load(rule(enabled="false"))
    r = out.ruleset.get("r")
    assert r is not None and r.enabled is False
    assert out.ruleset.match({"proc.name": "bash"}, "syscall") == []


def test_bad_boolean() -> None:
    out = load(rule(enabled="maybe"))
    assert errors(out)[0].message == "Can't decode YAML scalar value for key 'enabled' as a boolean"


@pytest.mark.parametrize(
    ("text", "enabled"),
    [
        ("true", True),
        ("False", False),
        ("yes", True),
        ("NO", False),
        ("on", True),
        ("Off", False),
        ("y", True),
        ("N", False),
    ],
)
def test_yaml_cpp_booleans(text: str, enabled: bool) -> None:
    out = load(rule(enabled=text))
    assert errors(out) == []
    r = out.ruleset.get("r")
    assert r is not None and r.enabled is enabled


def test_redefinition_replaces_in_place_keeping_order() -> None:
    out = load(
        rule("a") + rule("b") + rule("c"),
        rule("b", condition="proc.name = zsh", priority="ERROR"),
    )
    assert codes(out) == []
    assert [r.name for r in out.ruleset] == ["a", "b", "c"]
    b = out.ruleset.get("b")
    assert b is not None and b.priority is Priority.ERROR
    assert b.predicate({"proc.name": "zsh"}) and not b.predicate({"proc.name": "bash"})


def test_redefinition_with_another_source_is_an_error() -> None:
    out = load(
        rule("a"),
        rule("a", source="k8s_audit"),
        sources=[typed_source(), typed_source("k8s_audit")],
    )
    assert errors(out)[0].message == "Rule has been re-defined with a different source"


def test_standalone_enabled_item_is_deprecated_but_works() -> None:
    out = load(rule("a"), "- rule: a\n  enabled: false\n")
    assert [d.code for d in warnings(out)] == [WarningCode.LOAD_DEPRECATED_ITEM]
    assert warnings(out)[0].message == WARNING_ENABLED
    a = out.ruleset.get("a")
    assert a is not None and a.enabled is False
    out = load("- rule: nope\n  enabled: false\n")
    assert (
        errors(out)[0].message == "Rule has 'enabled' key but no rule by that name already exists"
    )


# -- append and override ---------------------------------------------------------------

BASE = rule(tags="[a, b]") + (
    "  exceptions:\n    - name: e1\n      fields: proc.pname\n      values: [sshd]\n"
)


def test_append_true_is_deprecated_and_appends_condition() -> None:
    out = load(BASE, "- rule: r\n  condition: and fd.name = /x\n  append: true\n")
    assert [(d.code, d.message) for d in warnings(out)] == [
        (WarningCode.LOAD_DEPRECATED_ITEM, WARNING_APPEND)
    ]
    assert fires(out, {"proc.name": "bash", "fd.name": "/x"})
    assert not fires(out, {"proc.name": "bash", "fd.name": "/y"})


def test_override_append_every_appendable_key() -> None:
    out = load(
        BASE,
        """
- rule: r
  condition: and fd.name = /x
  output: extra=%fd.name
  desc: more
  tags: [c]
  exceptions:
    - name: e1
      values: [cron]
    - name: e2
      fields: user.name
      values: [root]
  override:
    condition: append
    output: append
    desc: append
    tags: append
    exceptions: append
""",
    )
    assert codes(out) == []
    r = out.ruleset.get("r")
    assert r is not None
    assert r.desc == "r desc more"
    assert r.output == "r %proc.name extra=%fd.name"
    assert r.tags == frozenset({"a", "b", "c"})
    ev = {"proc.name": "bash", "fd.name": "/x"}
    assert r.predicate(ev)
    assert not r.predicate({**ev, "proc.pname": "cron"})
    assert not r.predicate({**ev, "proc.pname": "sshd"})
    assert not r.predicate({**ev, "user.name": "root"})
    assert r.exception_fields == frozenset({"proc.pname", "user.name"})


def test_override_replace_every_replaceable_key() -> None:
    out = load(
        BASE,
        """
- rule: r
  condition: proc.name = sh
  output: new %fd.name
  desc: newd
  tags: [z]
  priority: critical
  enabled: false
  exceptions:
    - name: e9
      fields: user.name
      values: [x]
  override:
    condition: replace
    output: replace
    desc: replace
    tags: replace
    priority: replace
    enabled: replace
    exceptions: replace
""",
    )
    assert codes(out) == []
    r = out.ruleset.get("r")
    assert r is not None
    assert (r.desc, r.output, r.tags) == ("newd", "new %fd.name", frozenset({"z"}))
    assert (r.priority, r.enabled) == (Priority.CRITICAL, False)
    assert r.predicate({"proc.name": "sh", "proc.pname": "sshd"})  # e1 is gone
    assert not r.predicate({"proc.name": "sh", "user.name": "x"})


def test_override_append_and_replace_in_one_item() -> None:
    out = load(
        BASE,
        "- rule: r\n  condition: and fd.name = /x\n  priority: ERROR\n"
        "  override:\n    condition: append\n    priority: replace\n",
    )
    assert codes(out) == []
    r = out.ruleset.get("r")
    assert r is not None and r.priority is Priority.ERROR
    assert not r.predicate({"proc.name": "bash", "fd.name": "/y"})


def test_override_enable_a_disabled_rule() -> None:
    out = load(
        rule(enabled="false"), "- rule: r\n  enabled: true\n  override:\n    enabled: replace\n"
    )
    assert codes(out) == []
    r = out.ruleset.get("r")
    assert r is not None and r.enabled is True


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            "- rule: r\n  condition: and fd.name = x\n  append: true\n"
            "  override:\n    condition: append\n",
            ERROR_OVERRIDE_APPEND,
        ),
        (
            "- rule: r\n  override:\n    condition: append\n",
            "An append override for 'condition' was specified but 'condition' is not defined",
        ),
        (
            "- rule: r\n  condition: fd.name = x\n  override:\n    output: append\n",
            "An append override for 'output' was specified but 'output' is not defined",
        ),
        (
            "- rule: r\n  desc: x\n  output: y\n  override:\n    desc: replace\n",
            "Unexpected key 'output': no corresponding entry under 'override' is defined.",
        ),
        (
            "- rule: r\n  priority: debug\n  override:\n    priority: append\n",
            "Key 'priority' cannot be appended to, use 'replace' instead",
        ),
        (
            "- rule: r\n  source: k8s_audit\n  override:\n    source: replace\n",
            "Key 'source' cannot be replaced",
        ),
        (
            "- rule: r\n  priority: debug\n  override:\n    priority: merge\n",
            "Invalid override operation for key 'priority': 'merge'. Allowed values are: replace ",
        ),
        (
            "- list: l\n  items: [a]\n  append: true\n  override:\n    items: append\n",
            ERROR_OVERRIDE_APPEND,
        ),
    ],
)
def test_override_errors(item: str, message: str) -> None:
    out = load("- list: l\n  items: [z]\n" + BASE, item)
    errs = errors(out)
    assert [e.message for e in errs] == [message]
    assert errs[0].code is ErrorCode.LOAD_ERR_YAML_VALIDATE


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            "- rule: nope\n  condition: and x\n  override:\n    condition: append\n",
            "Rule uses 'append' or 'override.<key>: append' but no rule by that name "
            "already exists",
        ),
        (
            "- rule: nope\n  condition: and x\n  append: true\n",
            "Rule uses 'append' or 'override.<key>: append' but no rule by that name "
            "already exists",
        ),
        (
            "- rule: nope\n  condition: x\n  override:\n    condition: replace\n",
            "An 'override.<key>: replace' to a rule was requested but no rule by that name "
            "already exists",
        ),
    ],
)
def test_update_of_a_missing_rule(item: str, message: str) -> None:
    out = load(BASE, item)
    assert [(e.code, e.message) for e in errors(out)] == [(ErrorCode.LOAD_ERR_VALIDATE, message)]


def test_first_error_stops_the_file_but_not_the_next_file() -> None:
    out = load(
        rule("a") + "- rule: bad\n  enabled: maybe\n" + rule("b"),
        rule("c"),
        names=["one.yaml", "two.yaml"],
    )
    assert not result_named(out, "one.yaml").successful
    assert result_named(out, "two.yaml").successful
    assert [r.name for r in out.ruleset] == ["a", "c"]
    assert not out.successful


# -- exceptions ------------------------------------------------------------------------


def exceptions_rule(exceptions: str, condition: str = "proc.name = bash") -> str:
    return rule(condition=condition) + "  exceptions:\n" + exceptions


def test_exception_single_field_default_in() -> None:
    out = load(
        exceptions_rule(
            '    - name: e\n      fields: proc.pname\n      values: [sshd, "my daemon"]\n'
        )
    )
    assert codes(out) == []
    assert fires(out, {"proc.name": "bash", "proc.pname": "init"})
    assert not fires(out, {"proc.name": "bash", "proc.pname": "sshd"})
    assert not fires(out, {"proc.name": "bash", "proc.pname": "my daemon"})
    assert cond(out) == '(proc.name = bash) and not (proc.pname in (sshd, "my daemon"))'


@pytest.mark.parametrize(
    ("comp", "value", "event", "excepted"),
    [
        ("pmatch", "/tmp", {"fd.name": "/tmp/x"}, True),
        ("pmatch", "/tmp", {"fd.name": "/tmpx"}, False),
        ("intersects", "--safe", {"proc.args": ["-a", "--safe"]}, True),
        ("intersects", "--safe", {"proc.args": ["-a"]}, False),
        ("in", "/tmp/x", {"fd.name": "/tmp/x"}, True),
    ],
)
def test_exception_single_field_comps(comp: str, value: str, event: dict, excepted: bool) -> None:
    field = "proc.args" if comp == "intersects" else "fd.name"
    out = load(
        exceptions_rule(
            f"    - name: e\n      fields: {field}\n      comps: {comp}\n      values: [{value}]\n"
        )
    )
    assert codes(out) == []
    assert fires(out, {"proc.name": "bash", **event}) is not excepted


def test_exception_single_field_rejects_other_comps() -> None:
    out = load(
        exceptions_rule("    - name: e\n      fields: fd.name\n      comps: =\n      values: [x]\n")
    )
    assert errors(out)[0].message == (
        "When fields is a single value, comps must be one of (in, pmatch, intersects)"
    )
    out = load(
        exceptions_rule(
            "    - name: e\n      fields: fd.name\n      comps: [in]\n      values: [x]\n"
        )
    )
    assert errors(out)[0].message == "Fields and comps must both be strings"


def test_exception_single_field_with_a_list_value() -> None:
    out = load(exceptions_rule("    - name: e\n      fields: fd.name\n      values: [[a, b]]\n"))
    assert errors(out)[0].message == "Expected values array to contain a list of strings"


def test_exception_tuple_form_default_equality_and_quoting() -> None:
    out = load(
        exceptions_rule(
            "    - name: e\n      fields: [proc.cmdline, user.name]\n"
            '      values:\n        - ["bash -i", root]\n        - [x, alice]\n'
        )
    )
    assert codes(out) == []
    ev = {"proc.name": "bash"}
    assert not fires(out, {**ev, "proc.cmdline": "bash -i", "user.name": "root"})
    assert not fires(out, {**ev, "proc.cmdline": "x", "user.name": "alice"})
    assert fires(out, {**ev, "proc.cmdline": "bash -i", "user.name": "alice"})
    assert fires(out, {**ev, "proc.cmdline": "bash", "user.name": "root"})
    assert 'proc.cmdline = "bash -i"' in cond(out)


def test_exception_tuple_form_with_comps_list_values_and_listrefs() -> None:
    out = load(
        '- list: allowed\n  items: [ok1, "ok two"]\n'
        + exceptions_rule(
            "    - name: e\n      fields: [fd.name, proc.pname, user.name]\n"
            "      comps: [startswith, in, in]\n      values:\n"
            "        - [/var/log, allowed, [root]]\n"
            '        - [/srv, "(a, b)", [alice, "bob smith"]]\n'
        )
    )
    assert codes(out) == []
    ev = {"proc.name": "bash"}
    assert not fires(
        out, {**ev, "fd.name": "/var/log/x", "proc.pname": "ok two", "user.name": "root"}
    )
    assert fires(out, {**ev, "fd.name": "/var/log/x", "proc.pname": "ok3", "user.name": "root"})
    assert not fires(out, {**ev, "fd.name": "/srv/x", "proc.pname": "b", "user.name": "bob smith"})
    assert fires(out, {**ev, "fd.name": "/srv/x", "proc.pname": "b", "user.name": "bob"})


def test_exception_without_values_is_a_no_op() -> None:
    out = load(exceptions_rule("    - name: e\n      fields: [proc.pname, user.name]\n"))
    assert codes(out) == []
    assert cond(out) == "(proc.name = bash)"


def test_exception_values_appended_in_later_file() -> None:
    out = load(
        exceptions_rule("    - name: e\n      fields: [proc.pname]\n      values: [[sshd]]\n"),
        "- rule: r\n  exceptions:\n    - name: e\n      values: [[cron]]\n"
        "  override:\n    exceptions: append\n",
    )
    assert codes(out) == []
    assert not fires(out, {"proc.name": "bash", "proc.pname": "cron"})
    assert not fires(out, {"proc.name": "bash", "proc.pname": "sshd"})
    assert fires(out, {"proc.name": "bash", "proc.pname": "init"})


def test_exception_append_errors() -> None:
    base = exceptions_rule("    - name: e\n      fields: proc.pname\n      values: [sshd]\n")
    upd = "  override:\n    exceptions: append\n"
    out = load(
        base,
        "- rule: r\n  exceptions:\n    - name: e\n      fields: user.name\n      values: [x]\n"
        + upd,
    )
    assert (
        errors(out)[0].message
        == "Can not append exception fields to existing exception, only values"
    )
    out = load(
        base,
        "- rule: r\n  exceptions:\n    - name: e\n      comps: pmatch\n      values: [x]\n" + upd,
    )
    assert (
        errors(out)[0].message
        == "Can not append exception comps to existing exception, only values"
    )
    out = load(base, "- rule: r\n  exceptions:\n    - name: new\n      values: [x]\n" + upd)
    assert (
        errors(out)[0].message == "Rule exception must have fields property with a list of fields"
    )
    out = load(base, "- rule: r\n  exceptions:\n    - name: new\n      fields: user.name\n" + upd)
    assert (
        errors(out)[0].message == "Rule exception must have values property with a list of values"
    )
    assert WarningCode.LOAD_APPEND_NO_VALUES in [w.code for w in warnings(out)]


@pytest.mark.parametrize(
    ("exception", "message"),
    [
        (
            "    - name: e\n      fields: [proc.pname, user.name]\n      values: [[a]]\n",
            "Fields and values lists must have equal length",
        ),
        (
            "    - name: e\n      fields: [proc.pname, user.name]\n      comps: [=]\n"
            "      values: [[a, b]]\n",
            "Fields and comps lists must have equal length",
        ),
        (
            "    - name: e\n      fields: [proc.pname]\n      comps: [equals]\n"
            "      values: [[a]]\n",
            "'equals' is not a supported comparison operator",
        ),
        (
            "    - name: e\n      fields: [proc.nope]\n      values: [[a]]\n",
            "'proc.nope' is not a supported filter field",
        ),
        (
            "    - name: e\n      fields: proc.nope\n      values: [a]\n",
            "'proc.nope' is not a supported filter field",
        ),
    ],
)
def test_exception_validation_errors(exception: str, message: str) -> None:
    out = load(exceptions_rule(exception))
    (err,) = errors(out)
    assert (err.code, err.message) == (ErrorCode.LOAD_ERR_VALIDATE, message)
    assert [loc.item_type for loc in err.locations][-1] == "exception"
    assert err.locations[-1].item_name == "e"


@pytest.mark.parametrize(
    ("exceptions", "message"),
    [
        ("    - name: e\n      values: [a]\n", "Item has no mapping for key 'fields'"),
        ("    - fields: proc.pname\n", "Item has no mapping for key 'name'"),
        (
            "    - name: e\n      fields: proc.pname\n    - name: e\n      fields: user.name\n",
            "Exceptions names in the same object must be unique",
        ),
        ("    name: e\n", "Rule exceptions must be a sequence"),
        ("    - just a string\n", "Rule exception must be a mapping"),
        (
            "    - name: e\n      fields: proc.pname\n      values: a\n",
            "Rule exception values must be a sequence",
        ),
    ],
)
def test_exception_structure_errors(exceptions: str, message: str) -> None:
    out = load(exceptions_rule(exceptions))
    (err,) = errors(out)
    assert err.message == message
    assert err.code is ErrorCode.LOAD_ERR_YAML_VALIDATE


# -- unknown filters, event types, <NA> ------------------------------------------------


def test_unknown_field_is_a_compile_error() -> None:
    out = load(rule(condition="proc.name = bash and nope.field = 1"))
    (err,) = errors(out)
    assert err.code is ErrorCode.LOAD_ERR_COMPILE_CONDITION
    assert "nonexistent field nope.field" in err.message
    assert out.ruleset.get("r") is None


def test_skip_if_unknown_filter_downgrades_to_a_warning() -> None:
    out = load(rule("a", condition="nope.field = 1", skip__if__unknown__filter="true") + rule("b"))
    assert [d.code for d in all_diags(out)] == [WarningCode.LOAD_UNKNOWN_FILTER]
    assert errors(out) == []
    assert out.ruleset.get("a") is None
    assert out.ruleset.get("b") is not None


def test_skip_if_unknown_filter_covers_outputs_and_event_types() -> None:
    src = typed_source(event_types=SYSCALL_TYPES)
    out = load(
        rule("a", condition="evt.type = open").replace("%proc.name", "%nope.x")
        + "  skip-if-unknown-filter: true\n"
        + rule("b", condition="evt.type = bogus", skip__if__unknown__filter="true"),
        sources=[src],
    )
    assert errors(out) == []
    assert [d.code for d in warnings(out)] == [WarningCode.LOAD_UNKNOWN_FILTER] * 2
    assert "unknown event type bogus" in warnings(out)[1].message
    assert len(out.ruleset) == 0


def test_skip_if_unknown_filter_does_not_hide_syntax_errors() -> None:
    out = load(rule(condition="proc.name = (", skip__if__unknown__filter="true"))
    assert [e.code for e in errors(out)] == [ErrorCode.LOAD_ERR_COMPILE_CONDITION]


def test_unknown_event_type_without_skip_is_an_error() -> None:
    out = load(
        rule(condition="evt.type = bogus"), sources=[typed_source(event_types=SYSCALL_TYPES)]
    )
    (err,) = errors(out)
    assert err.code is ErrorCode.LOAD_ERR_COMPILE_CONDITION
    assert "unknown event type bogus" in err.message


def test_no_evttype_warning_and_warn_evttypes_false() -> None:
    src = typed_source(event_types=SYSCALL_TYPES)
    out = load(
        rule("wide", condition="proc.name = bash")
        + rule("quiet", condition="proc.name = bash", warn_evttypes="false")
        + rule("narrow", condition="evt.type in (open, openat) and proc.name = bash"),
        sources=[src],
    )
    (w,) = warnings(out)
    assert w.code is WarningCode.LOAD_NO_EVTTYPE
    assert w.message == (
        "Rule matches too many evt.type values. This has a significant performance penalty."
    )
    assert w.locations[0].item_name == "wide"
    narrow = out.ruleset.get("narrow")
    assert narrow is not None and narrow.event_types == frozenset({"open", "openat"})


def test_no_evttype_warning_for_a_condition_no_type_can_match() -> None:
    # Falco warns when the set of event codes is empty, too
    src = typed_source(event_types=SYSCALL_TYPES)
    out = load(rule(condition="evt.type = open and evt.type = execve"), sources=[src])
    assert [d.code for d in warnings(out)] == [WarningCode.LOAD_NO_EVTTYPE]


def test_no_evttype_needs_a_typed_source() -> None:
    out = load(rule(condition="proc.name = bash"))  # the source has no event types
    assert codes(out) == []


def test_unsafe_na_check() -> None:
    out = load(rule(condition='proc.name = bash and ka.user.name != "<NA>"'))
    (w,) = warnings(out)
    assert w.code is WarningCode.LOAD_UNSAFE_NA_CHECK
    assert w.locations[-1].column == 22
    assert out.ruleset.get("r") is not None
    out = load(rule(condition="jevt.value[/a] in (a, <NA>)"))
    assert [d.code for d in warnings(out)] == [WarningCode.LOAD_UNSAFE_NA_CHECK]


def test_unsafe_na_check_inside_a_macro() -> None:
    out = load("- macro: m\n  condition: ka.verb = <NA>\n" + rule(condition="m"))
    assert [d.code for d in warnings(out)] == [WarningCode.LOAD_UNSAFE_NA_CHECK]


@pytest.mark.parametrize(
    "condition",
    [
        'fd.name != "<NA>"',  # only ka.* and jevt.* fields, as Falco
        "proc.name in (a, <NA>)",
        'ka.verb contains "<NA>"',  # only equality operators
        "ka.verb startswith <NA>",
    ],
)
def test_na_comparisons_falco_does_not_warn_about(condition: str) -> None:
    out = load(rule(condition=f"'{condition}'"))
    assert codes(out) == []


def test_unknown_source_is_skipped_with_a_warning() -> None:
    out = load(rule(source="k8s_nope"))
    (w,) = all_diags(out)
    assert (w.code, w.message) == (
        WarningCode.LOAD_UNKNOWN_SOURCE,
        "Unknown source k8s_nope, skipping",
    )
    assert len(out.ruleset) == 0
    assert out.successful


def test_rule_of_another_source() -> None:
    out = load(rule(source="k8s_audit"), sources=[typed_source(), typed_source("k8s_audit")])
    r = out.ruleset.get("r")
    assert r is not None and r.source == "k8s_audit"


# -- top-level items and keys ----------------------------------------------------------


def test_unknown_item_and_unknown_key() -> None:
    out = load("- foo: bar\n" + rule(colour="red"))
    assert codes(out) == ["LOAD_UNKNOWN_ITEM", "LOAD_UNKNOWN_KEY"]
    item, key = warnings(out)
    assert item.message == "Unknown top level item"
    assert item.locations[0].item_type == "rules content item"
    assert "colour" in key.message
    assert out.ruleset.get("r") is not None


def test_invalid_macro_and_list_names() -> None:
    out = load(
        '- list: "bad name"\n  items: [a]\n- macro: 1bad\n  condition: proc.name = a\n' + rule()
    )
    got = [(d.code, d.locations[0].item_name) for d in warnings(out)]
    assert (WarningCode.LOAD_INVALID_LIST_NAME, "bad name") in got
    assert (WarningCode.LOAD_INVALID_MACRO_NAME, "1bad") in got
    msgs = {d.code: d.message for d in warnings(out)}
    assert msgs[WarningCode.LOAD_INVALID_MACRO_NAME] == (
        "Macro has an invalid name. Macro names must match a regular expression: "
        "([a-zA-Z]+[a-zA-Z0-9_]*)"
    )
    assert msgs[WarningCode.LOAD_INVALID_LIST_NAME].startswith(
        "List has an invalid name. List names must match a regular expression: "
    )


def test_required_engine_version() -> None:
    for ok in ("- required_engine_version: 10\n", "- required_engine_version: 0.26.0\n"):
        assert codes(load(ok + rule())) == []
    out = load("- required_engine_version: 9999\n" + rule())
    (err,) = errors(out)
    assert err.code is ErrorCode.LOAD_ERR_VALIDATE
    assert err.message.startswith("Rules require engine version 0.9999.0, but engine version is ")
    out = load("- required_engine_version: 1.0.0\n")
    assert errors(out)[0].message.startswith("Rules require engine version 1.0.0")
    out = load("- required_engine_version: abc\n")
    assert errors(out)[0].code is ErrorCode.LOAD_ERR_YAML_VALIDATE
    assert "Unable to parse engine version 'abc'" in errors(out)[0].message


def test_required_plugin_versions() -> None:
    ok = (
        "- required_plugin_versions:\n  - name: k8saudit\n    version: 0.7.0\n"
        "    alternatives:\n      - name: k8saudit-eks\n        version: 0.4.0\n"
    )
    assert codes(load(ok + rule())) == []
    out = load("- required_plugin_versions:\n  - name: x\n    version: one\n")
    assert errors(out)[0].message == "Invalid required version 'one' for plugin 'x'"
    out = load("- required_plugin_versions: x\n")
    assert errors(out)[0].message == "Value of required_plugin_versions must be a sequence"


# -- file-level errors -----------------------------------------------------------------


def test_file_read_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    out = load_rules([missing], [typed_source()])
    (res,) = out.results
    assert res.name == str(missing)
    (err,) = res.errors
    assert err.code is ErrorCode.LOAD_ERR_FILE_READ
    assert err.code.value == "File read error"


def test_non_utf8_file_is_a_read_error(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_bytes(b"- list: a\n  items: [\xff\xfe]\n")
    out = load_rules([f], [typed_source()])
    assert [e.code for e in errors(out)] == [ErrorCode.LOAD_ERR_FILE_READ]


def test_yaml_parse_error_with_line() -> None:
    out = load("- rule: r\n  desc: d\n   condition: x\n")
    (err,) = errors(out)
    assert err.code is ErrorCode.LOAD_ERR_YAML_PARSE
    assert err.code.value == "YAML parse error"
    top, at = err.locations
    assert (top.item_type, at.item_type) == ("rules content", "value for")
    assert (at.line, at.column) == (3, 13)
    # Falco's JSON numbers lines and columns from 0, as yaml-cpp
    assert err.as_dict()["context"]["locations"][1]["position"]["line"] == 2
    out = load("[1, 2\n")
    assert errors(out)[0].code is ErrorCode.LOAD_ERR_YAML_PARSE


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("just a scalar\n", "Rules content is not yaml"),
        ("42\n", "Rules content is not yaml"),
        ("a: b\n", "Rules content is not yaml array of objects"),
        ("- 1\n- 2\n", "Unexpected element type. Each element should be a yaml associative array."),
        ("- [a, b]\n", "Unexpected element type. Each element should be a yaml associative array."),
        (rule() + "---\nkey: value\n", "Rules content is not yaml array of objects"),
    ],
)
def test_yaml_validate_errors(content: str, message: str) -> None:
    out = load(content)
    (err,) = errors(out)
    assert (err.code, err.message) == (ErrorCode.LOAD_ERR_YAML_VALIDATE, message)


def test_empty_documents_and_null_items_are_fine() -> None:
    for content in ("", "---\n...\n", "# only a comment\n", "-\n" + rule()):
        out = load(content)
        assert errors(out) == [], content


def test_multiple_documents() -> None:
    out = load(rule("a") + "---\n" + rule("b"))
    assert [r.name for r in out.ruleset] == ["a", "b"]


def test_hostile_yaml_does_not_crash() -> None:
    deep = "- " + "[" * 5000 + "]" * 5000 + "\n"
    out = load(deep)
    assert errors(out) and errors(out)[0].code in (
        ErrorCode.LOAD_ERR_YAML_PARSE,
        ErrorCode.LOAD_ERR_YAML_VALIDATE,
    )


def test_billion_laughs_yaml_stays_small() -> None:
    # 10**12 items if aliases were expanded; Falco stops at the first non-scalar item
    text = "- list: l0\n  items: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 13):
        text += f"- list: l{i}\n  items: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n"
    out = load(text)
    (err,) = errors(out)
    assert (err.code, err.message) == (
        ErrorCode.LOAD_ERR_YAML_VALIDATE,
        "sequence value is not scalar",
    )


def test_yaml_aliases_are_values() -> None:
    out = load(
        "- list: l0\n  items: &shells [bash, zsh]\n- list: l1\n  items: *shells\n"
        + rule(condition="proc.name in (l1) and not proc.pname in (l0)")
    )
    assert codes(out) == []
    assert fires(out, {"proc.name": "zsh", "proc.pname": "init"})
    assert not fires(out, {"proc.name": "zsh", "proc.pname": "bash"})


def test_hostile_conditions_in_rules() -> None:
    deep = "(" * 5000 + "proc.name = a" + ")" * 5000
    out = load(rule(condition=f'"{deep}"'))
    (err,) = errors(out)
    assert err.code is ErrorCode.LOAD_ERR_COMPILE_CONDITION
    assert err.message == "exceeded max depth limit of 1000"
    items = ", ".join(f"i{i}" for i in range(30_000))
    out = load(f"- list: big\n  items: [{items}]\n" + rule(condition="proc.name in (big)"))
    assert codes(out) == []
    assert fires(out, {"proc.name": "i29999"})
    out = load(rule(condition="'proc.name = \"abc'"))
    assert "unterminated" in errors(out)[0].message


def macro_chain(n: int, nested: bool) -> str:
    text = "- macro: m0\n  condition: proc.name = x\n"
    for i in range(1, n):
        body = f"proc.pname != p{i} and m{i - 1}" if nested else f"m{i - 1}"
        text += f"- macro: m{i}\n  condition: {body}\n"
    return text + rule(condition=f"m{n - 1}")


def test_long_macro_chain() -> None:
    out = load(macro_chain(3000, nested=False))
    assert codes(out) == []  # every macro is used by the next one
    assert fires(out, {"proc.name": "x"})
    assert not fires(out, {"proc.name": "y"})


def test_deeply_nested_macro_chain() -> None:
    out = load(macro_chain(1500, nested=True), sources=[typed_source(event_types=SYSCALL_TYPES)])
    assert errors(out) == []
    assert fires(out, {"proc.name": "x", "proc.pname": "init"})
    assert not fires(out, {"proc.name": "x", "proc.pname": "p700"})


def test_too_deep_macro_nesting_is_a_clean_error() -> None:
    # past the size limit first (three nodes a level); with it lifted, past the nesting one
    out = load(macro_chain(8000, nested=True))
    assert "expands to 10," in errors(out)[0].message
    loader = RulesLoader([typed_source()], max_condition_nodes=10**6)
    loader.add_content("rules.yaml", macro_chain(8000, nested=True))
    out = loader.compile()
    (err,) = errors(out)
    assert (err.code, err.message) == (
        ErrorCode.LOAD_ERR_COMPILE_CONDITION,
        "condition nested too deeply",
    )
    assert err.locations[0].item_name == "r"


# -- compile errors: positions and JSON ------------------------------------------------


def test_compile_condition_error_context() -> None:
    out = load(
        "- list: l\n  items: [a]\n"
        + rule(condition=">\n    proc.name in (l) and\n    nope.field = 1"),
        names=["my_rules.yaml"],
    )
    (err,) = errors(out)
    doc = err.as_dict()
    assert doc["code"] == "LOAD_ERR_COMPILE_CONDITION"
    assert doc["codedesc"] == "Error compiling condition"
    assert "nonexistent field nope.field" in doc["message"]
    locs = doc["context"]["locations"]
    assert [(x["item_type"], x["item_name"]) for x in locs] == [
        ("rules content", ""),
        ("rule", "r"),
        ("rule condition", ""),
        ("condition expression", ""),
    ]
    # yaml-cpp marks are 0-based: Falco's JSON says so
    assert locs[0]["position"] == {"name": "my_rules.yaml", "line": 0, "column": 0, "offset": 0}
    assert locs[1]["position"] == {"name": "my_rules.yaml", "line": 2, "column": 2, "offset": 25}
    cond_pos = locs[2]["position"]
    assert (cond_pos["name"], cond_pos["line"], cond_pos["column"]) == ("my_rules.yaml", 4, 13)
    # the condition (after list substitution) is "proc.name in ( a ) and nope.field = 1":
    # the parser's 1-based position (1, 24, offset 23) is added to the condition's mark
    expr = locs[3]["position"]
    assert expr == {
        "name": '"proc.name in ( a ..."',
        "line": cond_pos["line"] + 1,
        "column": cond_pos["column"] + 24,
        "offset": cond_pos["offset"] + 23,
    }
    assert "^" in doc["context"]["snippet"]
    # the location keeps the position inside the condition for people
    assert (err.locations[-1].line, err.locations[-1].column) == (1, 24)


def test_short_condition_names_the_expression_location() -> None:
    out = load(rule(condition="proc.name = ("))
    (err,) = errors(out)
    assert err.locations[-1].file == '"proc.name = ("'


def test_compile_output_error() -> None:
    out = load(rule().replace("%proc.name", "%nope.field"))
    (err,) = errors(out)
    assert err.code is ErrorCode.LOAD_ERR_COMPILE_OUTPUT
    assert err.code.value == "Error compiling output"
    assert err.message == "invalid formatting token nope.field"  # as Falco's formatter
    assert [loc.item_type for loc in err.locations] == ["rule", "rule output"]


def test_output_is_checked_before_the_condition() -> None:
    # Falco validates the output first: a rule broken in both reports its output, and a
    # rule skipped for an unknown output field never resolves its macros or lists
    out = load(rule(condition="proc.name = (").replace("%proc.name", "%nope.x"))
    assert [e.code for e in errors(out)] == [ErrorCode.LOAD_ERR_COMPILE_OUTPUT]
    out = load(
        "- list: l\n  items: [a]\n- macro: m\n  condition: proc.name in (l)\n"
        + rule(condition="m", skip__if__unknown__filter="true").replace("%proc.name", "%nope.x")
    )
    assert codes(out) == ["LOAD_UNKNOWN_FILTER", "LOAD_UNUSED_MACRO"]


def test_syntax_error_position_in_rule() -> None:
    out = load(rule(condition="proc.name = bash and"))
    (err,) = errors(out)
    assert err.code is ErrorCode.LOAD_ERR_COMPILE_CONDITION
    assert err.message == "expected blank or '(' after 'and'"
    assert (err.locations[-1].line, err.locations[-1].column) == (1, 21)


def test_load_result_json_shape() -> None:
    out = load("- list: unused\n  items: [a]\n" + rule(), names=["x.yaml"])
    (res,) = out.results
    doc = res.as_dict()
    assert list(doc) == ["name", "successful", "errors", "warnings"]
    assert doc["name"] == "x.yaml" and doc["successful"] is True and doc["errors"] == []
    (w,) = doc["warnings"]
    assert list(w) == ["code", "codedesc", "message", "context"]
    # Falco's JSON gives warnings their long description (falco_load_result.cpp)
    assert (w["code"], w["codedesc"]) == (
        "LOAD_UNUSED_LIST",
        "A list is defined in the rules content but is not used by any other list, macro, or rule.",
    )
    root, loc = w["context"]["locations"]
    assert root == {
        "item_type": "rules content",
        "item_name": "",
        "position": {"name": "x.yaml", "line": 0, "column": 0, "offset": 0},
    }
    assert loc == {
        "item_type": "list",
        "item_name": "unused",
        "position": {"name": "x.yaml", "line": 0, "column": 2, "offset": 2},
    }
    json.dumps(doc)  # serialisable as is


def test_load_result_text() -> None:
    out = load("- list: unused\n  items: [a]\n" + rule(), names=["x.yaml"])
    assert out.results[0].as_text() == "x.yaml: Ok, with warnings"
    out = load(rule(priority="loud"), names=["y.yaml"])
    text = out.results[0].as_text()
    assert text.startswith("y.yaml: Invalid\n1 Errors:\nLOAD_ERR_YAML_VALIDATE")
    assert "rule 'r' (y.yaml:1:3)" in text


def test_every_code_has_falcos_description() -> None:
    assert {c.name: c.value for c in ErrorCode} == {
        "LOAD_ERR_FILE_READ": "File read error",
        "LOAD_ERR_YAML_PARSE": "YAML parse error",
        "LOAD_ERR_YAML_VALIDATE": "Error validating internal structure of YAML file",
        "LOAD_ERR_COMPILE_CONDITION": "Error compiling condition",
        "LOAD_ERR_COMPILE_OUTPUT": "Error compiling output",
        "LOAD_ERR_VALIDATE": "Error validating rule/macro/list/exception objects",
        "LOAD_ERR_EXTENSION": "Error in extension item",
    }
    assert WarningCode.LOAD_UNKNOWN_FILTER.value == (
        "Unknown field or event-type in condition or output"
    )
    assert WarningCode.LOAD_UNKNOWN_KEY.value == "Unknown key in item definition"


# -- files and directories -------------------------------------------------------------


def test_directory_is_loaded_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text(rule("r", condition="proc.name = b"))
    (tmp_path / "a.yaml").write_text(rule("r", condition="proc.name = a"))
    (tmp_path / "c.yml").write_text("- rule: r\n  condition: or proc.name = c\n  append: true\n")
    (tmp_path / "notes.txt").write_text("not rules")
    out = load_rules([tmp_path], [typed_source()])
    assert [Path(r.name).name for r in out.results] == ["a.yaml", "b.yaml", "c.yml"]
    r = out.ruleset.get("r")
    assert r is not None
    assert r.predicate({"proc.name": "b"}) and r.predicate({"proc.name": "c"})
    assert not r.predicate({"proc.name": "a"})


def test_diagnostics_are_filed_under_the_file_that_wrote_the_item() -> None:
    loader = RulesLoader([typed_source()])
    loader.add_content("base.yaml", "- list: l\n  items: [a]\n" + rule())
    loader.add_content("local.yaml", rule("bad", condition="nope.x = 1"))
    out = loader.compile()
    assert [d.code.name for d in result_named(out, "base.yaml").warnings] == ["LOAD_UNUSED_LIST"]
    assert [d.code.name for d in result_named(out, "local.yaml").errors] == [
        "LOAD_ERR_COMPILE_CONDITION"
    ]
