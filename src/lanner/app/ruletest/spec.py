"""Rule test specs: which rules, which events, which alerts are expected.

A spec file is YAML::

    rules: [default]                 # rules files relative to the spec; `default` = Lanner's
    tests:
      - name: cat reading /etc/shadow is reported
        events:                      # inline events: the field values the rules see
          - {evt.type: openat, evt.dir: "<", fd.typechar: f, evt.is_open_read: true,
             fd.name: /etc/shadow, proc.name: cat}
        expect:
          - rule: Sensitive file read by untrusted program
            priority: Warning        # optional
            output: [file=/etc/shadow]   # optional substrings of the output line
            count: 1                 # optional; 0 asserts the rule does not fire
      - name: sshd may read it
        events: [...]
        expect: none                 # no alert at all
      - name: replay a capture
        capture: shadow.scap         # a .scap or JSON-lines file, read by the real source
        expect: [...]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lanner.exceptions import SpecError

DEFAULT_RULES = "default"


@dataclass(slots=True)
class Expectation:
    """One expected (or forbidden, with count 0) alert."""

    rule: str
    priority: str | None = None
    output: list[str] = field(default_factory=list)
    count: int | None = None


@dataclass(slots=True)
class TestCase:
    """One named test of a spec."""

    name: str
    source: str
    events: list[dict[str, Any]]
    capture: Path | None
    expect: list[Expectation]
    expect_none: bool
    line: int


@dataclass(slots=True)
class Spec:
    """A spec file: its rules and its tests."""

    path: Path
    rules: list[str]
    tests: list[TestCase]
    match_all: bool = True


class _LineLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML: no type information
    """Keeps the line of every mapping in a ``__line__`` key."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping: dict[str, Any] = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _strip(v) for k, v in value.items() if k != "__line__"}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _expectations(raw: Any, where: str) -> tuple[list[Expectation], bool]:
    if raw is None or raw == "none" or raw == []:
        return [], True
    if not isinstance(raw, list):
        raise SpecError(f"{where}: 'expect' must be a list of alerts or 'none'")
    out = []
    for item in raw:
        if isinstance(item, str):
            out.append(Expectation(item))
            continue
        if not isinstance(item, dict) or "rule" not in item:
            raise SpecError(f"{where}: each expectation needs a 'rule'")
        output = item.get("output") or []
        if isinstance(output, str):
            output = [output]
        count = item.get("count")
        if count is not None and (not isinstance(count, int) or count < 0):
            raise SpecError(f"{where}: 'count' must be a non-negative integer")
        out.append(
            Expectation(str(item["rule"]), item.get("priority"), [str(o) for o in output], count)
        )
    return out, False


def load_spec(path: str | Path) -> Spec:
    """Read and check a spec file."""
    p = Path(path)
    try:
        doc = yaml.load(p.read_text(encoding="utf-8"), Loader=_LineLoader)
    except OSError as exc:
        raise SpecError(f"{p}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{p}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise SpecError(f"{p}: a spec must be a mapping with 'rules' and 'tests'")
    rules = doc.get("rules") or [DEFAULT_RULES]
    if isinstance(rules, str):
        rules = [rules]
    resolved = [r if r == DEFAULT_RULES else str((p.parent / r).resolve()) for r in rules]
    tests_raw = doc.get("tests")
    if not isinstance(tests_raw, list) or not tests_raw:
        raise SpecError(f"{p}: 'tests' must be a non-empty list")
    tests = []
    for i, t in enumerate(tests_raw):
        if not isinstance(t, dict):
            raise SpecError(f"{p}: test #{i + 1} must be a mapping")
        line = t.get("__line__", 0)
        name = str(t.get("name") or f"test #{i + 1}")
        where = f"{p}:{line}: test '{name}'"
        events = _strip(t.get("events") or [])
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            raise SpecError(f"{where}: 'events' must be a list of mappings")
        capture = t.get("capture")
        if not events and not capture:
            raise SpecError(f"{where}: give 'events' or a 'capture' file")
        expect, none = _expectations(_strip(t.get("expect")), where)
        tests.append(
            TestCase(
                name=name,
                source=str(t.get("source", "syscall")),
                events=events,
                capture=(p.parent / capture) if capture else None,
                expect=expect,
                expect_none=none,
                line=line,
            )
        )
    match_all = str(doc.get("rule_matching", "all")) == "all"
    return Spec(p, resolved, tests, match_all)
