"""Falco Talon's rules format, read as is and turned into Lanner's response rules.

A Talon file mixes named, reusable `- action:` blocks (with an `actionner:`) and `- rule:`
items whose `actions` name those blocks or give an `actionner` of their own. Items with the
same name in later files extend or override earlier ones, as Talon does. What Talon's
format means (from its documentation and `internal/rules`):

- `match.rules`: exact rule names; `match.priority`: `[<|>][=]Priority`, a bare priority
  means equal; `match.source`: one source; `match.tags`: strings of comma-separated tags,
  all of one string required, any string enough; `match.output_fields`: strings of
  comma-separated `key=value` / `key!=value`, all of one string required, any string enough.
- rules all run when they match, until one whose `continue` is false; actions run in
  order until one fails (unless `ignore_errors`) or ends the rule (`continue: false`, or
  the actionner's own default, e.g. `kubernetes:terminate` ends it).
- a rule's action inherits the named block's actionner, description, continue,
  ignore_errors, additional_contexts and output; parameters merge (the rule's scalars win,
  lists are joined, the block's mapping keys win).

Anything else is refused with file:line, never skipped.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from lanner.exceptions import AlertError
from lanner.services.respond.actions import ACTIONS, TALON, TALON_NOT_AVAILABLE
from lanner.services.respond.alert import normalize_priority
from lanner.services.respond.artifacts import OUTPUT_TARGETS, check_output
from lanner.services.respond.rules import (
    ActionSpec,
    FieldCondition,
    FileReport,
    Match,
    ResponseRule,
)

_BLOCK_KEYS = {
    "action",
    "description",
    "actionner",
    "parameters",
    "continue",
    "ignore_errors",
    "additional_contexts",
    "output",
}
_RULE_KEYS = {"rule", "description", "continue", "dry_run", "actions", "notifiers", "match"}
_MATCH_KEYS = {"rules", "priority", "source", "tags", "output_fields"}
_CONTEXTS = ("k8snode", "aws")
_PRIORITY = re.compile(r"^(<|>)?(=)?([A-Za-z]*)$")
_TAG = re.compile(r"^[a-z_0-9.]*[a-z0-9]$", re.IGNORECASE)
_FIELD = re.compile(r"^([a-z0-9.\[\]]+)(!=|=)(.*)$", re.IGNORECASE | re.DOTALL)
_LANNER_ACTION = re.compile(r"^[a-z]+:[a-z-]+$")


def is_talon(doc: list[Any]) -> bool:
    """Whether a file's items are in Talon's format rather than Lanner's."""
    for item in doc:
        if not isinstance(item, dict):
            continue
        if "action" in item and "rule" not in item:
            return True  # a named action block: only Talon has them
        if "rule" not in item:
            continue
        if "notifiers" in item or "description" in item:
            return True
        match = item.get("match")
        if isinstance(match, dict) and isinstance(match.get("output_fields"), list):
            return True
        for action in item.get("actions") or []:
            if not isinstance(action, dict):
                continue
            if "actionner" in action or "output" in action or "additional_contexts" in action:
                return True
            name = action.get("action")
            if (
                isinstance(name, str)
                and name not in ACTIONS
                and not _LANNER_ACTION.match(name)
                and (name != name.lower() or " " in name)
            ):
                return True  # a block's name ("Terminate Pod"), not an action type
    return False


@dataclass
class _Item:
    """One Talon item (block or rule) after merging its redefinitions."""

    data: dict[str, Any]
    file: str
    line: int
    position: tuple[int, int]
    used: bool = False
    extended_at: list[str] = field(default_factory=list)


def _flag(value: Any) -> bool | str | None:
    """Talon's true/false settings: a bool, the strings "true"/"false", or absent (None);
    anything else comes back as an error message."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    return f"must be true or false, not {value!r}"


def _merge_params(base: dict[str, Any], extra: dict[str, Any], extra_wins: bool) -> None:
    """Talon's parameter merge: scalars replaced (or kept), lists joined, mappings merged."""
    for key, value in extra.items():
        if value is None:
            continue
        current = base.get(key)
        if isinstance(value, list):
            base[key] = [*(current if isinstance(current, list) else []), *value]
            if not extra_wins and isinstance(current, list):
                base[key] = [*value, *current]
        elif isinstance(value, dict):
            merged = dict(current) if isinstance(current, dict) else {}
            merged.update(value)
            base[key] = merged
        elif extra_wins or current is None:
            base[key] = value


