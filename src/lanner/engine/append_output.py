"""Falco's ``append_output``: text and fields added to the outputs of matching rules.

Each entry has an optional ``match`` (``source``, ``tags`` the rule must all have,
``rule`` name), an ``extra_output`` appended to the output line, and ``extra_fields``:
field names (their values join ``output_fields``) or ``{key: format}`` mappings (the
formatted text joins ``output_fields`` under ``key``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class OutputAppend:
    """One ``append_output`` entry."""

    source: str | None = None
    tags: frozenset[str] = frozenset()
    rule: str | None = None
    extra_output: str = ""
    extra_fields: tuple[str | tuple[str, str], ...] = ()

    def matches(self, rule: str, source: str, tags: Iterable[str]) -> bool:
        """Whether this entry applies to a rule."""
        return (
            (self.source is None or self.source == source)
            and (self.rule is None or self.rule == rule)
            and self.tags <= set(tags)
        )


def parse_append_output(value: Any) -> list[OutputAppend]:
    """Read the config value; a wrong shape raises ValueError naming the key path."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("append_output: expected a list")
    out = []
    for i, entry in enumerate(value):
        where = f"append_output[{i}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected a mapping")
        match = entry.get("match")
        match = {} if match is None else match
        if not isinstance(match, dict):
            raise ValueError(f"{where}.match: expected a mapping")
        tags = match.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ValueError(f"{where}.match.tags: expected a list of strings")
        extra_output = entry.get("extra_output") or ""
        if not isinstance(extra_output, str):
            raise ValueError(f"{where}.extra_output: expected a string")
        fields: list[str | tuple[str, str]] = []
        for j, item in enumerate(entry.get("extra_fields") or []):
            if isinstance(item, str):
                fields.append(item)
            elif isinstance(item, dict) and len(item) == 1:
                ((key, fmt),) = item.items()
                fields.append((str(key), str(fmt)))
            else:
                raise ValueError(
                    f"{where}.extra_fields[{j}]: expected a field name or one key: format"
                )
        out.append(
            OutputAppend(
                source=match.get("source"),
                tags=frozenset(tags),
                rule=match.get("rule"),
                extra_output=extra_output,
                extra_fields=tuple(fields),
            )
        )
    return out
