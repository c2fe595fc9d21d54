"""One event cannot stop detection: a field, condition or output that raises on one event
is counted and logged once per rule, the other rules still match it, and later events are
evaluated as usual (issue 18, item 1). Strings that are not valid UTF-8 render as U+FFFD.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
import pytest

from lanner.engine.engine import Engine
from lanner.engine.fields import Field, FieldType
from lanner.engine.formatter import to_json_value, to_text
from lanner.engine.utf8 import valid_utf8
from lanner.sources.memory import dict_field, dict_source

RULES = """
- rule: Fragile
  desc: reads a field that raises on hostile events
  condition: evt.type = open and fragile.value = x
  output: fragile %fragile.value
  priority: WARNING
- rule: Sturdy
  desc: matches every open
  condition: evt.type = open and proc.name exists
  output: sturdy %proc.name %fragile.value
  priority: NOTICE
"""


def _fragile(event: dict[str, Any], _arg: Any) -> Any:
    if event.get("hostile"):
        raise ValueError("hostile event")
    return event.get("fragile.value")


def _engine() -> Engine:
    source = dict_source(
        "syscall",
        [dict_field("proc.name"), Field("fragile.value", FieldType.STRING, "raises", _fragile)],
        event_types=["open"],
    )
    engine = Engine([source], hostname="h")
    engine.ruleset.match_all = True
    outcome = engine.load_rules(contents=[("rules.yaml", RULES)])
    assert outcome.successful, outcome.results
    engine.ruleset.match_all = True
    engine.ruleset.reindex()
    return engine


def test_a_raising_condition_skips_that_rule_only_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = _engine()
    hostile = {"evt.type": "open", "proc.name": "cat", "hostile": True}
    with caplog.at_level(logging.ERROR, logger="lanner.engine"):
        for _ in range(3):
            alerts = engine.process(hostile, "syscall")
            # the other rule still matches; the raising field renders as <NA>
            assert [a.rule for a in alerts] == ["Sturdy"]
            assert alerts[0].message == "sturdy cat <NA>"
    assert engine.errors.counts[("Fragile", "condition")] == 3
    # the raising field of Sturdy's output was counted too (the alert kept, <NA> printed)
    assert engine.errors.counts[("Sturdy", "output")] == 3
    logged = [r for r in caplog.records if "Fragile" in r.getMessage()]
    assert len(logged) == 1 and "ValueError" in logged[0].getMessage()
    # a later, ordinary event is evaluated by both rules
    calm = {"evt.type": "open", "proc.name": "cat", "fragile.value": "x"}
    assert [a.rule for a in engine.process(calm, "syscall")] == ["Fragile", "Sturdy"]


def test_error_counts_survive_a_reload() -> None:
    engine = _engine()
    engine.process({"evt.type": "open", "proc.name": "a", "hostile": True}, "syscall")
    assert engine.load_rules(contents=[("rules.yaml", RULES)]).successful
    engine.process({"evt.type": "open", "proc.name": "a", "hostile": True}, "syscall")
    assert engine.errors.counts[("Fragile", "condition")] == 2


def test_an_output_that_cannot_be_rendered_still_alerts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = _engine()

    def boom(*_a: Any) -> Any:
        raise RuntimeError("renderer broke")

    rule = engine.ruleset.get("Sturdy")
    assert rule is not None
    monkeypatch.setattr(type(rule.template), "render", boom)
    alerts = engine.process({"evt.type": "open", "proc.name": "cat"}, "syscall")
    assert [a.rule for a in alerts] == ["Sturdy"]
    assert "output not rendered: RuntimeError" in alerts[0].message
    assert engine.errors.counts[("Sturdy", "output")] == 1
    orjson.loads(alerts[0].to_json())


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"/tmp/rel\xff", "/tmp/rel\ufffd"),
        (b"a\x80z", "a\ufffdz"),  # each invalid byte alone; valid neighbours kept
        (b"\xe2\x82", "\ufffd"),  # a truncated sequence
        ("caf\u00e9".encode(), "caf\u00e9"),  # valid UTF-8 unchanged
    ],
)
def test_non_utf8_bytes_render_as_replacement_characters(raw: bytes, shown: str) -> None:
    value = raw.decode("utf-8", "surrogateescape")  # as event strings are decoded
    assert to_text(value) == shown
    assert to_json_value(value) == shown
    assert to_json_value([value]) == [shown]
    assert to_text([value, value]) == f"({shown},{shown})"
    orjson.dumps(to_json_value({"k": value}))


def test_lone_surrogates_and_huge_integers_are_made_json_safe() -> None:
    assert valid_utf8("x\ud800y") == "x\ufffdy"
    assert to_json_value(2**70) == str(2**70)
    assert to_json_value(-(2**63)) == -(2**63)
    orjson.dumps([to_json_value(2**64), to_json_value("\udcff")])


def test_alert_with_hostile_strings_renders_as_text_and_json() -> None:
    engine = _engine()
    name = b"rel\xff".decode("utf-8", "surrogateescape")
    (alert,) = engine.process({"evt.type": "open", "proc.name": name}, "syscall")
    assert alert.output.encode("utf-8").endswith("sturdy rel\ufffd <NA>".encode())
    doc = orjson.loads(alert.to_json())
    assert doc["output_fields"]["proc.name"] == "rel\ufffd"
