"""The definitions read from rules files, with Falco's define/append/replace semantics.

Mirrors falcosecurity/falco ``rule_loader_collector.cpp``: a redefinition replaces the
earlier item in place (keeping its position in the order), an append extends it, and a
selective replace overwrites the named keys. ``index`` is the position of the first
definition and ``visibility`` the position of the last change: a macro or list sees only
macros/lists whose index is lower than its own visibility.
"""

from __future__ import annotations

from typing import Any

from lanner.engine.diagnostics import Location
from lanner.engine.priority import Priority
from lanner.exceptions import LoadError
from lanner.records import Record


class ExceptionEntry(Record):
    """A fields/comps/values entry of an exception: a string or a (nested) list."""

    __slots__ = __match_args__ = ("is_list", "item", "items")
    is_list: bool
    item: str
    items: list[ExceptionEntry]

    def __init__(
        self, is_list: bool, item: str = "", items: list[ExceptionEntry] | None = None
    ) -> None:
        self.is_list = is_list
        self.item = item
        self.items = [] if items is None else items


class RuleException(Record):
    """One named exception of a rule."""

    __slots__ = __match_args__ = ("name", "fields", "comps", "values", "locations")
    name: str
    fields: ExceptionEntry | None
    comps: ExceptionEntry | None
    values: list[ExceptionEntry]
    locations: tuple[Location, ...]

    def __init__(
        self,
        name: str,
        fields: ExceptionEntry | None,
        comps: ExceptionEntry | None,
        values: list[ExceptionEntry],
        locations: tuple[Location, ...],
    ) -> None:
        self.name = name
        self.fields = fields
        self.comps = comps
        self.values = values
        self.locations = locations


class ListInfo(Record):
    """A list definition."""

    __slots__ = __match_args__ = ("name", "items", "locations", "index", "visibility")
    name: str
    items: list[str]
    locations: tuple[Location, ...]
    index: int
    visibility: int

    def __init__(
        self,
        name: str,
        items: list[str],
        locations: tuple[Location, ...],
        index: int = 0,
        visibility: int = 0,
    ) -> None:
        self.name = name
        self.items = items
        self.locations = locations
        self.index = index
        self.visibility = visibility


class MacroInfo(Record):
    """A macro definition."""

    __slots__ = __match_args__ = (
        "name",
        "condition",
        "locations",
        "cond_location",
        "index",
        "visibility",
    )
    name: str
    condition: str
    locations: tuple[Location, ...]
    cond_location: Location | None
    index: int
    visibility: int

    def __init__(
        self,
        name: str,
        condition: str,
        locations: tuple[Location, ...],
        cond_location: Location | None = None,
        index: int = 0,
        visibility: int = 0,
    ) -> None:
        self.name = name
        self.condition = condition
        self.locations = locations
        self.cond_location = cond_location
        self.index = index
        self.visibility = visibility


class RuleInfo(Record):
    """A rule definition as read (before compilation)."""

    __slots__ = __match_args__ = (
        "name",
        "condition",
        "output",
        "desc",
        "priority",
        "locations",
        "source",
        "tags",
        "enabled",
        "warn_evttypes",
        "skip_if_unknown_filter",
        "capture",
        "capture_duration",
        "exceptions",
        "cond_location",
        "output_location",
        "unknown_source",
        "index",
        "visibility",
    )
    name: str
    condition: str
    output: str
    desc: str
    priority: Priority
    locations: tuple[Location, ...]
    source: str
    tags: set[str]
    enabled: bool
    warn_evttypes: bool
    skip_if_unknown_filter: bool
    capture: bool  # Falco 0.41+: an alert opens a capture file (config capture.*)
    capture_duration: int  # ms the capture lasts at least; 0: capture.default_duration
    exceptions: list[RuleException]
    cond_location: Location | None
    output_location: Location | None
    unknown_source: bool
    index: int
    visibility: int

    def __init__(
        self,
        name: str,
        condition: str,
        output: str,
        desc: str,
        priority: Priority,
        locations: tuple[Location, ...],
        source: str = "syscall",
        tags: set[str] | None = None,
        enabled: bool = True,
        warn_evttypes: bool = True,
        skip_if_unknown_filter: bool = False,
        capture: bool = False,
        capture_duration: int = 0,
        exceptions: list[RuleException] | None = None,
        cond_location: Location | None = None,
        output_location: Location | None = None,
        unknown_source: bool = False,
        index: int = 0,
        visibility: int = 0,
    ) -> None:
        self.name = name
        self.condition = condition
        self.output = output
        self.desc = desc
        self.priority = priority
        self.locations = locations
        self.source = source
        self.tags = set() if tags is None else tags
        self.enabled = enabled
        self.warn_evttypes = warn_evttypes
        self.skip_if_unknown_filter = skip_if_unknown_filter
        self.capture = capture
        self.capture_duration = capture_duration
        self.exceptions = [] if exceptions is None else exceptions
        self.cond_location = cond_location
        self.output_location = output_location
        self.unknown_source = unknown_source
        self.index = index
        self.visibility = visibility


