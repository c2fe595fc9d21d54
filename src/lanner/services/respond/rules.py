"""Response rules: YAML files of `- rule:` items, loaded with file:line-precise errors.

- rule: Isolate pods talking to a C2 server
  match:
    rules: [Outbound Connection to C2 Servers]   # names or globs
    priority: ">=Warning"                         # a bare priority means >=
    source: syscall
    tags: [network]                               # all required; tags_any: one of
    output_fields:
      k8s.ns.name: {not_in: [kube-system]}        # eq, ne, in, not_in, glob, exists
  dry_run: false
  continue: false                                 # stop at this rule when it matches
  actions:
    - action: kubernetes:isolate
      parameters: {allow_dns: true}
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lanner.exceptions import AlertError, RulesError
from lanner.services.respond.actions import ACTIONS
from lanner.services.respond.alert import normalize_priority

FIELD_OPS = ("eq", "ne", "in", "not_in", "glob", "exists")
PRIORITY_OPS = (">=", "<=", ">", "<", "==", "=")


@dataclass(frozen=True)
class FieldCondition:
    """A test on one output field."""

    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class Match:
    """What an alert must look like for a rule to apply; empty parts match anything."""

    rules: tuple[str, ...] = ()
    priority: tuple[str, str] | None = None  # (operator, canonical priority)
    source: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    tags_any: tuple[str, ...] = ()
    output_fields: tuple[FieldCondition, ...] = ()
    # Falco Talon's forms: the alert must satisfy at least one group (each group: all of it)
    field_groups: tuple[tuple[FieldCondition, ...], ...] = ()
    tag_groups: tuple[tuple[str, ...], ...] = ()
    exact_rules: bool = False  # Talon compares rule names exactly (no globs)


@dataclass(frozen=True)
class ActionSpec:
    """One action of a rule, with its parameters (defaults filled in)."""

    action: str
    parameters: dict[str, Any]
    continue_: bool = True
    ignore_errors: bool = False
    retries: int | None = None
    dry_run: bool | None = None
    line: int = 0
    registry: str = "lanner"  # which action names: "lanner" (ACTIONS) or "talon" (TALON)
    title: str = ""  # a Talon action's own name ("Terminate Pod")
    output: dict[str, Any] | None = None  # a Talon artifact output: {target, parameters}
    contexts: tuple[str, ...] = ()  # Talon additional_contexts (k8snode)


@dataclass(frozen=True)
class ResponseRule:
    """A named rule: match, then run the actions in order."""

    name: str
    match: Match
    actions: tuple[ActionSpec, ...]
    continue_: bool = False
    dry_run: bool | None = None
    file: str = ""
    line: int = 0
    notifiers: tuple[str, ...] = ()
    format: str = "lanner"  # or "talon"


class _LineDict(dict[str, Any]):
    """A mapping that knows the line it started on."""

    line: int = 0

    def __init__(self, *args: Any, line: int = 0) -> None:
        super().__init__(*args)
        self.line = line


class _Loader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML: no type information
    """A SafeLoader whose mappings remember the line they start on (1-based)."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _LineDict:
    loader.flatten_mapping(node)
    mapping = _LineDict(loader.construct_pairs(node, deep=True))
    mapping.line = node.start_mark.line + 1
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)

_RULE_KEYS = {"rule", "desc", "enabled", "match", "actions", "dry_run", "continue"}
_MATCH_KEYS = {"rules", "priority", "source", "tags", "tags_any", "output_fields"}
_ACTION_KEYS = {"action", "parameters", "continue", "ignore_errors", "retries", "dry_run"}
_PRIORITY = re.compile(r"^\s*(>=|<=|==|=|>|<)?\s*([A-Za-z]+)\s*$")


@dataclass
class FileReport:
    """What `--check` says about one file: its format, what it holds, what was read how."""

    path: str
    format: str  # "lanner", "talon" or "empty"
    rules: int = 0
    actions: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class RuleSet:
    """Every rule loaded, in file order, and a report per file."""

    rules: list[ResponseRule]
    files: list[FileReport]


