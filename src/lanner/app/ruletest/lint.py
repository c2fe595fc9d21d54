"""``lanner rules lint``: Falco's load warnings plus checks Falco does not make.

Beyond the loader's warnings (unused macros and lists, rules matching every event type,
unknown keys...), lint finds conditions that can never be true: a syscall rule whose
event types cancel out, and a conjunction that requires one field to equal two different
constants.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lanner.engine import ast
from lanner.engine.diagnostics import Diagnostic
from lanner.engine.engine import Engine
from lanner.engine.fields import SourceSpec
from lanner.engine.rules import Rule


@dataclass(slots=True)
class LintFinding:
    """One problem found in a rules file."""

    code: str
    message: str
    where: str

    def __str__(self) -> str:
        return f"{self.where}: {self.code}: {self.message}"


def _flatten_and(expr: ast.Expr) -> list[ast.Expr]:
    if isinstance(expr, ast.And):
        out: list[ast.Expr] = []
        for c in expr.children:
            out.extend(_flatten_and(c))
        return out
    return [expr]


def contradictions(expr: ast.Expr) -> list[str]:
    """Fields required to equal two different constants inside one conjunction."""
    found: list[str] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.And):
            wanted: dict[str, set[str]] = {}
            for child in _flatten_and(node):
                if (
                    isinstance(child, ast.BinaryCheck)
                    and child.op in ("=", "==")
                    and isinstance(child.left, ast.FieldRef)
                    and isinstance(child.right, ast.Value)
                ):
                    wanted.setdefault(child.left.text(), set()).add(child.right.value)
            for name, values in wanted.items():
                if len(values) > 1:
                    found.append(f"{name} must equal {sorted(values)} at once")
            stack.extend(_flatten_and(node))
        elif isinstance(node, ast.Or):
            stack.extend(node.children)
        elif isinstance(node, ast.Not):
            stack.append(node.child)
    return found


def _rule_findings(rule: Rule, sources: dict[str, SourceSpec]) -> list[LintFinding]:
    out = []
    spec = sources.get(rule.source)
    where = f"rule '{rule.name}'"
    typed = spec is not None and spec.event_types and rule.event_types is not None
    if typed and not rule.event_types:
        out.append(LintFinding("NEVER_TRUE", "no event type can satisfy the condition", where))
    if rule.expr is not None:
        for text in contradictions(rule.expr):
            out.append(LintFinding("NEVER_TRUE", text, where))
    return out


def lint(
    files: Iterable[str], sources: Iterable[SourceSpec]
) -> tuple[list[Diagnostic], list[LintFinding], bool]:
    """(loader diagnostics, extra findings, whether the files loaded)."""
    srcs = list(sources)
    engine = Engine(srcs)
    outcome = engine.load_rules(list(files))
    diags = [d for r in outcome.results for d in (*r.errors, *r.warnings)]
    findings: list[LintFinding] = []
    by_name = {s.name: s for s in srcs}
    for rule in outcome.ruleset:
        findings.extend(_rule_findings(rule, by_name))
    return diags, findings, outcome.successful
