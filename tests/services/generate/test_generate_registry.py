"""Every default rule is covered by an action or listed as not triggerable, with a reason."""

from __future__ import annotations

import re

from lanner.services.generate.registry import UNCOVERED, all_actions, select

from .lanner_proc import K8S_RULES, SYSCALL_RULES, generate


def rule_names(path: object) -> set[str]:
    return set(re.findall(r"^- rule: (.+)$", open(str(path)).read(), re.M))


def test_every_default_syscall_rule_is_covered_or_explained() -> None:
    rules = rule_names(SYSCALL_RULES)
    covered = {a.rule for a in all_actions() if a.source == "syscall"}
    explained = {u.rule for u in UNCOVERED}
    assert not covered & explained
    assert covered | explained == rules
    assert all(u.reason for u in UNCOVERED)


def test_every_default_rule_name_exists() -> None:
    rules = rule_names(SYSCALL_RULES) | rule_names(K8S_RULES)
    assert {a.rule for a in all_actions()} <= rules


def test_action_names_are_unique_and_described() -> None:
    names = [a.name for a in all_actions()]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"[a-z0-9_]+", n) for n in names)
    assert all(a.description and a.source in ("syscall", "k8s_audit") for a in all_actions())


def test_select_by_regex_and_source() -> None:
    assert [a.name for a in select("^write_below_etc$")] == ["write_below_etc"]
    assert {a.source for a in select("ptrace")} == {"syscall"}
    assert all(a.source == "k8s_audit" for a in select(source="k8s_audit"))
    assert select("Reverse shell")[0].name == "reverse_shell"  # rule names match too


def test_list_command() -> None:
    r = generate("list")
    assert r.returncode == 0, r.stderr
    for a in all_actions():
        assert a.name in r.stdout and a.rule in r.stdout
    assert "Not triggerable on a bare host:" in r.stdout
    assert "Kernel module loaded: loading a module changes the running kernel" in r.stdout
    r = generate("list", "no-such-action")
    assert r.returncode != 0 and "no action matches" in r.stderr