class RuleUpdate(Record):
    """An append or selective replace of an existing rule: only the keys present."""

    __slots__ = __match_args__ = (
        "name",
        "locations",
        "condition",
        "output",
        "desc",
        "tags",
        "exceptions",
        "priority",
        "enabled",
        "warn_evttypes",
        "skip_if_unknown_filter",
        "capture",
        "capture_duration",
    )
    name: str
    locations: tuple[Location, ...]
    condition: str | None
    output: str | None
    desc: str | None
    tags: set[str] | None
    exceptions: list[RuleException] | None
    priority: Priority | None
    enabled: bool | None
    warn_evttypes: bool | None
    skip_if_unknown_filter: bool | None
    capture: bool | None
    capture_duration: int | None

    def __init__(
        self,
        name: str,
        locations: tuple[Location, ...],
        condition: str | None = None,
        output: str | None = None,
        desc: str | None = None,
        tags: set[str] | None = None,
        exceptions: list[RuleException] | None = None,
        priority: Priority | None = None,
        enabled: bool | None = None,
        warn_evttypes: bool | None = None,
        skip_if_unknown_filter: bool | None = None,
        capture: bool | None = None,
        capture_duration: int | None = None,
    ) -> None:
        self.name = name
        self.locations = locations
        self.condition = condition
        self.output = output
        self.desc = desc
        self.tags = tags
        self.exceptions = exceptions
        self.priority = priority
        self.enabled = enabled
        self.warn_evttypes = warn_evttypes
        self.skip_if_unknown_filter = skip_if_unknown_filter
        self.capture = capture
        self.capture_duration = capture_duration

    def has_any_value(self) -> bool:
        """True when at least one key is being updated."""
        return any(
            v is not None
            for v in (
                self.condition,
                self.output,
                self.desc,
                self.tags,
                self.exceptions,
                self.priority,
                self.enabled,
                self.warn_evttypes,
                self.skip_if_unknown_filter,
                self.capture,
                self.capture_duration,
            )
        )


class EngineRequirement(Record):
    """A ``required_engine_version`` item."""

    __slots__ = __match_args__ = ("version", "locations")
    version: tuple[int, int, int]
    locations: tuple[Location, ...]

    def __init__(self, version: tuple[int, int, int], locations: tuple[Location, ...]) -> None:
        self.version = version
        self.locations = locations


class PluginRequirement(Record):
    """One entry of ``required_plugin_versions``, with its alternatives."""

    __slots__ = __match_args__ = ("alternatives", "locations")
    alternatives: list[tuple[str, str]]
    locations: tuple[Location, ...]

    def __init__(
        self, alternatives: list[tuple[str, str]], locations: tuple[Location, ...]
    ) -> None:
        self.alternatives = alternatives
        self.locations = locations


