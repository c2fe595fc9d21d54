"""Which response rules apply to an alert, in file order, honouring `continue`."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from lanner.services.respond.alert import Alert, parse_priority
from lanner.services.respond.rules import FieldCondition, Match, ResponseRule

_GLOB_CHARS = frozenset("*?[")


def _text(value: Any) -> str | None:
    """Compare field values as text, the way they appear in Falco's output."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _name_matches(pattern: str, name: str) -> bool:
    if _GLOB_CHARS & set(pattern):
        return fnmatchcase(name, pattern)
    return pattern == name


def _one_value(cond: FieldCondition, value: Any) -> bool:
    text = _text(value)
    if cond.op == "eq":
        return text == _text(cond.value)
    if cond.op == "ne":
        return text != _text(cond.value)
    if cond.op == "in":
        return text in {_text(v) for v in cond.value}
    if cond.op == "not_in":
        return text not in {_text(v) for v in cond.value}
    if cond.op == "glob":
        return text is not None and fnmatchcase(text, cond.value)
    raise ValueError(f"unknown operator {cond.op}")


def condition_holds(cond: FieldCondition, alert: Alert) -> bool:
    """Whether one output-field condition holds; a list field holds if any element does
    (for `ne`/`not_in`: if no element violates it)."""
    present = cond.field in alert.output_fields and alert.output_fields[cond.field] is not None
    if cond.op == "exists":
        return present is cond.value
    value = alert.output_fields.get(cond.field)
    if isinstance(value, list):
        if cond.op in ("ne", "not_in"):
            return all(_one_value(cond, v) for v in value)
        return any(_one_value(cond, v) for v in value)
    return _one_value(cond, value)


def _priority_ok(spec: tuple[str, str], priority: str) -> bool:
    op, wanted = spec
    # ">= Warning" means "at least as severe as Warning".
    have, want = parse_priority(priority), parse_priority(wanted)
    return {
        ">=": have.at_least(want),
        ">": have.more_severe_than(want),
        "<=": want.at_least(have),
        "<": want.more_severe_than(have),
        "==": have is want,
    }[op]


def matches(match: Match, alert: Alert) -> bool:
    """Whether an alert satisfies every part of a rule's `match`."""
    if match.rules:
        if match.exact_rules:
            if alert.rule not in match.rules:
                return False
        elif not any(_name_matches(p, alert.rule) for p in match.rules):
            return False
    if match.priority is not None and not _priority_ok(match.priority, alert.priority):
        return False
    if match.source and alert.source not in match.source:
        return False
    tags = set(alert.tags)
    if match.tags and not set(match.tags) <= tags:
        return False
    if match.tags_any and not set(match.tags_any) & tags:
        return False
    if match.tag_groups and not any(set(g) <= tags for g in match.tag_groups):
        return False
    if match.field_groups and not any(
        all(condition_holds(c, alert) for c in group) for group in match.field_groups
    ):
        return False
    return all(condition_holds(c, alert) for c in match.output_fields)


def select(rules: list[ResponseRule], alert: Alert) -> list[ResponseRule]:
    """The rules to run for an alert: every match in order, up to the first matching rule
    whose `continue` is false."""
    chosen: list[ResponseRule] = []
    for rule in rules:
        if matches(rule.match, alert):
            chosen.append(rule)
            if not rule.continue_:
                break
    return chosen