def _redefine_block(into: dict[str, Any], later: dict[str, Any]) -> None:
    """A block defined again (e.g. rules_override.yaml) overrides and extends."""
    for key in ("actionner", "continue", "description", "ignore_errors"):
        if later.get(key) not in (None, ""):
            into[key] = later[key]
    into["additional_contexts"] = [
        *(into.get("additional_contexts") or []),
        *(later.get("additional_contexts") or []),
    ]
    params = dict(into.get("parameters") or {})
    _merge_params(params, dict(later.get("parameters") or {}), extra_wins=True)
    into["parameters"] = params
    if later.get("output"):
        out = dict(into.get("output") or {})
        out.setdefault("target", later["output"].get("target"))
        out_params = dict(out.get("parameters") or {})
        _merge_params(out_params, dict(later["output"].get("parameters") or {}), True)
        out["parameters"] = out_params
        into["output"] = out


def _redefine_rule(into: dict[str, Any], later: dict[str, Any]) -> None:
    """A rule defined again: settings replaced, lists and actions appended (as Talon)."""
    for key in ("continue", "dry_run", "description"):
        if later.get(key) not in (None, ""):
            into[key] = later[key]
    into["notifiers"] = [*(into.get("notifiers") or []), *(later.get("notifiers") or [])]
    into["actions"] = [*(into.get("actions") or []), *(later.get("actions") or [])]
    m = dict(into.get("match") or {})
    lm = later.get("match") or {}
    for key in ("output_fields", "rules", "tags"):
        m[key] = [*(m.get(key) or []), *(lm.get(key) or [])]
    m["priority"] = lm.get("priority")
    m["source"] = lm.get("source")
    into["match"] = m


def translate(
    docs: list[tuple[int, str, list[Any]]],
    problems: list[str],
    reports: dict[str, FileReport],
) -> list[tuple[tuple[int, int], ResponseRule]]:
    """Every Talon file's items, merged across files, as (position, ResponseRule)."""
    blocks: dict[str, _Item] = {}
    rules: dict[str, _Item] = {}
    for file_index, filename, doc in docs:
        for index, raw in enumerate(doc):
            line = getattr(raw, "line", 0)
            where = f"{filename}:{line}"
            if not isinstance(raw, dict) or not ({"rule", "action"} & set(raw)):
                problems.append(f"{where}: item {index + 1} is neither '- rule:' nor '- action:'")
                continue
            kind, keys, table = (
                ("rule", _RULE_KEYS, rules) if "rule" in raw else ("action", _BLOCK_KEYS, blocks)
            )
            name = raw.get(kind)
            if not isinstance(name, str) or not name.strip():
                problems.append(f"{where}: '{kind}' must be a non-empty string")
                continue
            for key in sorted(set(raw) - keys):
                problems.append(f"{where}: {kind} '{name}': unknown key '{key}'")
            data = copy.deepcopy(dict(raw))
            if name in table:
                earlier = table[name]
                (_redefine_rule if kind == "rule" else _redefine_block)(earlier.data, data)
                earlier.extended_at.append(where)
                reports[filename].notes.append(
                    f"line {line}: {kind} '{name}' extends the one at {earlier.file}:{earlier.line}"
                )
            else:
                table[name] = _Item(data, filename, line, (file_index, index))
    out: list[tuple[tuple[int, int], ResponseRule]] = []
    for name, item in rules.items():
        report = reports[item.file]
        rule = _rule(name, item, blocks, problems, report.notes)
        if rule is not None:
            report.rules += 1
            report.actions += len(rule.actions)
            out.append((item.position, rule))
    for name, block in blocks.items():
        report = reports[block.file]
        if not block.used:
            actionner = block.data.get("actionner")
            why = ""
            if actionner in TALON_NOT_AVAILABLE:
                why = f"; its actionner {actionner} is not available in Lanner (a rule using it"
                why += " would be refused)"
            report.notes.append(f"line {block.line}: action '{name}' is used by no rule{why}")
    return out


