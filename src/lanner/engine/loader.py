"""Loads rules files and compiles them: the engine's front door for rules.

Reading follows Falco's reader (stop a file at its first error); compilation follows
falcosecurity/falco ``rule_loader_compiler.cpp``: exceptions become ``and not (...)``
clauses, lists are substituted into condition text, macros into the tree, then each
condition and output compiles against its source's fields. Diagnostics are filed under
the file where the offending item was written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lanner.engine import ast, parser
from lanner.engine.append_output import OutputAppend
from lanner.engine.collector import Collector, ExceptionEntry, RuleException, RuleInfo
from lanner.engine.compiler import ConditionCompiler
from lanner.engine.container_info import CONTAINER_INFO, PrintOption, expand_container_info
from lanner.engine.diagnostics import Diagnostic, ErrorCode, LoadResult, Location, WarningCode
from lanner.engine.evttypes import event_types_of
from lanner.engine.expand import (
    MAX_CONDITION_NODES,
    MAX_LIST_ITEMS,
    MAX_TOTAL_NODES,
    ListBudget,
    MacroDef,
    MacroExpander,
    quote_item,
    substitute_lists,
    walk,
    walk_unique,
)
from lanner.engine.fields import SourceSpec
from lanner.engine.formatter import compile_template
from lanner.engine.reader import RulesReader
from lanner.engine.rules import Rule, Ruleset
from lanner.exceptions import (
    CompileError,
    ConditionSyntaxError,
    FormatError,
    ListBudgetError,
    LoadError,
    MacroError,
)

ENGINE_VERSION = (0, 58, 0)
"""The Falco rule-engine version whose rules files Lanner accepts."""

RULES_FILE_SUFFIXES = (".yaml", ".yml")
_UNKNOWN_MARKERS = ("nonexistent field", "invalid formatting token", "unknown event type")
_TOO_MANY_EVTTYPES = 100
_LIST_ERRORS_SHOWN = 10  # list-limit errors reported one by one; the others counted in one


def _snippet(text: str, pos: ast.Pos) -> str:
    lines = text.splitlines() or [""]
    line = lines[min(pos.line, len(lines)) - 1]
    return f"{line}\n{' ' * (pos.col - 1)}^"


def _extra_field(
    item: str | tuple[str, str], compiler: ConditionCompiler
) -> tuple[str, Callable[[Any], Any]]:
    """An append_output extra field: a field's value, or a formatted text under a key."""
    if isinstance(item, str):
        single = compile_template(f"%{item}", compiler)
        piece = single.pieces[0]
        assert not isinstance(piece, str), item  # "%field" compiles to one getter
        return item, piece[1]
    key, fmt = item
    template = compile_template(fmt, compiler)
    return key, lambda event: template.render(event)[0]


def build_exception_condition(condition: str, exceptions: list[RuleException]) -> str:
    """Append each exception as ``and not (...)``, exactly as Falco builds it."""
    out = f"({condition})"
    for ex in exceptions:
        fields, comps = ex.fields, ex.comps
        assert fields is not None
        icond = ""
        if not fields.is_list:
            comp = comps.item if comps is not None else "in"
            for val in ex.values:
                if val.is_list:
                    raise LoadError(
                        "Expected values array to contain a list of strings", ex.locations
                    )
                icond += f"({fields.item} {comp} (" if not icond else ", "
                icond += quote_item(val.item)
            icond += "))" if icond else ""
        else:
            comp_items = comps.items if comps is not None else []
            icond = "("
            for values in ex.values:
                if not values.is_list or len(values.items) != len(fields.items):
                    raise LoadError("Fields and values lists must have equal length", ex.locations)
                icond += "" if icond == "(" else " or "
                icond += "("
                for k, f in enumerate(fields.items):
                    comp = comp_items[k].item if k < len(comp_items) else "="
                    v = values.items[k]
                    if v.is_list:
                        rhs = "(" + ", ".join(quote_item(i.item) for i in v.items) + ")"
                    elif comp in parser.LIST_OPERATORS:
                        rhs = v.item if v.item.startswith("(") else f"({v.item})"
                    else:
                        rhs = quote_item(v.item)
                    icond += ("" if k == 0 else " and ") + f" {f.item} {comp} {rhs}"
                icond += ")"
            icond += ")"
            if icond == "()":
                icond = ""
        if icond:
            out += f" and not {icond}"
    return out


