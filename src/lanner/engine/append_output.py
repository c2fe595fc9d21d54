"""Falco's ``append_output``: text and fields added to the outputs of matching rules.

Each entry has an optional ``match`` (``source``, ``tags`` the rule must all have,
``rule`` name; all given must hold), an ``extra_output`` appended to the output line,
``extra_fields``: field names (their values join ``output_fields``) or ``{key: format}``
mappings (the formatted text joins ``output_fields`` under ``key``), and
``suggested_output``: append ``foo_bar=%foo.bar`` for every field the source suggests
(the static fields, then for syscall the container fields Falco's container plugin
suggests), in the same place of the list.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lanner.engine.fields import SourceSpec

# The fields Falco's plugins mark as suggested output, by source, that Lanner has built
# in: the container plugin's (Falco 0.41+ loads it by default).
SUGGESTED_FIELDS: dict[str, tuple[str, ...]] = {
    "syscall": (
        "container.id",
        "container.name",
        "container.image.repository",
        "container.image.tag",
        "k8s.pod.name",
        "k8s.ns.name",
    ),
}
STATIC_PREFIX = "static."  # static_fields, suggested in every source

_ENTRY_KEYS = {"match", "extra_output", "extra_fields", "suggested_output"}
_MATCH_KEYS = {"source", "tags", "rule"}


@dataclass(frozen=True, slots=True)
class OutputAppend:
    """One ``append_output`` entry."""

    source: str | None = None
    tags: frozenset[str] = frozenset()
    rule: str | None = None
    extra_output: str = ""
    extra_fields: tuple[str | tuple[str, str], ...] = ()
    suggested_output: bool = False

    def matches(self, rule: str, source: str, tags: Iterable[str]) -> bool:
        """Whether this entry applies to a rule."""
        return (
            (self.source is None or self.source == source)
            and (self.rule is None or self.rule == rule)
            and self.tags <= set(tags)
        )


def _string(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a string")
    return value


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
        for key in entry:
            if key not in _ENTRY_KEYS:
                raise ValueError(
                    f"{where}.{key}: unknown key (expected {', '.join(sorted(_ENTRY_KEYS))})"
                )
        match = entry.get("match")
        match = {} if match is None else match
        if not isinstance(match, dict):
            raise ValueError(f"{where}.match: expected a mapping")
        for key in match:
            if key not in _MATCH_KEYS:
                raise ValueError(f"{where}.match.{key}: unknown key (expected rule, source, tags)")
        tags = match.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ValueError(f"{where}.match.tags: expected a list of strings")
        extra_output = _string(entry.get("extra_output"), f"{where}.extra_output") or ""
        suggested = entry.get("suggested_output", False)
        if isinstance(suggested, str) and suggested.lower() in ("true", "false"):
            suggested = suggested.lower() == "true"
        if not isinstance(suggested, bool):
            raise ValueError(f"{where}.suggested_output: expected a boolean")
        fields: list[str | tuple[str, str]] = []
        extra = entry.get("extra_fields") or []
        if not isinstance(extra, list):
            raise ValueError(f"{where}.extra_fields: expected a list")
        for j, item in enumerate(extra):
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
                source=_string(match.get("source"), f"{where}.match.source"),
                tags=frozenset(tags),
                rule=_string(match.get("rule"), f"{where}.match.rule"),
                extra_output=extra_output,
                extra_fields=tuple(fields),
                suggested_output=suggested,
            )
        )
    return out


def suggested_fields(spec: SourceSpec) -> list[str]:
    """The fields a source suggests for outputs: its static fields (by name), then the
    built-in equivalents of plugin-suggested fields."""
    static = sorted(f.name for f in spec.fields if f.name.startswith(STATIC_PREFIX))
    return static + [n for n in SUGGESTED_FIELDS.get(spec.name, ()) if n in spec.fields]


def expand_suggested(
    entries: Iterable[OutputAppend], sources: Iterable[SourceSpec]
) -> list[OutputAppend]:
    """Each ``suggested_output`` entry followed by one ``name_with_underscores=%name``
    entry per suggested field of each source it matches (all loaded sources when it names
    none), keeping its ``tags`` and ``rule``: Falco's order of appended text."""
    specs = list(sources)
    out: list[OutputAppend] = []
    for entry in entries:
        out.append(dataclasses.replace(entry, suggested_output=False))
        if not entry.suggested_output:
            continue
        for spec in specs:
            if entry.source is not None and spec.name != entry.source:
                continue
            for name in suggested_fields(spec):
                text = f"{name.replace('.', '_')}=%{name}"
                out.append(OutputAppend(spec.name, entry.tags, entry.rule, extra_output=text))
    return out
