"""Loading response rules: the accepted format and precise errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
from respond_helpers import rules_from

from lanner.exceptions import RulesError
from lanner.services.respond.rules import load_rules

GOOD = """\
- rule: Isolate C2 talkers
  desc: cut the pod off
  match:
    rules: [Outbound Connection to C2 Servers]
    priority: ">=Warning"
    tags: [network]
    output_fields:
      k8s.ns.name: {not_in: [kube-system]}
  actions:
    - action: kubernetes:isolate
      parameters:
        allow_dns: true
    - action: kubernetes:label
      parameters:
        labels: {lanner.dev/quarantined: "true"}
      continue: false
- rule: Notify everything else
  continue: true
  dry_run: true
  actions:
    - action: notify:webhook
      retries: 5
      parameters: {url: "http://127.0.0.1:9/hook"}
"""


def test_good_file_loads_with_defaults_and_positions(tmp_path: Path) -> None:
    rules = rules_from(tmp_path, GOOD)
    assert [r.name for r in rules] == ["Isolate C2 talkers", "Notify everything else"]
    first, second = rules
    assert first.line == 1 and second.line == 17
    assert first.match.priority == (">=", "Warning")
    assert first.continue_ is False and second.continue_ is True
    assert second.dry_run is True and first.dry_run is None
    isolate, label = first.actions
    # declared defaults are filled in, given values kept
    assert isolate.parameters["allow_dns"] is True
    assert isolate.parameters["deny"] == ["egress", "ingress"]
    assert isolate.parameters["selector"] == "quarantine-label"
    assert label.continue_ is False and isolate.continue_ is True
    assert second.actions[0].retries == 5
    assert second.match.rules == ()  # no match: matches everything


def test_bare_priority_means_at_least_and_any_case(tmp_path: Path) -> None:
    rules = rules_from(
        tmp_path,
        "- rule: r\n  match: {priority: error}\n  actions: [{action: kubernetes:cordon}]\n",
    )
    assert rules[0].match.priority == (">=", "Error")


def test_directory_loads_yaml_files_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text("- rule: second\n  actions: [{action: kubernetes:cordon}]\n")
    (tmp_path / "a.yml").write_text("- rule: first\n  actions: [{action: kubernetes:cordon}]\n")
    (tmp_path / "notes.txt").write_text("not rules")
    assert [r.name for r in load_rules([tmp_path])] == ["first", "second"]


def test_disabled_rule_is_dropped(tmp_path: Path) -> None:
    rules = rules_from(
        tmp_path,
        "- rule: dormant\n  enabled: false\n  actions: [{action: kubernetes:cordon}]\n"
        "- rule: awake\n  actions: [{action: kubernetes:cordon}]\n",
    )
    assert [r.name for r in rules] == ["awake"]


def _problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(RulesError) as info:
        load_rules([path])
    return info.value.problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "- rule: r1\n  actions:\n    - action: kubernetes:explode\n",
            "bad.yaml:3: rule 'r1': unknown action 'kubernetes:explode'",
        ),
        (
            "- rule: r1\n  actions:\n    - action: kubernetes:taint\n      parameters: {}\n",
            "bad.yaml:3: rule 'r1': action 'kubernetes:taint': action 'kubernetes:taint' needs"
            " parameter 'key'",
        ),
        (
            "- rule: r1\n  actions:\n    - action: kubernetes:delete\n      parameters:\n"
            "        grace_period_seconds: soon\n",
            "bad.yaml:5: rule 'r1': action 'kubernetes:delete': parameter"
            " 'grace_period_seconds' must be an integer",
        ),
        (
            "- rule: r1\n  actions:\n    - action: kubernetes:isolate\n      parameters:\n"
            "        allow_egress: [{cidr: 10.0.0.300/8}]\n",
            "is not a CIDR",
        ),
        (
            "- rule: r1\n  match:\n    priority: '>=Severe'\n"
            "  actions: [{action: kubernetes:cordon}]\n",
            "bad.yaml:3: rule 'r1': 'match.priority' '>=Severe' is not [op]Priority",
        ),
        (
            "- rule: r1\n  match:\n    output_fields:\n      proc.name: {regex: x}\n"
            "  actions: [{action: kubernetes:cordon}]\n",
            "bad.yaml:4: rule 'r1': output field 'proc.name': unknown operator 'regex'",
        ),
        (
            "- rule: r1\n  match: {colour: red}\n  actions: [{action: kubernetes:cordon}]\n",
            "bad.yaml:2: rule 'r1': unknown key 'match.colour'",
        ),
        (
            "- rule: r1\n  actions: []\n",
            "bad.yaml:1: rule 'r1': 'actions' must be a non-empty list",
        ),
        (
            "- rule: r1\n  continue: maybe\n  actions: [{action: kubernetes:cordon}]\n",
            "bad.yaml:1: rule 'r1': 'continue' must be true or false",
        ),
        (
            "- rule: r1\n  actions:\n    - action: kubernetes:cordon\n      retries: -1\n",
            "bad.yaml:3: rule 'r1': action 'kubernetes:cordon': 'retries' must be an integer >= 0",
        ),
        (
            "- rule: r1\n  actions:\n    - action: kubernetes:label\n      parameters:\n"
            "        labels: {'bad key!': x}\n",
            "is not a valid label/annotation key",
        ),
        (
            "- rule: r1\n  actions:\n    - action: python\n"
            "      parameters: {file: /nonexistent.py}\n",
            "python file '/nonexistent.py' does not exist",
        ),
        ("rule: r1\n", "bad.yaml:1: a rules file must be a list"),
        ("- rule: r1\n  actions: [\n", "bad.yaml:3: invalid YAML"),
        ("- name: r1\n", "bad.yaml:1: item 1 is not a '- rule:' mapping"),
        ("- rule: on\n  actions: [{action: kubernetes:cordon}]\n", "quote names like"),
    ],
)
def test_bad_rules_are_reported_with_file_line_and_rule(
    tmp_path: Path, text: str, expected: str
) -> None:
    problems = _problems(tmp_path, text)
    assert any(expected in p for p in problems), problems
    assert all(str(tmp_path / "bad.yaml") in p for p in problems)


def test_all_problems_are_reported_not_just_the_first(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        "- rule: a\n  actions: [{action: nope}]\n"
        "- rule: b\n  bogus: 1\n  actions: [{action: kubernetes:cordon}]\n"
        "- rule: a\n  actions: [{action: kubernetes:cordon}]\n",
    )
    text = "\n".join(problems)
    assert "rule 'a': unknown action 'nope'" in text
    assert "rule 'b': unknown key 'bogus'" in text
    assert len(problems) == 2  # the second 'a' is valid, and the first never loaded


def test_duplicate_rule_names_are_refused(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        "- rule: a\n  actions: [{action: kubernetes:cordon}]\n"
        "- rule: a\n  actions: [{action: kubernetes:cordon}]\n",
    )
    assert problems == [
        f"{tmp_path / 'bad.yaml'}:3: rule 'a': duplicate name (first at {tmp_path / 'bad.yaml'}:1)"
    ]


def test_unreadable_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read"):
        load_rules([tmp_path / "missing.yaml"])


def test_example_rules_are_valid() -> None:
    examples = Path(__file__).resolve().parents[3] / "examples" / "respond"
    files = sorted(examples.glob("*rules*.yaml"))
    assert files, "examples/respond ships rules"
    assert load_rules(files)
