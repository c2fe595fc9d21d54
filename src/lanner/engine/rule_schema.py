"""A JSON Schema of Falco rules files, for YAML editors and ``lanner run --rule-schema``.

Built from the reader's own tables (the keys each item kind accepts, what ``append`` and
``override`` may touch), so it says what the loader reads.
"""

from __future__ import annotations

from typing import Any

from lanner.engine.reader import KNOWN_KEYS, RULE_APPENDABLE, RULE_REPLACEABLE

_PRIORITIES = (
    "emergency", "alert", "critical", "error", "warning", "notice", "informational", "info",
    "debug",
)  # fmt: skip


def any_case(words: tuple[str, ...]) -> dict[str, str]:
    """A JSON Schema string matching any of ``words`` in any case (JSON Schema regexes
    have no case-insensitive flag)."""
    alts = ["".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in w) for w in words]
    return {"type": "string", "pattern": f"^({'|'.join(alts)})$"}


PRIORITY = {**any_case(_PRIORITIES), "description": "a rule priority; case does not matter"}

_STR = {"type": "string"}
_STRLIST = {"type": "array", "items": _STR}
_OVERRIDE_VERB = {"type": "string", "enum": ["append", "replace"]}

_VALUES: dict[str, Any] = {
    "list": _STR,
    "items": {"type": "array", "items": {"type": ["string", "number", "boolean"]}},
    "macro": _STR,
    "rule": _STR,
    "condition": _STR,
    "output": _STR,
    "desc": _STR,
    "priority": PRIORITY,
    "source": _STR,
    "tags": _STRLIST,
    "enabled": {"type": "boolean"},
    "append": {"type": "boolean", "description": "deprecated: use override"},
    "warn_evttypes": {"type": "boolean"},
    "skip-if-unknown-filter": {"type": "boolean"},
    "capture": {"type": "boolean"},
    "capture_duration": {"type": "integer", "minimum": 0},
    "exceptions": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": _STR,
                "fields": {"type": ["array", "string"], "items": _STR},
                "comps": {"type": ["array", "string"], "items": _STR},
                "values": {"type": "array"},
            },
        },
    },
}


def _item(kind: str, appendable: tuple[str, ...]) -> dict[str, Any]:
    keys = sorted(KNOWN_KEYS[kind])
    props = {k: _VALUES[k] for k in keys if k != "override"}
    props["override"] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {k: _OVERRIDE_VERB for k in appendable},
    }
    return {
        "type": "object",
        "required": [kind],
        "additionalProperties": False,
        "properties": props,
    }


def rule_schema() -> dict[str, Any]:
    """The schema: a rules file is a list of lists, macros, rules and version items."""
    rule_keys = tuple(dict.fromkeys((*RULE_APPENDABLE, *RULE_REPLACEABLE)))
    items = [
        {
            "type": "object",
            "required": ["required_engine_version"],
            "additionalProperties": False,
            "properties": {
                "required_engine_version": {
                    "type": ["string", "integer"],
                    "description": "an integer (old form, 0.N.0) or x.y.z",
                }
            },
        },
        {
            "type": "object",
            "required": ["required_plugin_versions"],
            "additionalProperties": False,
            "properties": {
                "required_plugin_versions": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "version"],
                        "properties": {
                            "name": _STR,
                            "version": _STR,
                            "alternatives": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {"name": _STR, "version": _STR},
                                },
                            },
                        },
                    },
                }
            },
        },
        _item("list", ("items",)),
        _item("macro", ("condition",)),
        _item("rule", rule_keys),
    ]
    return {
        "$schema": "http://json-schema.org/draft-06/schema#",
        "title": "Falco rules file (as Lanner loads it)",
        "type": "array",
        "items": {"anyOf": items},
    }