def _rule(
    name: str, item: _Item, blocks: dict[str, _Item], problems: list[str], notes: list[str]
) -> ResponseRule | None:
    data = item.data
    before = len(problems)

    def bad(msg: str, line: int | None = None) -> None:
        problems.append(f"{item.file}:{line or item.line}: rule '{name}': {msg}")

    flags: dict[str, bool | None] = {}
    for key in ("continue", "dry_run"):
        value = _flag(data.get(key))
        if isinstance(value, str):
            bad(f"'{key}' {value}")
        else:
            flags[key] = value
    notifiers = data.get("notifiers") or []
    if not isinstance(notifiers, list) or not all(isinstance(n, str) for n in notifiers):
        bad("'notifiers' must be a list of notifier names")
        notifiers = []
    else:
        from lanner.services.respond.notifiers import NOTIFIERS

        for n in notifiers:
            if n not in NOTIFIERS:
                bad(f"unknown notifier '{n}' (known: {', '.join(sorted(NOTIFIERS))})")
    match = _match(data.get("match"), bad)
    actions_raw = data.get("actions")
    specs: list[ActionSpec] = []
    if not isinstance(actions_raw, list) or not actions_raw:
        bad("no action specified ('actions' must be a non-empty list)")
    else:
        for raw in actions_raw:
            spec = _action(raw, blocks, bad, item, notes)
            if spec is not None:
                specs.append(spec)
    if len(problems) > before or match is None:
        return None
    return ResponseRule(
        name=name,
        match=match,
        actions=tuple(specs),
        continue_=flags.get("continue") is not False,  # Talon: rules go on unless false
        dry_run=flags.get("dry_run"),
        file=item.file,
        line=item.line,
        notifiers=tuple(notifiers),
        format="talon",
    )


def _strings(value: Any) -> list[str] | None:
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _match(raw: Any, bad: Any) -> Match | None:
    if raw is None:
        return Match(exact_rules=True)
    if not isinstance(raw, dict):
        bad("'match' must be a mapping")
        return None
    line = getattr(raw, "line", None)
    ok = True
    for key in sorted(set(raw) - _MATCH_KEYS):
        bad(f"unknown key 'match.{key}'", line)
        ok = False
    lists: dict[str, list[str]] = {}
    for key in ("rules", "tags", "output_fields"):
        value = _strings(raw.get(key))
        if value is None:
            bad(f"'match.{key}' must be a list of strings", line)
            ok = False
        else:
            lists[key] = value
    source = raw.get("source")
    if source is not None and not isinstance(source, str):
        bad("'match.source' must be a string", line)
        ok = False
    priority = None
    text = raw.get("priority")
    if text not in (None, ""):
        m = _PRIORITY.match(str(text).strip())
        try:
            if m is None or not m.group(3):
                raise AlertError(str(text))
            op = (m.group(1) or "") + (m.group(2) or "")
            priority = (
                op if op in (">", ">=", "<", "<=") else "==",
                normalize_priority(m.group(3)),
            )
        except AlertError:
            bad(f"incorrect priority {text!r} (use e.g. '>=Warning'; bare means equal)", line)
            ok = False
    tag_groups: list[tuple[str, ...]] = []
    for entry in lists.get("tags", []):
        group = tuple(t for t in entry.replace(" ", "").split(",") if t)
        for tag in group:
            if not _TAG.match(tag):
                bad(f"incorrect tag {tag!r}", line)
                ok = False
        tag_groups.append(group)
    field_groups: list[tuple[FieldCondition, ...]] = []
    for entry in lists.get("output_fields", []):
        conditions: list[FieldCondition] = []
        for part in entry.replace(", ", ",").split(","):
            m = _FIELD.match(part.strip())
            if m is None:
                bad(f"incorrect output field condition {part.strip()!r} (key=value or key!=value)")
                ok = False
                continue
            key, op, wanted = m.groups()
            cond = FieldCondition(key, "eq" if op == "=" else "ne", wanted.replace('"', ""))
            conditions.append(cond)
        field_groups.append(tuple(conditions))
    if not ok:
        return None
    return Match(
        rules=tuple(lists.get("rules", ())),
        priority=priority,
        source=(source,) if source else (),
        field_groups=tuple(field_groups),
        tag_groups=tuple(tag_groups),
        exact_rules=True,
    )