@dataclass(slots=True)
class CompileStats:
    """What compiling cost, counted (bounded by the limits of :mod:`lanner.engine.expand`)."""

    macro_expansions: int = 0  # macros expanded: each at most once
    condition_nodes: int = 0  # nodes of every compiled condition, macros expanded
    largest_condition: int = 0  # nodes of the largest one
    nodes_generated: int = 0  # nodes turned into code by the compilers (a step count)
    list_items: int = 0  # list items copied into conditions by references to lists


@dataclass(slots=True)
class LoadOutcome:
    """What loading produced: the ruleset (possibly partial) and one result per file."""

    ruleset: Ruleset
    results: list[LoadResult] = field(default_factory=list)
    stats: CompileStats = field(default_factory=CompileStats)
    # per file read: its top-level items (0 when empty) and the rules it defines
    items_per_file: dict[str, int] = field(default_factory=dict)
    rules_per_file: dict[str, int] = field(default_factory=dict)
    collector: Collector | None = None  # the items as read (for describing them)

    @property
    def successful(self) -> bool:
        """True when no file had errors."""
        return all(r.successful for r in self.results)


def _diagnostic(exc: LoadError) -> Diagnostic:
    """The load result entry of an error that stopped reading a file."""
    return Diagnostic(exc.code or ErrorCode.LOAD_ERR_VALIDATE, exc.message, exc.locations)


