"""Falco's rules description (``-L``/``-l`` with ``json_output``): what each loaded rule,
macro and list is, as written and as compiled.

The ``info`` blocks are what the rules files say; ``details`` carry what Lanner knows of
the compiled form: the macros and lists a condition names, the fields and operators of
the expanded condition, the event types, the output's fields, the exception names,
fields and operators. Falco's ``condition_compiled`` and ``plugins`` are not given.
"""

from __future__ import annotations

import re
from typing import Any

from lanner.engine import ast, parser
from lanner.engine.collector import Collector, ExceptionEntry, RuleInfo
from lanner.engine.expand import walk
from lanner.engine.rules import Rule, Ruleset
from lanner.exceptions import ConditionSyntaxError

_OUTPUT_FIELD = re.compile(r"%([A-Za-z_][\w.]*(?:\[[^\]]*\])?)")


def _entries(entry: ExceptionEntry | None) -> list[str]:
    if entry is None:
        return []
    if not entry.is_list:
        return [entry.item] if entry.item else []
    return [item for sub in entry.items for item in _entries(sub)]


def _operand_field(node: Any) -> str | None:
    while isinstance(node, ast.Transformer):
        node = node.child
    if isinstance(node, ast.FieldRef):
        return node.name if node.arg is None else f"{node.name}[{node.arg}]"
    return None


def _references(condition: str, col: Collector) -> tuple[list[str], list[str]]:
    """The macros and lists a condition names directly (before expansion)."""
    try:
        tree = parser.parse_condition(condition)
    except ConditionSyntaxError:
        return [], []
    macros: set[str] = set()
    lists: set[str] = set()
    for node in walk(tree):
        if isinstance(node, ast.Identifier) and node.name in col.macros:
            macros.add(node.name)
        elif isinstance(node, ast.BinaryCheck) and isinstance(node.right, ast.ListValue):
            lists.update(v for v in node.right.values if v in col.lists)
    return sorted(macros), sorted(lists)


def _compiled(expr: ast.Expr | None) -> tuple[list[str], list[str]]:
    """The fields and operators of an expanded condition."""
    fields: set[str] = set()
    ops: set[str] = set()
    if expr is None:
        return [], []
    for node in walk(expr):
        if isinstance(node, ast.UnaryCheck | ast.BinaryCheck):
            ops.add(node.op)
            for side in (node.left, getattr(node, "right", None)):
                name = _operand_field(side)
                if name:
                    fields.add(name)
    return sorted(fields), sorted(ops)


def _rule(rule: Rule, info: RuleInfo, col: Collector) -> dict[str, Any]:
    macros, lists = _references(info.condition, col)
    fields, ops = _compiled(rule.expr)
    comps = [c for ex in info.exceptions for c in _entries(ex.comps)]
    if any(ex.comps is None for ex in info.exceptions):
        comps.append("=")  # an exception without comps compares with =
    return {
        "info": {
            "name": info.name,
            "condition": info.condition,
            "priority": info.priority.label,
            "output": info.output,
            "description": info.desc,
            "enabled": info.enabled,
            "source": info.source,
            "capture": info.capture,
            "capture_duration": info.capture_duration,
            "tags": sorted(info.tags),
        },
        "details": {
            "macros": macros,
            "lists": lists,
            "condition_operators": ops,
            "condition_fields": fields,
            "exception_fields": sorted(rule.exception_fields),
            "exception_names": [ex.name for ex in info.exceptions],
            "exception_operators": sorted(set(comps)),
            "events": sorted(rule.event_types or ()),
            "output_compiled": rule.output,
            "output_fields": sorted(set(_OUTPUT_FIELD.findall(rule.output))),
        },
    }


def describe(col: Collector, ruleset: Ruleset, only: str | None = None) -> dict[str, Any]:
    """Falco's ``describe_rule`` document for every loaded item, or for the rule ``only``
    (KeyError when it is not loaded)."""
    loaded = [(rule, col.rules[rule.name]) for rule in ruleset if rule.name in col.rules]
    if only is not None:
        found = [(r, i) for r, i in loaded if r.name == only]
        if not found:
            raise KeyError(only)
        return {"rules": [_rule(r, i, col) for r, i in found]}
    used_macros: set[str] = set()
    used_lists: set[str] = set()
    for _rule_obj, info in loaded:
        macros, lists = _references(info.condition, col)
        used_macros.update(macros)
        used_lists.update(lists)
    macros_out = []
    for m in col.macros.values():
        refs, lists = _references(m.condition, col)
        used_macros.update(refs)
        used_lists.update(lists)
    for m in col.macros.values():
        refs, lists = _references(m.condition, col)
        macros_out.append(
            {
                "info": {"name": m.name, "condition": m.condition},
                "details": {"used": m.name in used_macros, "macros": refs, "lists": lists},
            }
        )
    for name, li in col.lists.items():
        used_lists.update(i for i in li.items if i in col.lists and i != name)
    lists_out = []
    for name, li in col.lists.items():
        refs = sorted(i for i in li.items if i in col.lists and i != name)
        items = [i for i in li.items if i not in refs]
        compiled = [x for i in li.items for x in (col.lists[i].items if i in refs else [i])]
        lists_out.append(
            {
                "info": {"name": name, "items": items},
                "details": {"used": name in used_lists, "lists": refs, "items_compiled": compiled},
            }
        )
    versions = [r.version for r in col.engine_requirements]
    return {
        "required_engine_version": ".".join(map(str, max(versions))) if versions else "0.0.0",
        "required_plugin_versions": [
            {
                "name": req.alternatives[0][0],
                "version": req.alternatives[0][1],
                "alternatives": [{"name": n, "version": v} for n, v in req.alternatives[1:]],
            }
            for req in col.plugin_requirements
            if req.alternatives
        ],
        "rules": [_rule(r, i, col) for r, i in loaded],
        "macros": macros_out,
        "lists": lists_out,
    }
