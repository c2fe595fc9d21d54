"""Which rules an action proves: its own rule, and those ``rule_map.yaml`` (shipped) and
the user's map files list for it (data the user reads and extends)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml

from lanner.services.generate.action import Action

SHIPPED = Path(__file__).with_name("rule_map.yaml")


class RuleMapError(ValueError):
    """A map file that is not ``action: [rule, ...]``; the message names file and item."""


def load_map(extra: Iterable[str | Path] = ()) -> dict[str, list[str]]:
    """The shipped map, then each extra file's entries added to it."""
    out: dict[str, list[str]] = {}
    for path in [SHIPPED, *map(Path, extra)]:
        try:
            doc = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise RuleMapError(f"{path}: {exc}") from None
        if not isinstance(doc, dict):
            raise RuleMapError(f"{path}: expected a mapping of action name to rule names")
        for name, rules in doc.items():
            if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
                raise RuleMapError(f"{path}: {name}: expected a list of rule names")
            out.setdefault(str(name), [])
            out[str(name)] += [r for r in rules if r not in out[str(name)]]
    return out


def proves(action: Action, rule_map: dict[str, list[str]]) -> tuple[str, ...]:
    """The rules ``action`` proves, its own first."""
    extra = [r for r in rule_map.get(action.name, []) if r != action.rule]
    return (action.rule, *extra)