def _action(
    raw: Any, blocks: dict[str, _Item], bad: Any, rule: _Item, notes: list[str]
) -> ActionSpec | None:
    line = getattr(raw, "line", None)
    if not isinstance(raw, dict) or not isinstance(raw.get("action"), str):
        bad("each action must be a mapping with 'action: NAME'", line)
        return None
    title = raw["action"]
    for key in sorted(set(raw) - _BLOCK_KEYS):
        bad(f"action '{title}': unknown key '{key}'", line)
        return None
    data = copy.deepcopy(dict(raw))
    block = blocks.get(title)
    if block is not None:
        block.used = True
        named = block.data
        for key in ("description", "actionner", "ignore_errors", "continue"):
            if data.get(key) in (None, "") and named.get(key) not in (None, ""):
                data[key] = named[key]
        if not data.get("additional_contexts") and named.get("additional_contexts"):
            data["additional_contexts"] = list(named["additional_contexts"])
        params = dict(data.get("parameters") or {})
        _merge_params(params, dict(named.get("parameters") or {}), extra_wins=False)
        data["parameters"] = params
        if named.get("output"):
            out = dict(data.get("output") or {})
            if not out.get("target"):
                out["target"] = named["output"].get("target")
            out_params = dict(out.get("parameters") or {})
            _merge_params(out_params, dict(named["output"].get("parameters") or {}), False)
            out["parameters"] = out_params
            data["output"] = out
    actionner = data.get("actionner")
    where = f"action '{title}'"
    if not actionner:
        bad(f"{where}: missing actionner (no '- action: {title}' block defines one)", line)
        return None
    if actionner in TALON_NOT_AVAILABLE:
        bad(f"{where}: actionner {actionner}: {TALON_NOT_AVAILABLE[actionner]}", line)
        return None
    cls = TALON.get(actionner)
    if cls is None:
        known = ", ".join(sorted(TALON))
        bad(f"{where}: unknown actionner {actionner!r} (known: {known})", line)
        return None
    flags = {}
    for key in ("continue", "ignore_errors"):
        value = _flag(data.get(key))
        if isinstance(value, str):
            bad(f"{where}: '{key}' {value}", line)
            return None
        flags[key] = value
    contexts = data.get("additional_contexts") or []
    if not isinstance(contexts, list) or any(c not in _CONTEXTS for c in contexts):
        bad(f"{where}: additional_contexts must list some of {', '.join(_CONTEXTS)}", line)
        return None
    params = data.get("parameters") or {}
    if not isinstance(params, dict):
        bad(f"{where}: 'parameters' must be a mapping", line)
        return None
    params = dict(params)
    for old, new in cls.talon_aliases.items():
        if old in params:
            value = params.pop(old)
            params[new] = [*value, *params.get(new, [])] if isinstance(value, list) else value
            notes.append(
                f"rule '{rule.data['rule']}', action '{title}': parameter '{old}' read as"
                f" '{new}' (its earlier name in Talon)"
            )
    for key, why in cls.talon_noop.items():
        if key in params:
            params.pop(key)
            notes.append(f"rule '{rule.data['rule']}', action '{title}': parameter '{key}': {why}")
    errors = cls.validate(params)
    for problem in errors:
        bad(f"{where} ({actionner}): {problem}", line)
    output = data.get("output")
    if output is not None:
        wrong = check_output(output)
        if wrong:
            bad(f"{where}: output: {wrong} (targets: {', '.join(OUTPUT_TARGETS)})", line)
            return None
    if getattr(cls, "requires_output", False) and not output:
        bad(f"{where}: {actionner} needs an 'output' (target and parameters)", line)
        return None
    if errors:
        return None
    cont = flags["continue"]
    return ActionSpec(
        action=actionner,
        parameters=cls.with_defaults(params),
        continue_=cls.talon_continue if cont is None else bool(cont),
        ignore_errors=bool(flags["ignore_errors"]),
        line=line or rule.line,
        registry="talon",
        title=title,
        output=dict(output) if output else None,
        contexts=tuple(contexts),
    )
