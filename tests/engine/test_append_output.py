"""Falco's append_output: extra text and fields for the outputs of matching rules."""

from __future__ import annotations

import pytest

from lanner.engine.append_output import parse_append_output
from lanner.engine.engine import Engine
from lanner.engine.fields import FieldType
from lanner.sources.memory import dict_field, dict_source

RULES = """
- rule: Shell
  desc: d
  condition: proc.name = bash
  output: shell %proc.name
  priority: NOTICE
  tags: [container, shell]
- rule: Cat
  desc: d
  condition: proc.name = cat
  output: cat %proc.name
  priority: NOTICE
  tags: [filesystem]
"""


def _engine(value: object) -> Engine:
    source = dict_source(
        "syscall",
        [
            dict_field("proc.name"),
            dict_field("proc.pid", FieldType.NUMBER),
            dict_field("user.name"),
        ],
    )
    engine = Engine([source], hostname="h", append_output=parse_append_output(value))
    outcome = engine.load_rules(contents=[("r.yaml", RULES)])
    assert outcome.successful, [r.as_text(True) for r in outcome.results]
    return engine


EVENT = {"proc.name": "bash", "proc.pid": 42, "user.name": "alice"}


def test_extra_output_and_fields_for_matching_rules_only() -> None:
    engine = _engine(
        [
            {
                "match": {"tags": ["container"]},
                "extra_output": "pid=%proc.pid",
                "extra_fields": ["user.name", {"who": "%user.name/%proc.pid"}],
            },
        ]
    )
    (alert,) = engine.process(EVENT, "syscall")
    assert alert.message == "shell bash pid=42"
    assert alert.output_fields["user.name"] == "alice"
    assert alert.output_fields["who"] == "alice/42"
    assert alert.output_fields["proc.pid"] == 42
    (other,) = engine.process({**EVENT, "proc.name": "cat"}, "syscall")
    assert other.message == "cat cat"
    assert "who" not in other.output_fields


def test_match_by_rule_and_source() -> None:
    engine = _engine(
        [
            {"match": {"rule": "Cat", "source": "syscall"}, "extra_output": "(cat)"},
            {"match": {"source": "k8s_audit"}, "extra_output": "(never)"},
        ]
    )
    assert engine.process(EVENT, "syscall")[0].message == "shell bash"
    assert engine.process({**EVENT, "proc.name": "cat"}, "syscall")[0].message == "cat cat (cat)"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"x": 1}, "append_output: expected a list"),
        ([{"match": []}], r"append_output\[0\].match: expected a mapping"),
        ([{"extra_fields": [[1]]}], r"append_output\[0\].extra_fields\[0\]"),
        ([{"match": {"tags": "container"}}], r"append_output\[0\].match.tags"),
    ],
)
def test_bad_shapes_name_the_key(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_append_output(value)