def rule_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files named: a directory means its *.yaml/*.yml files, sorted."""
    files: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            files.extend(sorted(f for f in path.iterdir() if f.suffix in (".yaml", ".yml")))
        else:
            files.append(path)
    return files


def load_rules(paths: Iterable[str | Path]) -> list[ResponseRule]:
    """Load and validate rules files (Lanner's or Falco Talon's format, told apart per file)."""
    return load_ruleset(paths).rules


def load_ruleset(paths: Iterable[str | Path]) -> RuleSet:
    """Load every file; RulesError lists every problem (file:line, rule, item)."""
    from lanner.services.respond import talon_rules

    problems: list[str] = []
    reports: list[FileReport] = []
    ordered: list[tuple[tuple[int, int], ResponseRule]] = []
    talon_docs: list[tuple[int, str, list[Any]]] = []
    for index, path in enumerate(rule_files(paths)):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            problems.append(f"{path}: cannot read: {exc.strerror or exc}")
            continue
        doc = _load_yaml(text, str(path), problems)
        if doc is None:
            reports.append(FileReport(str(path), "empty"))
            continue
        if talon_rules.is_talon(doc):
            reports.append(FileReport(str(path), "talon"))
            talon_docs.append((index, str(path), doc))
            continue
        parsed = _parse_doc(doc, str(path), problems)
        reports.append(
            FileReport(str(path), "lanner", len(parsed), sum(len(r.actions) for r in parsed))
        )
        ordered.extend(((index, r.line), r) for r in parsed)
    if talon_docs:
        by_file = {r.path: r for r in reports}
        for position, rule in talon_rules.translate(talon_docs, problems, by_file):
            ordered.append((position, rule))
    rules = [r for _, r in sorted(ordered, key=lambda pair: pair[0])]
    seen: dict[str, str] = {}
    for r in rules:
        where = f"{r.file}:{r.line}"
        if r.name in seen:
            problems.append(f"{where}: rule '{r.name}': duplicate name (first at {seen[r.name]})")
        seen.setdefault(r.name, where)
    if problems:
        raise RulesError(problems)
    return RuleSet(rules, reports)


def _load_yaml(text: str, filename: str, problems: list[str]) -> list[Any] | None:
    """The file's top-level list (None when empty or unusable, with a problem noted)."""
    try:
        doc = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}" if mark is not None else ""
        problems.append(f"{filename}{at}: invalid YAML: {getattr(exc, 'problem', exc)}")
        return None
    if doc is None:
        return None
    if not isinstance(doc, list):
        problems.append(f"{filename}:1: a rules file must be a list of '- rule:' items")
        return None
    return doc


def parse_rules(text: str, filename: str, problems: list[str]) -> list[ResponseRule]:
    """Parse one Lanner-format file's text, appending problems rather than stopping."""
    doc = _load_yaml(text, filename, problems)
    return [] if doc is None else _parse_doc(doc, filename, problems)


def _parse_doc(doc: list[Any], filename: str, problems: list[str]) -> list[ResponseRule]:
    out: list[ResponseRule] = []
    for index, item in enumerate(doc):
        line = getattr(item, "line", 0)
        if not isinstance(item, dict) or "rule" not in item:
            problems.append(f"{filename}:{line}: item {index + 1} is not a '- rule:' mapping")
            continue
        if not isinstance(item, _LineDict):  # the loader makes every mapping a _LineDict
            item = _LineDict(item, line=line)
        rule = _parse_rule(item, filename, problems)
        if rule is not None:
            out.append(rule)
    return out


def _parse_rule(item: _LineDict, filename: str, problems: list[str]) -> ResponseRule | None:
    name = item.get("rule")
    before = len(problems)

    def bad(msg: str, line: int | None = None) -> None:
        loc = f"{filename}:{line or item.line}: rule '{name}'"
        problems.append(f"{loc}: {msg}")

    if not isinstance(name, str) or not name.strip():
        problems.append(
            f"{filename}:{item.line}: 'rule' must be a non-empty string"
            " (quote names like on, off, yes, no or numbers)"
        )
        return None
    for key in sorted(set(item) - _RULE_KEYS):
        bad(f"unknown key '{key}'")
    for key in ("enabled", "dry_run", "continue"):
        if key in item and not isinstance(item[key], bool):
            bad(f"'{key}' must be true or false")
    match = _parse_match(item.get("match"), bad)
    actions_raw = item.get("actions")
    actions: list[ActionSpec] = []
    if not isinstance(actions_raw, list) or not actions_raw:
        bad("'actions' must be a non-empty list")
    else:
        for raw in actions_raw:
            spec = _parse_action(raw, bad, Path(filename).parent)
            if spec is not None:
                actions.append(spec)
    if len(problems) > before or match is None:
        return None
    if item.get("enabled", True) is False:
        return None
    return ResponseRule(
        name=name,
        match=match,
        actions=tuple(actions),
        continue_=bool(item.get("continue", False)),
        dry_run=item.get("dry_run"),
        file=filename,
        line=item.line,
    )


def _str_list(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _parse_match(raw: Any, bad: Any) -> Match | None:
    if raw is None:
        return Match()
    if not isinstance(raw, dict):
        bad("'match' must be a mapping")
        return None
    line = getattr(raw, "line", None)
    ok = True
    for key in sorted(set(raw) - _MATCH_KEYS):
        bad(f"unknown key 'match.{key}'", line)
        ok = False
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("rules", "source", "tags", "tags_any"):
        if key in raw:
            value = _str_list(raw[key])
            if value is None:
                bad(f"'match.{key}' must be a string or a list of strings", line)
                ok = False
            else:
                lists[key] = value
    priority = None
    if "priority" in raw:
        m = _PRIORITY.match(str(raw["priority"]))
        try:
            if m is None:
                raise AlertError(str(raw["priority"]))
            op = m.group(1) or ">="
            priority = ("==" if op == "=" else op, normalize_priority(m.group(2)))
        except AlertError:
            bad(f"'match.priority' {raw['priority']!r} is not [op]Priority, e.g. '>=Warning'", line)
            ok = False
    conditions: list[FieldCondition] = []
    fields = raw.get("output_fields")
    if fields is not None:
        if not isinstance(fields, dict):
            bad("'match.output_fields' must be a mapping of field to condition", line)
            ok = False
        else:
            for fname, cond in fields.items():
                parsed = _parse_condition(str(fname), cond)
                if isinstance(parsed, str):
                    bad(parsed, getattr(fields, "line", line))
                    ok = False
                else:
                    conditions.append(parsed)
    if not ok:
        return None
    return Match(
        rules=lists.get("rules", ()),
        priority=priority,
        source=lists.get("source", ()),
        tags=lists.get("tags", ()),
        tags_any=lists.get("tags_any", ()),
        output_fields=tuple(conditions),
    )


_SCALAR = (str, int, float, bool, type(None))


def _parse_condition(name: str, cond: Any) -> FieldCondition | str:
    """A FieldCondition, or a message saying what is wrong."""
    if isinstance(cond, _SCALAR):
        return FieldCondition(name, "eq", cond)
    if isinstance(cond, list):
        cond = {"in": cond}
    if not isinstance(cond, dict) or len(cond) != 1:
        return (
            f"output field '{name}': use a value, a list, or one of "
            f"{{{', '.join(FIELD_OPS)}}}: value"
        )
    op, value = next(iter(cond.items()))
    if op not in FIELD_OPS:
        return f"output field '{name}': unknown operator '{op}' (use {', '.join(FIELD_OPS)})"
    if op in ("in", "not_in") and not (
        isinstance(value, list) and all(isinstance(v, _SCALAR) for v in value)
    ):
        return f"output field '{name}': '{op}' needs a list of values"
    if op == "glob" and not isinstance(value, str):
        return f"output field '{name}': 'glob' needs a string pattern"
    if op == "exists" and not isinstance(value, bool):
        return f"output field '{name}': 'exists' needs true or false"
    if op in ("eq", "ne") and not isinstance(value, _SCALAR):
        return f"output field '{name}': '{op}' needs a single value"
    return FieldCondition(name, op, value)


def _parse_action(raw: Any, bad: Any, base: Path) -> ActionSpec | None:
    line: int | None = getattr(raw, "line", None)
    if not isinstance(raw, dict) or "action" not in raw:
        bad("each action must be a mapping with 'action'", line)
        return None
    name = raw["action"]
    cls = ACTIONS.get(name) if isinstance(name, str) else None
    if cls is None:
        bad(f"unknown action {name!r} (known: {', '.join(sorted(ACTIONS))})", line)
        return None
    ok = True
    for key in sorted(set(raw) - _ACTION_KEYS):
        bad(f"action '{name}': unknown key '{key}'", line)
        ok = False
    for key in ("continue", "ignore_errors", "dry_run"):
        if key in raw and not isinstance(raw[key], bool):
            bad(f"action '{name}': '{key}' must be true or false", line)
            ok = False
    retries = raw.get("retries")
    if retries is not None and (
        isinstance(retries, bool) or not isinstance(retries, int) or retries < 0
    ):
        bad(f"action '{name}': 'retries' must be an integer >= 0", line)
        ok = False
    params = raw.get("parameters") or {}
    if not isinstance(params, dict):
        bad(f"action '{name}': 'parameters' must be a mapping", line)
        return None
    params = _LineDict(params, line=getattr(params, "line", line) or 0)
    for key in cls.path_params:  # relative paths are relative to the rules file
        if isinstance(params.get(key), str) and not Path(params[key]).is_absolute():
            params[key] = str(base / params[key])
    for problem in cls.validate(dict(params)):
        bad(f"action '{name}': {problem}", getattr(params, "line", line))
        ok = False
    if not ok:
        return None
    return ActionSpec(
        action=name,
        parameters=cls.with_defaults(dict(params)),
        continue_=raw.get("continue", True),
        ignore_errors=raw.get("ignore_errors", False),
        retries=retries,
        dry_run=raw.get("dry_run"),
        line=line or 0,
    )