class Collector:
    """Accumulates lists, macros and rules across every file loaded, in order."""

    def __init__(self) -> None:
        self.lists: dict[str, ListInfo] = {}
        self.macros: dict[str, MacroInfo] = {}
        self.rules: dict[str, RuleInfo] = {}
        self.engine_requirements: list[EngineRequirement] = []
        self.plugin_requirements: list[PluginRequirement] = []
        self._counter = 0

    def _next(self) -> int:
        self._counter += 1
        return self._counter

    def _define(self, table: dict[str, Any], info: ListInfo | MacroInfo | RuleInfo) -> None:
        n = self._next()
        prev = table.get(info.name)
        info.visibility = n
        if prev is not None:
            info.index = prev.index
            table[info.name] = info  # replaces in place: dict keeps the first position
        else:
            info.index = n
            table[info.name] = info

    def define_list(self, info: ListInfo) -> None:
        """Define or redefine a list."""
        self._define(self.lists, info)

    def append_list(self, info: ListInfo) -> None:
        """Append items to an existing list."""
        prev = self.lists.get(info.name)
        if prev is None:
            raise LoadError(
                "List uses 'append' or 'override.items: append' but no list by that name "
                "already exists",
                info.locations,
            )
        prev.items.extend(info.items)
        prev.visibility = self._next()

    def define_macro(self, info: MacroInfo) -> None:
        """Define or redefine a macro."""
        self._define(self.macros, info)

    def append_macro(self, info: MacroInfo) -> None:
        """Append a condition fragment to an existing macro."""
        prev = self.macros.get(info.name)
        if prev is None:
            raise LoadError(
                "Macro uses 'append' or 'override.condition: append' but no macro by that "
                "name already exists",
                info.locations,
            )
        prev.condition += " " + info.condition
        prev.visibility = self._next()

    def define_rule(self, info: RuleInfo, known_sources: set[str]) -> bool:
        """Define or redefine a rule; returns False when its source is unknown."""
        prev = self.rules.get(info.name)
        if prev is not None and prev.source != info.source:
            raise LoadError("Rule has been re-defined with a different source", info.locations)
        info.unknown_source = info.source not in known_sources
        self._define(self.rules, info)
        return not info.unknown_source

    def append_rule(self, update: RuleUpdate) -> None:
        """Append condition/output/desc/tags/exceptions to an existing rule."""
        prev = self.rules.get(update.name)
        if prev is None:
            raise LoadError(
                "Rule uses 'append' or 'override.<key>: append' but no rule by that name "
                "already exists",
                update.locations,
            )
        if update.condition:
            prev.condition += " " + update.condition
        if update.output:
            prev.output += " " + update.output
        if update.desc:
            prev.desc += " " + update.desc
        if update.tags is not None:
            prev.tags |= update.tags
        for ex in update.exceptions or []:
            existing = next((e for e in prev.exceptions if e.name == ex.name), None)
            if existing is None:
                if ex.fields is None:
                    raise LoadError(
                        "Rule exception must have fields property with a list of fields",
                        ex.locations,
                    )
                if not ex.values:
                    raise LoadError(
                        "Rule exception must have values property with a list of values",
                        ex.locations,
                    )
                prev.exceptions.append(ex)
            else:
                if ex.fields is not None:
                    raise LoadError(
                        "Can not append exception fields to existing exception, only values",
                        ex.locations,
                    )
                if ex.comps is not None:
                    raise LoadError(
                        "Can not append exception comps to existing exception, only values",
                        ex.locations,
                    )
                existing.values.extend(ex.values)
        prev.visibility = self._next()

    def replace_rule(self, update: RuleUpdate) -> None:
        """Overwrite the keys present in ``update`` on an existing rule."""
        prev = self.rules.get(update.name)
        if prev is None:
            raise LoadError(
                "An 'override.<key>: replace' to a rule was requested but no rule by that "
                "name already exists",
                update.locations,
            )
        if not update.has_any_value():
            raise LoadError(
                "The rule must have at least one field that can be replaced", update.locations
            )
        for key in (
            "condition",
            "output",
            "desc",
            "tags",
            "exceptions",
            "priority",
            "enabled",
            "warn_evttypes",
            "skip_if_unknown_filter",
            "capture",
            "capture_duration",
        ):
            value = getattr(update, key)
            if value is not None:
                setattr(prev, key, value)
        prev.visibility = self._next()

    def enable_rule(self, name: str, enabled: bool, locations: tuple[Location, ...]) -> None:
        """The deprecated standalone ``enabled`` item."""
        prev = self.rules.get(name)
        if prev is None:
            raise LoadError(
                "Rule has 'enabled' key but no rule by that name already exists", locations
            )
        prev.enabled = enabled
