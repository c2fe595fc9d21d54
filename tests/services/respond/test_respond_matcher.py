"""Matching semantics: rule names, priority comparisons, source, tags, output fields,
order and `continue`."""

from __future__ import annotations

from pathlib import Path

import pytest
from respond_helpers import make_alert, rules_from

from lanner.services.respond.alert import Alert
from lanner.services.respond.matcher import matches, select


def _match(tmp_path: Path, match_yaml: str, **alert: object) -> bool:
    rules = rules_from(
        tmp_path, f"- rule: r\n  match:\n{match_yaml}  actions: [{{action: kubernetes:cordon}}]\n"
    )
    return matches(rules[0].match, Alert.from_dict(make_alert(**alert)))


@pytest.mark.parametrize(
    ("spec", "priority", "expected"),
    [
        ("Warning", "Warning", True),
        ("Warning", "Critical", True),
        ("Warning", "Notice", False),
        (">=Error", "emergency", True),
        (">Error", "Error", False),
        (">Error", "Critical", True),
        ("<=Notice", "Info", True),
        ("<=Notice", "Warning", False),
        ("<Notice", "Notice", False),
        ("=Notice", "NOTICE", True),
        ("==Notice", "Warning", False),
    ],
)
def test_priority(tmp_path: Path, spec: str, priority: str, expected: bool) -> None:
    assert _match(tmp_path, f"    priority: '{spec}'\n", priority=priority) is expected


def test_rule_names_exact_and_glob(tmp_path: Path) -> None:
    assert _match(tmp_path, "    rules: [Outbound Connection to C2 Servers]\n")
    assert not _match(tmp_path, "    rules: [Outbound Connection]\n")
    assert _match(tmp_path, "    rules: [Terminal shell in container, 'Outbound*']\n")
    assert not _match(tmp_path, "    rules: ['outbound*']\n")  # case-sensitive


def test_source(tmp_path: Path) -> None:
    assert _match(tmp_path, "    source: syscall\n")
    assert not _match(tmp_path, "    source: [k8s_audit, aws_cloudtrail]\n")
    assert _match(tmp_path, "    source: k8s_audit\n", source="k8s_audit")


def test_tags_all_and_any(tmp_path: Path) -> None:
    assert _match(tmp_path, "    tags: [network, T1071]\n")
    assert not _match(tmp_path, "    tags: [network, filesystem]\n")
    assert _match(tmp_path, "    tags_any: [filesystem, T1071]\n")
    assert not _match(tmp_path, "    tags_any: [filesystem, container]\n")
    assert not _match(tmp_path, "    tags: [network]\n", tags=None)  # absent tags


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("k8s.ns.name: default", True),
        ("k8s.ns.name: prod", False),
        ("k8s.ns.name: {eq: default}", True),
        ("k8s.ns.name: {ne: kube-system}", True),
        ("k8s.ns.name: {ne: default}", False),
        ("k8s.ns.name: [prod, default]", True),
        ("k8s.ns.name: {in: [prod, staging]}", False),
        ("k8s.ns.name: {not_in: [kube-system, kube-public]}", True),
        ("k8s.ns.name: {not_in: [default]}", False),
        ("k8s.pod.name: {glob: 'web-*'}", True),
        ("k8s.pod.name: {glob: 'db-*'}", False),
        ("fd.sip: {glob: '203.0.113.*'}", True),
        ("proc.pid: 4242", True),  # numbers compare as their text
        ("proc.pid: '4242'", True),
        ("proc.pid: {in: [1, 4242]}", True),
        ("k8s.deployment.name: {exists: false}", True),
        ("k8s.pod.name: {exists: true}", True),
        ("k8s.deployment.name: {glob: '*'}", False),  # absent never globs
        ("k8s.deployment.name: {ne: x}", True),  # absent differs from any value
    ],
)
def test_output_fields(tmp_path: Path, condition: str, expected: bool) -> None:
    assert _match(tmp_path, f"    output_fields:\n      {condition}\n") is expected


def test_list_valued_and_null_fields(tmp_path: Path) -> None:
    fields = {**make_alert()["output_fields"], "proc.aname": ["bash", "sshd"], "user.name": None}
    assert _match(tmp_path, "    output_fields: {proc.aname: sshd}\n", output_fields=fields)
    assert not _match(
        tmp_path, "    output_fields: {proc.aname: {not_in: [sshd]}}\n", output_fields=fields
    )
    assert _match(
        tmp_path, "    output_fields: {user.name: {exists: false}}\n", output_fields=fields
    )
    assert _match(tmp_path, "    output_fields: {user.name: null}\n", output_fields=fields)


def test_all_parts_must_hold(tmp_path: Path) -> None:
    spec = "    priority: Warning\n    tags: [network]\n    output_fields: {k8s.ns.name: prod}\n"
    assert not _match(tmp_path, spec)
    assert _match(tmp_path, spec.replace("prod", "default"))


ORDERED = """\
- rule: first
  match: {tags: [network]}
  continue: true
  actions: [{action: kubernetes:cordon}]
- rule: not matching
  match: {tags: [filesystem]}
  actions: [{action: kubernetes:cordon}]
- rule: stopper
  match: {priority: Critical}
  actions: [{action: kubernetes:cordon}]
- rule: never reached
  actions: [{action: kubernetes:cordon}]
"""


def test_order_and_continue(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, ORDERED)
    chosen = select(rules, Alert.from_dict(make_alert()))
    assert [r.name for r in chosen] == ["first", "stopper"]
    # a Warning alert skips 'stopper' and falls through to the catch-all
    chosen = select(rules, Alert.from_dict(make_alert(priority="Warning")))
    assert [r.name for r in chosen] == ["first", "never reached"]
    # without network tags only the later rules are considered
    chosen = select(rules, Alert.from_dict(make_alert(priority="Debug", tags=[])))
    assert [r.name for r in chosen] == ["never reached"]
