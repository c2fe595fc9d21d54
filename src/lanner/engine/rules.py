"""Compiled rules and the ruleset that indexes them by source and event type."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lanner.engine import ast
from lanner.engine.compiler import ConditionCompiler
from lanner.engine.evalerrors import EvalErrors
from lanner.engine.fields import SourceSpec
from lanner.engine.formatter import CompiledTemplate
from lanner.engine.matcher import InlineBudget, Matcher, compile_matcher
from lanner.engine.priority import Priority


@dataclass(slots=True)
class Rule:
    """A rule ready to evaluate."""

    name: str
    desc: str
    condition: str  # after exceptions and list substitution
    output: str
    priority: Priority
    source: str
    tags: frozenset[str]
    predicate: Callable[[Any], bool]
    template: CompiledTemplate
    event_types: frozenset[str] | None  # None: the source has no event types
    enabled: bool = True
    exception_fields: frozenset[str] = frozenset()
    id: int = 0
    expr: ast.Expr | None = None  # the condition tree with macros expanded
    # append_output extra fields: (output_fields key, event -> value)
    extra_fields: list[tuple[str, Callable[[Any], Any]]] = field(default_factory=list)
    capture: bool = False  # Falco's rule key: a match opens a capture (config capture.*)
    capture_duration: int = 0  # ms; 0: capture.default_duration


@dataclass(slots=True)
class _SourceIndex:
    spec: SourceSpec
    rules: list[Rule] = field(default_factory=list)
    by_type: dict[str, list[Rule]] = field(default_factory=dict)
    untyped: list[Rule] = field(default_factory=list)
    # event type (None for sources without types) -> generated matcher, built on first use
    matchers: dict[str | None, Matcher] = field(default_factory=dict)
    compiler: ConditionCompiler | None = None


class Ruleset:
    """Rules by source; per event only the enabled rules for its type are evaluated."""

    def __init__(self, rules: Iterable[Rule], sources: Iterable[SourceSpec]) -> None:
        self.rules: list[Rule] = list(rules)
        self._by_name = {r.name: r for r in self.rules}
        self._indexes = {s.name: _SourceIndex(s) for s in sources}
        for rule in self.rules:
            if rule.source in self._indexes:
                self._indexes[rule.source].rules.append(rule)
        self.min_priority = Priority.DEBUG
        # per-event failures of conditions; the engine shares one across reloads
        self.errors = EvalErrors()
        self._match_all = False
        # what the generated matchers may copy in; reset whenever they are cleared
        self.inline_budget = InlineBudget()
        self.reindex()

    @property
    def match_all(self) -> bool:
        """Whether every matching rule alerts (Falco's ``rule_matching: all``)."""
        return self._match_all

    @match_all.setter
    def match_all(self, value: bool) -> None:
        self._match_all = value
        self._clear_matchers()

    def use_errors(self, errors: EvalErrors) -> None:
        """Count condition failures in ``errors`` (the engine's, kept across reloads)."""
        if errors is self.errors:
            return  # the matchers already count there
        self.errors = errors
        self._clear_matchers()

    def _clear_matchers(self) -> None:
        self.inline_budget = InlineBudget()
        for idx in self._indexes.values():
            idx.matchers.clear()

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, name: str) -> Rule | None:
        """The rule called ``name``."""
        return self._by_name.get(name)

    def is_active(self, rule: Rule) -> bool:
        """Enabled and at or above the priority threshold."""
        return rule.enabled and rule.priority <= self.min_priority

    # -- selection ---------------------------------------------------------------------

    def set_enabled(
        self,
        enabled: bool,
        *,
        name: str | None = None,
        substring: str | None = None,
        tags: Iterable[str] | None = None,
    ) -> int:
        """Enable or disable rules by exact name, name substring or any of ``tags``."""
        tagset = set(tags or ())
        changed = 0
        for rule in self.rules:
            hit = (
                (name is not None and rule.name == name)
                or (substring is not None and substring in rule.name)
                or (bool(tagset) and not tagset.isdisjoint(rule.tags))
            )
            if hit:
                rule.enabled = enabled
                changed += 1
        self.reindex()
        return changed

    def set_min_priority(self, priority: Priority) -> None:
        """Only rules at least this severe are evaluated."""
        self.min_priority = priority
        self.reindex()

    def reindex(self) -> None:
        """Rebuild the per-type lists after a change of selection."""
        self.inline_budget = InlineBudget()
        for idx in self._indexes.values():
            active = [r for r in idx.rules if self.is_active(r)]
            idx.by_type = {}
            idx.untyped = []
            idx.matchers = {}
            if idx.spec.event_type_of is None:
                idx.untyped = active
                continue
            for rule in active:
                types = rule.event_types if rule.event_types is not None else idx.spec.event_types
                for t in types:
                    idx.by_type.setdefault(t, []).append(rule)

    # -- evaluation --------------------------------------------------------------------

    def candidates(self, event: Any, source: str) -> list[Rule]:
        """The active rules that may match an event of this source."""
        idx = self._indexes.get(source)
        if idx is None:
            return []
        type_of = idx.spec.event_type_of
        if type_of is None:
            return idx.untyped
        return idx.by_type.get(type_of(event), [])

    def match(self, event: Any, source: str) -> list[Rule]:
        """Rules whose condition holds for ``event``: the first only, unless match_all.

        Evaluated by the generated matcher of the event's type (see
        :mod:`lanner.engine.matcher`), which shares field values between rules.
        """
        idx = self._indexes.get(source)
        if idx is None:
            return []
        type_of = idx.spec.event_type_of
        key = None if type_of is None else type_of(event)
        matcher = idx.matchers.get(key)
        if matcher is None:
            matcher = self._build_matcher(idx, key)
        return matcher(event)

    def build_matchers(self) -> int:
        """Generate now the matcher of every event type some active rule can match
        (otherwise each is generated at the first event of its type); how many were built.

        A hot reload calls this on its side thread, so the events after the swap do not
        wait for code generation."""
        built = 0
        for idx in self._indexes.values():
            keys: list[str | None] = [None] if idx.spec.event_type_of is None else []
            keys += list(idx.by_type)
            for key in keys:
                if key not in idx.matchers:
                    self._build_matcher(idx, key)
                    built += 1
        seen: set[int] = set()
        for predicate in self.inline_budget.predicates:  # those the matchers call
            if id(predicate) not in seen and hasattr(predicate, "prepare"):
                seen.add(id(predicate))
                predicate.prepare()
        return built

    def _build_matcher(self, idx: _SourceIndex, key: str | None) -> Matcher:
        rules = idx.untyped if key is None else idx.by_type.get(key, [])
        spec = idx.spec
        if idx.compiler is None:
            idx.compiler = ConditionCompiler(spec.fields, spec.event_type_field, spec.event_types)
        matcher = compile_matcher(
            rules, idx.compiler, key, self._match_all, self.errors, self.inline_budget
        )
        idx.matchers[key] = matcher
        return matcher
