"""`lanner rules test` and `lanner rules lint`: the default rules' specs and the tool itself."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers import shared_fixture
from lanner.app.rules_command import rules
from lanner.app.ruletest.lint import contradictions, lint
from lanner.app.ruletest.runner import SpecRunner, real_sources
from lanner.app.ruletest.spec import load_spec
from lanner.engine.parser import parse_condition
from lanner.exceptions import SpecError
from lanner.rules import default_rules_files

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "tests" / "rules"


def _rule_names(path: Path) -> set[str]:
    return {
        line.split(":", 1)[1].strip()
        for line in path.read_text().splitlines()
        if line.startswith("- rule:")
    }


def test_default_rules_counts() -> None:
    syscall, k8s = default_rules_files()
    assert len(_rule_names(syscall)) >= 60
    assert len(_rule_names(k8s)) >= 25


def test_default_rules_lint_clean() -> None:
    diags, findings, ok = lint([str(p) for p in default_rules_files()], real_sources())
    assert ok
    assert [d.describe() for d in diags] == []
    assert [str(f) for f in findings] == []


def test_every_default_rule_spec_passes() -> None:
    specs = [load_spec(p) for p in sorted(SPECS.glob("*.yaml"))]
    results = SpecRunner().run(specs)
    failed = [f"{r.case.name}\n{r.diff()}" for r in results if not r.passed]
    assert failed == []
    assert len(results) >= 170


def test_every_default_rule_has_positive_and_negative_specs() -> None:
    specs = [load_spec(p) for p in sorted(SPECS.glob("*.yaml"))]
    positive: set[str] = set()
    negative: set[str] = set()
    for spec in specs:
        for case in spec.tests:
            for exp in case.expect:
                (negative if exp.count == 0 else positive).add(exp.rule)
    names = set().union(*(_rule_names(p) for p in default_rules_files()))
    assert names - positive == set()
    assert names - negative == set()


SPEC_TEXT = """
rules: [rules.yaml]
tests:
  - name: fires
    events:
      - {evt.type: openat, evt.dir: "<", fd.name: /etc/shadow, proc.name: cat}
    expect:
      - {rule: Shadow, output: ["by cat"]}
  - name: wrong expectation
    events:
      - {evt.type: openat, evt.dir: "<", fd.name: /etc/shadow, proc.name: cat}
    expect: none
"""

RULES_TEXT = """
- rule: Shadow
  desc: d
  condition: evt.type = openat and fd.name = /etc/shadow
  output: read by %proc.name
  priority: WARNING
"""


def test_failures_are_reported_with_a_diff_and_junit(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(RULES_TEXT)
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC_TEXT)
    junit = tmp_path / "report.xml"
    result = CliRunner().invoke(rules, ["test", str(spec), "--junit", str(junit)])
    assert result.exit_code == 1
    assert "PASS" in result.output and "FAIL" in result.output
    assert "expected no alert, got 1" in result.output
    assert "- Shadow (Warning): read by cat" in result.output
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    failure = suite.find("testcase[@name='wrong expectation']/failure")
    assert failure is not None and "expected no alert" in failure.get("message", "")


CAPTURE = shared_fixture("captures", "curl_google.scap")


def test_spec_replays_a_scap_capture(tmp_path: Path) -> None:
    """A case's `capture:` .scap file is read by the syscall pipeline (it crashed with
    TypeError once open_replay stopped returning an event iterator for captures)."""
    assert CAPTURE.is_file(), f"fixture capture missing: {CAPTURE}"
    (tmp_path / "rules.yaml").write_text(
        "- rule: curl connects\n  desc: d\n"
        "  condition: evt.type = connect and evt.dir = < and proc.name = curl\n"
        "  output: curl connected (fd=%fd.name)\n  priority: NOTICE\n"
    )
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"rules: [rules.yaml]\ntests:\n  - name: fires\n    capture: {CAPTURE}\n"
        "    expect:\n      - rule: curl connects\n"
        f"  - name: quiet\n    capture: {CAPTURE}\n    expect: none\n"
    )
    result = CliRunner().invoke(rules, ["test", str(spec)])
    assert result.exit_code == 1, result.output
    assert "PASS" in result.output and "expected no alert, got" in result.output
    assert "- curl connects (Notice): curl connected (fd=" in result.output


def test_bad_spec_is_a_clear_error(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("rules: [x.yaml]\ntests:\n  - name: t\n    expect: none\n")
    with pytest.raises(SpecError, match=r"bad.yaml:3: test 't': give 'events'"):
        load_spec(spec)
    result = CliRunner().invoke(rules, ["test", str(spec)])
    assert result.exit_code == 2 and "give 'events'" in result.output


def test_lint_finds_never_true_conditions(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("""
- macro: m
  condition: proc.name = a
- rule: Impossible type
  desc: d
  condition: evt.type = open and evt.type = close
  output: x
  priority: INFO
- rule: Impossible name
  desc: d
  condition: evt.type = open and m and proc.name = b
  output: x
  priority: INFO
- rule: Fine
  desc: d
  condition: evt.type = open and (proc.name = a or proc.name = b)
  output: x
  priority: INFO
""")
    result = CliRunner().invoke(rules, ["lint", str(path)])
    assert result.exit_code == 1
    assert "rule 'Impossible type': NEVER_TRUE: no event type can satisfy" in result.output
    assert "rule 'Impossible name': NEVER_TRUE: proc.name must equal ['a', 'b']" in result.output
    assert "'Fine'" not in result.output


def test_contradictions_ignore_alternatives() -> None:
    assert contradictions(parse_condition("a.b = 1 and (a.b = 2 or c.d = 3)")) == []
    assert contradictions(parse_condition("a.b = 1 and x.y = 2 and a.b = 3")) == [
        "a.b must equal ['1', '3'] at once"
    ]


def test_rules_doc_is_up_to_date() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts" / "gen_rules_doc.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert (ROOT / "docs" / "rules.md").read_text() == gen.render(), (
        "docs/rules.md is stale: run scripts/gen_rules_doc.py"
    )
