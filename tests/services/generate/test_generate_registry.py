"""Every default rule is covered by an action or listed as not triggerable, with a reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from lanner.services.generate.registry import UNCOVERED, UNCOVERED_FALCO, all_actions, select
from lanner.services.generate.rule_map import load_map, proves

from .lanner_proc import K8S_RULES, ROOT, SYSCALL_RULES, generate

UPSTREAM = ROOT.parent / "shared" / "fixtures" / "rules"


def rule_names(path: object) -> set[str]:
    # stripped as YAML reads a plain scalar (gcp_auditlog_rules.yaml has "GCP KMS updated ")
    return {n.strip() for n in re.findall(r"^- rule: (.+)$", open(str(path)).read(), re.M)}


def enabled_rule_names(path: object) -> set[str]:
    """Rules of a file that are enabled by default (no ``enabled: false``)."""
    doc = yaml.safe_load(Path(str(path)).read_text())
    return {i["rule"] for i in doc if "rule" in i and i.get("enabled", True) is not False}


def test_every_default_syscall_rule_is_covered_or_explained() -> None:
    rules = rule_names(SYSCALL_RULES)
    covered = {a.rule for a in all_actions() if a.source == "syscall" and a.ruleset == "lanner"}
    explained = {u.rule for u in UNCOVERED}
    assert not covered & explained
    assert covered | explained == rules
    assert all(u.reason for u in UNCOVERED)


def test_every_default_rule_name_exists() -> None:
    rules = rule_names(SYSCALL_RULES) | rule_names(K8S_RULES)
    assert {a.rule for a in all_actions() if a.ruleset == "lanner"} <= rules


def test_upstream_actions_and_the_rule_map_name_real_rules() -> None:
    upstream = rule_names(UPSTREAM / "falco_rules.yaml") | rule_names(
        UPSTREAM / "k8s_audit_rules.yaml"
    )
    extra = {"falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"}
    extra |= {"aws_cloudtrail_rules.yaml", "github.yaml", "okta_rules.yaml"}  # issue 25
    extra |= {"gcp_auditlog_rules.yaml"}
    more = set().union(*(rule_names(UPSTREAM / f) for f in extra))
    falco = {a.rule for a in all_actions() if a.ruleset == "falco"}
    assert falco <= upstream | more
    mapping = load_map()
    names = {a.name for a in all_actions()}
    assert set(mapping) <= names
    every = rule_names(SYSCALL_RULES) | rule_names(K8S_RULES) | upstream | more
    assert {r for rules in mapping.values() for r in rules} <= every
    assert {u.rule for u in UNCOVERED_FALCO} <= upstream | more
    # with the map, every rule of the two upstream files, and every rule enabled by
    # default of the incubating and sandbox files, is proved by an action or listed as
    # not triggerable here, with a reason
    proved = {r for a in all_actions() for r in proves(a, mapping)}
    explained = {u.rule for u in UNCOVERED_FALCO}
    enabled = set().union(*(enabled_rule_names(UPSTREAM / f) for f in extra))
    assert len(enabled) > 50  # the files were read
    assert not (upstream | enabled) - (proved | explained)
    assert all(u.reason for u in UNCOVERED_FALCO)


def test_action_names_are_unique_and_described() -> None:
    names = [a.name for a in all_actions()]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"[a-z0-9_]+", n) for n in names)
    sources = ("syscall", "k8s_audit", "aws_cloudtrail", "github", "okta", "gcp_auditlog")
    assert all(a.description and a.source in sources for a in all_actions())
    assert all(a.target for a in all_actions() if a.source in sources[2:])


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


def test_suite_files_name_real_actions(tmp_path: Path) -> None:
    from lanner.services.generate.suite import SuiteError, load_suite

    actions = {a.name: a for a in all_actions()}
    shipped = load_suite(ROOT / "examples" / "generate" / "training-lab.yaml", actions)
    assert shipped[0].expect == ["Terminal shell in container"] and len(shipped) == 3
    bad = tmp_path / "bad.yaml"
    bad.write_text("- scenario: x\n  steps: [no_such_action]\n")
    with pytest.raises(SuiteError, match="no action named \\['no_such_action'\\]"):
        load_suite(bad, actions)
    bad.write_text("- scenario: x\n  steps: [memfd_exec]\n  expected: []\n")
    with pytest.raises(SuiteError, match="unknown key"):
        load_suite(bad, actions)
