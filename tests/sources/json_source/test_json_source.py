"""The generic json source: json.value[/pointer], json.obj, readers of JSON lines and files."""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import Any

import pytest

from lanner.engine.engine import Engine
from lanner.sources.json_source import (
    JsonEvent,
    LineError,
    json_source,
    parse_rfc3339,
    read_json_events,
    read_json_text,
)
from lanner.sources.json_source.pointer import MISSING, resolve, split_pointer

DOC = {"a": {"b/c": 1, "m~n": [10, {"x": None}]}, "s": "text", "t": True, "": "empty-key"}


def value(pointer: str, doc: Any = DOC) -> Any:
    spec = json_source()
    found = spec.fields.resolve("json.value")
    assert found is not None
    return found[0].bind(pointer)(JsonEvent(doc, 5, 1))


@pytest.mark.parametrize(
    ("pointer", "expected"),
    [
        ("/s", "text"),
        ("/t", "true"),
        ("/a/b~1c", "1"),
        ("/a/m~0n/0", "10"),
        ("/a/m~0n/1", '{"x":null}'),
        ("/a/m~0n/1/x", "null"),
        ("/a/m~0n/2", None),
        ("/a/m~0n/-", None),
        ("/nope", None),
        ("/s/x", None),
        ("/", "empty-key"),
        ("s", "text"),  # a missing leading slash is tolerated, as the plugin does
    ],
)
def test_json_value_pointers(pointer: str, expected: Any) -> None:
    assert value(pointer) == expected


def test_pointer_helpers() -> None:
    assert split_pointer("/a~1b/c~0d") == ("a/b", "c~d")
    assert resolve([1, [2, 3]], ("1", "0")) == 2
    assert resolve({"a": 1}, ("a", "b")) is MISSING


def test_rules_on_the_json_source() -> None:
    engine = Engine([json_source()], hostname="h")
    rules = """
- rule: Payment failed
  desc: d
  condition: json.value[/event] = payment and json.value[/amount] > 0 and json.value[/ok] = false
  output: payment failed (user=%json.value[/user/name] amount=%json.value[/amount] evt=%evt.num)
  priority: WARNING
  source: json
- rule: Anything from jevt
  desc: d
  condition: jevt.value[/event] = login
  output: login %jevt.value[/user/name] at %json.rawtime
  priority: INFO
  source: json
"""
    outcome = engine.load_rules(contents=[("app_rules.yaml", rules)])
    assert outcome.successful, [str(d) for r in outcome.results for d in r.errors]
    events = list(
        read_json_text(
            b'{"event": "payment", "amount": "12", "ok": false, "user": {"name": "ann"}}\n'
            b'{"event": "payment", "amount": "12", "ok": true, "user": {"name": "ann"}}\n'
            b'{"event": "login", "user": {"name": "bob"}}\n'
        )
    )
    out = []
    for i, (_line, doc) in enumerate(events, 1):
        out += [a.message for a in engine.process(JsonEvent(doc, 1000 + i, i), "json")]
    assert out == ["payment failed (user=ann amount=12 evt=1)", "login bob at 1003"]


def test_json_obj_is_indented_text() -> None:
    spec = json_source()
    found = spec.fields.resolve("json.obj")
    assert found is not None
    text = found[0].bind(None)(JsonEvent({"a": [1, "é"]}, 0))
    assert text == '{\n  "a": [\n    1,\n    "é"\n  ]\n}'


def test_read_json_lines_files_streams_and_gzip(tmp_path: Path) -> None:
    plain = tmp_path / "events.jsonl"
    plain.write_bytes(b'{"n": 1}\n\nbroken\n{"n": 2}\n[{"n": 3}, {"n": 4}]\n')
    errors: list[LineError] = []
    events = list(read_json_events(plain, errors.append))
    assert [e.data["n"] for e in events] == [1, 2, 3, 4]
    assert [e.num for e in events] == [1, 2, 3, 4]
    assert all(e.ts > 0 for e in events)
    assert [str(e) for e in errors] == [
        f"{plain}:3: skipped, not JSON: unexpected character, expected a JSON value: "
        "line 1 column 1 (char 0)"
    ]
    zipped = tmp_path / "events.jsonl.gz"
    zipped.write_bytes(gzip.compress(b'{"n": 5}\n'))
    assert [e.data["n"] for e in read_json_events(zipped)] == [5]
    stream = io.BytesIO(b'{\n  "pretty": true\n}\n')
    assert [e.data for e in read_json_events(stream, name="stdin")] == [{"pretty": True}]


def test_rfc3339() -> None:
    assert parse_rfc3339("2026-11-25T10:00:00Z") == 1795600800_000000000
    assert parse_rfc3339("2026-11-25T10:00:00.5Z") == 1795600800_500000000
    assert parse_rfc3339("2026-11-25T11:00:00.123456789123+01:00") == 1795600800_123456789
    assert parse_rfc3339("yesterday") is None
    assert parse_rfc3339(None) is None