class RulesLoader:
    """Reads any number of rules files, then compiles them together."""

    def __init__(
        self,
        sources: Iterable[SourceSpec],
        append_output: Iterable[OutputAppend] = (),
        *,
        print_option: PrintOption | None = None,
        max_condition_nodes: int = MAX_CONDITION_NODES,
        max_total_nodes: int = MAX_TOTAL_NODES,
        max_list_items: int = MAX_LIST_ITEMS,
    ) -> None:
        self.sources: dict[str, SourceSpec] = {s.name: s for s in sources}
        self.append_output = list(append_output)
        self.print_option = print_option
        self.max_condition_nodes = max_condition_nodes
        self.max_total_nodes = max_total_nodes
        self._list_budget = ListBudget(max_list_items)
        self.stats = CompileStats()
        self._items: dict[str, int] = {}
        self._last_refused: tuple[Location, ...] = ()
        self.collector = Collector()
        self._results: dict[str, LoadResult] = {}
        self._compilers = {
            name: ConditionCompiler(s.fields, s.event_type_field, s.event_types)
            for name, s in self.sources.items()
        }

    # -- reading -----------------------------------------------------------------------

    def _result(self, name: str) -> LoadResult:
        if name not in self._results:
            self._results[name] = LoadResult(name)
        return self._results[name]

    def _report(self, diag: Diagnostic) -> None:
        file = diag.locations[0].file if diag.locations else ""
        self._result(file).add(diag)

    def add_path(self, path: str | Path) -> None:
        """Load a file, or every ``.yaml``/``.yml`` file of a directory in name order."""
        p = Path(path)
        if p.is_dir():
            for child in sorted(p.iterdir()):
                if child.is_file() and child.suffix in RULES_FILE_SUFFIXES:
                    self.add_file(child)
        else:
            self.add_file(p)

    def add_file(self, path: str | Path) -> None:
        """Read one rules file."""
        name = str(path)
        try:
            content = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self._result(name).add(
                Diagnostic(
                    ErrorCode.LOAD_ERR_FILE_READ,
                    f"Could not read file: {exc}",
                    (Location("rules content", "", name),),
                )
            )
            return
        self.add_content(name, content)

    def add_content(self, name: str, content: str) -> None:
        """Read rules from a string, reported under ``name``."""
        self._result(name)
        reader = RulesReader(self.collector, set(self.sources), self._report)
        try:
            reader.read(name, content)
            self._items[name] = reader.items
        except LoadError as exc:
            self._result(name).add(_diagnostic(exc))
        except RecursionError:
            self._result(name).add(
                Diagnostic(
                    ErrorCode.LOAD_ERR_YAML_PARSE,
                    "YAML document nested too deeply",
                    (Location("rules content", "", name),),
                )
            )

    # -- compiling ---------------------------------------------------------------------

    def compile(self) -> LoadOutcome:
        """Compile everything read so far into a ruleset, filing diagnostics per file."""
        col = self.collector
        self._check_engine_version()
        lists = self._expand_lists()
        used_lists: set[str] = set()
        used_macros: set[str] = set()
        macros = self._parse_macros(lists, used_lists)
        self._expander = MacroExpander(macros, self.max_condition_nodes)
        for m in col.macros.values():
            mdef = macros.get(m.name)
            if mdef is None:
                continue
            # as Falco's compile_macros_infos: each macro resolves the macros visible to it,
            # and a macro referenced by any other macro counts as used
            try:
                self._expander.macro(mdef, used_macros)
            except RecursionError:
                self._report(
                    Diagnostic(ErrorCode.LOAD_ERR_VALIDATE, "macro nested too deeply", m.locations)
                )
            except MacroError as exc:
                if not exc.root:
                    continue  # reported under the macro where it is written
                # Falco places macro resolution errors under the macro itself
                self._condition_error(
                    ErrorCode.LOAD_ERR_VALIDATE,
                    exc.message,
                    m.locations,
                    None,
                    substitute_lists(m.condition, lists, set()),
                    exc.pos,
                )
        rules: list[Rule] = []
        for info in col.rules.values():
            if info.unknown_source:
                continue
            try:
                rule = self._compile_rule(info, lists, macros, used_lists, used_macros)
            except RecursionError:
                rule = None
                self._report(
                    Diagnostic(
                        ErrorCode.LOAD_ERR_COMPILE_CONDITION,
                        "condition nested too deeply",
                        info.locations,
                    )
                )
            if rule is not None:
                rule.id = len(rules)
                rules.append(rule)
        for m in col.macros.values():
            if m.name not in used_macros:
                self._report(
                    Diagnostic(
                        WarningCode.LOAD_UNUSED_MACRO,
                        "Macro not referred to by any other rule/macro",
                        m.locations,
                    )
                )
        for name, list_info in col.lists.items():
            if name not in used_lists:
                self._report(
                    Diagnostic(
                        WarningCode.LOAD_UNUSED_LIST,
                        "List not referred to by any other rule/macro",
                        list_info.locations,
                    )
                )
        ruleset = Ruleset(rules, self.sources.values())
        budget = self._list_budget
        if budget.refused > _LIST_ERRORS_SHOWN:
            self._report(
                Diagnostic(
                    ErrorCode.LOAD_ERR_VALIDATE,
                    f"{budget.refused - _LIST_ERRORS_SHOWN:,} more rules and macros were "
                    f"refused because their lists would pass the limit of "
                    f"{budget.limit:,} list items copied into conditions",
                    self._last_refused,
                )
            )
        self.stats.list_items = budget.used
        self.stats.macro_expansions = self._expander.expansions
        self.stats.nodes_generated = sum(c.nodes_generated for c in self._compilers.values())
        per_file = dict.fromkeys(self._items, 0)
        for rule_info in col.rules.values():
            if rule_info.locations and ruleset.get(rule_info.name) is not None:
                file = rule_info.locations[0].file
                per_file[file] = per_file.get(file, 0) + 1
        return LoadOutcome(
            ruleset,
            list(self._results.values()),
            self.stats,
            dict(self._items),
            per_file,
            self.collector,
        )

    def _list_budget_error(self, exc: ListBudgetError, locations: tuple[Location, ...]) -> None:
        budget = self._list_budget
        budget.refused += 1
        self._last_refused = locations
        if budget.refused > _LIST_ERRORS_SHOWN:
            return  # counted in one last error
        times = "once" if exc.times == 1 else f"{exc.times} times"
        self._report(
            Diagnostic(
                ErrorCode.LOAD_ERR_VALIDATE,
                f"List '{exc.name}' ({exc.size:,} items, used {times} here) would bring the "
                f"list items copied into conditions past the limit of {budget.limit:,} "
                f"(already {budget.used:,}); each reference to a list copies all its items",
                locations,
            )
        )

    def _check_engine_version(self) -> None:
        for req in self.collector.engine_requirements:
            if req.version[0] != ENGINE_VERSION[0] or req.version > ENGINE_VERSION:
                need = ".".join(map(str, req.version))
                have = ".".join(map(str, ENGINE_VERSION))
                self._report(
                    Diagnostic(
                        ErrorCode.LOAD_ERR_VALIDATE,
                        f"Rules require engine version {need}, but engine version is {have}",
                        req.locations,
                    )
                )

    def _expand_lists(self) -> list[tuple[str, list[str]]]:
        """Each list with the lists it names replaced by their items, one level deep.

        As Falco's ``compile_list_infos``: a referenced list contributes its items as
        written (a list inside it stays a plain item), and only if it was defined before
        the referring list's last change.
        """
        col = self.collector
        self._list_refs: set[str] = set()
        out: list[tuple[str, list[str]]] = []
        for name, info in col.lists.items():
            items: list[str] = []
            for item in info.items:
                ref = col.lists.get(item)
                if ref is not None and ref.index < info.visibility:
                    self._list_refs.add(item)
                    items.extend(ref.items)
                else:
                    items.append(item)
            out.append((name, items))
        return out

    def _parse_macros(
        self, lists: list[tuple[str, list[str]]], used_lists: set[str]
    ) -> dict[str, MacroDef]:
        used_lists |= self._list_refs
        out: dict[str, MacroDef] = {}
        for m in self.collector.macros.values():
            try:
                text = substitute_lists(m.condition, lists, used_lists, self._list_budget)
            except ListBudgetError as exc:
                self._list_budget_error(exc, m.locations)
                continue
            try:
                expr = parser.parse_condition(text)
            except ConditionSyntaxError as exc:
                self._condition_error(
                    ErrorCode.LOAD_ERR_COMPILE_CONDITION,
                    exc.message,
                    m.locations,
                    m.cond_location,
                    text,
                    exc.pos,
                )
                continue
            where = f"{m.locations[0].file}:{m.locations[0].line}" if m.locations else ""
            out[m.name] = MacroDef(m.name, expr, m.index, m.visibility, where)
        return out

    def _condition_error(
        self,
        code: ErrorCode | WarningCode,
        message: str,
        locations: tuple[Location, ...],
        cond_location: Location | None,
        text: str,
        pos: ast.Pos | None,
    ) -> None:
        locs = list(locations)
        if cond_location is not None:
            locs.append(cond_location)
        snippet = ""
        if pos is not None:
            # named after the condition, as Falco; the position is within the condition
            name = text if len(text) <= 20 else text[:17] + "..."
            name = '"' + name.replace("\n", " ").replace("\r", " ") + '"'
            locs.append(Location("condition expression", "", name, pos.line, pos.col, pos.idx))
            snippet = _snippet(text, pos)
        self._report(Diagnostic(code, message, tuple(locs), snippet))

    def _compile_rule(
        self,
        info: RuleInfo,
        lists: list[tuple[str, list[str]]],
        macros: Mapping[str, MacroDef],
        used_lists: set[str],
        used_macros: set[str],
    ) -> Rule | None:
        source = self.sources[info.source]
        compiler = self._compilers[info.source]
        try:
            self._validate_exceptions(info, source)
            condition = info.condition
            if info.exceptions:
                condition = build_exception_condition(condition, info.exceptions)
        except LoadError as exc:
            self._report(_diagnostic(exc))
            return None
        # the output is checked before the condition, as in Falco's compile_rule_infos
        if CONTAINER_INFO in info.output:
            self._report(
                Diagnostic(
                    WarningCode.LOAD_DEPRECATED_ITEM,
                    "%container.info is deprecated and no more useful",
                    info.locations,
                )
            )
        appends = [a for a in self.append_output if a.matches(info.name, info.source, info.tags)]
        appended = " ".join(a.extra_output for a in appends if a.extra_output)
        output = expand_container_info(
            info.output,
            has_container_fields="container.id" in source.fields,
            appended=appended,
            print_option=self.print_option,
        ).rstrip()
        if appended:
            output = f"{output} {appended}"
        try:
            template = compile_template(output, compiler)
            extra_fields = [
                _extra_field(item, compiler) for extra in appends for item in extra.extra_fields
            ]
        except FormatError as exc:
            self._unknown_or_error(
                info, ErrorCode.LOAD_ERR_COMPILE_OUTPUT, str(exc), info.output_location, "", None
            )
            return None
        try:
            text = substitute_lists(condition, lists, used_lists, self._list_budget)
        except ListBudgetError as exc:
            self._list_budget_error(exc, info.locations)
            return None
        try:
            tree = parser.parse_condition(text)
        except ConditionSyntaxError as exc:
            self._condition_error(
                ErrorCode.LOAD_ERR_COMPILE_CONDITION,
                exc.message,
                info.locations,
                info.cond_location,
                text,
                exc.pos,
            )
            return None
        try:
            expanded, size = self._expander.expand(tree, used_macros)
        except MacroError as exc:
            # Falco places macro resolution errors under the rule itself
            self._condition_error(
                ErrorCode.LOAD_ERR_VALIDATE,
                exc.message,
                info.locations,
                None,
                text,
                exc.pos,
            )
            return None
        if self.stats.condition_nodes + size > self.max_total_nodes:
            self._condition_error(
                ErrorCode.LOAD_ERR_VALIDATE,
                f"The rules expand to more than {self.max_total_nodes:,} condition nodes in "
                f"total (this one has {size:,}, those before it "
                f"{self.stats.condition_nodes:,}); each reference to a macro copies its "
                "whole condition",
                info.locations,
                None,
                text,
                None,
            )
            return None
        self.stats.condition_nodes += size
        self.stats.largest_condition = max(self.stats.largest_condition, size)
        # as Falco's filter_warning_resolver: checked on the tree with macros expanded
        own_nodes = {id(n) for n in walk(tree)}
        for node in walk_unique(expanded):
            if isinstance(node, ast.BinaryCheck) and self._compares_na(node):
                self._condition_error(
                    WarningCode.LOAD_UNSAFE_NA_CHECK,
                    "Comparing a field value with <NA> is unsafe",
                    info.locations,
                    info.cond_location,
                    text,
                    node.pos if id(node) in own_nodes else None,
                )
        try:
            predicate = compiler.compile(expanded, lazy=True)
        except CompileError as exc:
            own = any(n.pos is exc.pos for n in walk(tree))
            self._unknown_or_error(
                info,
                ErrorCode.LOAD_ERR_COMPILE_CONDITION,
                exc.message,
                info.cond_location,
                text,
                exc.pos if own else None,
            )
            return None
        event_types: frozenset[str] | None = None
        if source.event_type_field and source.event_types:
            event_types = event_types_of(expanded, source.event_type_field, source.event_types)
            too_many = (
                not event_types  # as Falco: no possible type warns too
                or event_types == source.event_types
                or len(event_types) > _TOO_MANY_EVTTYPES
            )
            if too_many and info.warn_evttypes:
                self._report(
                    Diagnostic(
                        WarningCode.LOAD_NO_EVTTYPE,
                        "Rule matches too many evt.type values. This has a "
                        "significant performance penalty.",
                        info.locations,
                    )
                )
        exception_fields = frozenset(
            f.item
            for ex in info.exceptions
            if ex.fields is not None
            for f in (ex.fields.items if ex.fields.is_list else [ex.fields])
        )
        return Rule(
            name=info.name,
            desc=info.desc,
            condition=text,
            output=output,
            priority=info.priority,
            source=info.source,
            tags=frozenset(info.tags),
            predicate=predicate,
            template=template,
            event_types=event_types,
            enabled=info.enabled,
            exception_fields=exception_fields,
            expr=expanded,
            extra_fields=extra_fields,
            capture=info.capture,
            capture_duration=info.capture_duration,
        )

    @staticmethod
    def _compares_na(node: ast.BinaryCheck) -> bool:
        # only the fields where <NA> can be a real value (k8s audit, json), with equality
        # operators, as Falco's filter_warning_resolver
        left = node.left
        if not (
            isinstance(left, ast.FieldRef)
            and left.name.startswith(("ka.", "jevt."))
            and node.op in ("=", "==", "!=", "in", "intersects", "pmatch")
        ):
            return False
        right = node.right
        if isinstance(right, ast.Value):
            return right.value == "<NA>"
        if isinstance(right, ast.ListValue):
            return "<NA>" in right.values
        return False

    def _unknown_or_error(
        self,
        info: RuleInfo,
        code: ErrorCode,
        message: str,
        where: Location | None,
        text: str,
        pos: ast.Pos | None,
    ) -> None:
        unknown = any(marker in message for marker in _UNKNOWN_MARKERS)
        final: ErrorCode | WarningCode = code
        if unknown and info.skip_if_unknown_filter:
            final = WarningCode.LOAD_UNKNOWN_FILTER
        self._condition_error(final, message, info.locations, where, text, pos)

    def _validate_exceptions(self, info: RuleInfo, source: SourceSpec) -> None:
        for ex in info.exceptions:
            fields, comps = ex.fields, ex.comps
            assert fields is not None
            if fields.is_list:
                n = len(fields.items)
                if comps is None:
                    comps = ex.comps = ExceptionEntry(
                        True, items=[ExceptionEntry(False, "=") for _ in range(n)]
                    )
                if not comps.is_list or len(comps.items) != n:
                    raise LoadError("Fields and comps lists must have equal length", ex.locations)
                for c in comps.items:
                    if c.item not in parser.ALL_OPERATORS:
                        raise LoadError(
                            f"'{c.item}' is not a supported comparison operator", ex.locations
                        )
                names = [f.item for f in fields.items]
            else:
                if comps is None:
                    comps = ex.comps = ExceptionEntry(False, "in")
                if comps.is_list:
                    raise LoadError("Fields and comps must both be strings", ex.locations)
                if comps.item not in ("in", "pmatch", "intersects"):
                    raise LoadError(
                        "When fields is a single value, comps must be one of "
                        "(in, pmatch, intersects)",
                        ex.locations,
                    )
                names = [fields.item]
            for name in names:
                if name.partition("[")[0] not in source.fields:
                    raise LoadError(f"'{name}' is not a supported filter field", ex.locations)


def load_rules(paths: Iterable[str | Path], sources: Iterable[SourceSpec]) -> LoadOutcome:
    """Load and compile rules files (or directories) for the given sources."""
    loader = RulesLoader(sources)
    for p in paths:
        loader.add_path(p)
    return loader.compile()
