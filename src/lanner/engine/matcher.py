"""Per-event-type matchers: the candidate rules of one event type in one function.

Each rule's own predicate extracts its fields afresh, yet the rules that see one event
type share most of them: Falco's rules for ``open`` all go through ``open_read`` or
``open_write`` and then ``proc.name``, ``fd.name``... The matcher generated here
evaluates the rules of one event type in rule order inside a single Python function where

* every field getter runs at most once per event (its value is kept in a local), and
* checks on the event type itself are decided when the matcher is generated, since it
  only ever sees events of that type (``evt.type in (open, openat)`` becomes ``True``,
  ``evt.type = execve`` ``False``, and rules that can no longer hold are left out), and
* the costly operands of an ``and`` (text rendering such as ``evt.arg.flags``, by the
  fields' ``cost``) run after the others, which otherwise keep the rule's order (authors
  put the selective checks first). This changes no result: field getters have no side
  effects, and a check that raises makes the rule not match whichever operand ran first.

Semantics are those of the rules' predicates: a rule whose evaluation raises does not
match and does not stop the others; the first match wins unless ``match_all``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from lanner.engine import ast
from lanner.engine.compiler import _MAX_INLINE_DEPTH, ConditionCompiler, _Codegen
from lanner.engine.expand import tree_size
from lanner.exceptions import CompileError
from lanner.records import Record

Matcher = Callable[[Any], list[Any]]
"""event -> the rules that match it (in rule order)."""

_GETTER_CALL = re.compile(r"\b(_g\d+)\(e\)")
_COSTLY_OPS = {"regex": 3, "glob": 2, "iglob": 2, "pmatch": 2, "icontains": 1}
_COSTLY = 10  # an operand at least this costly runs after the cheap ones of its ``and``
_TYPE_OPS = {"=", "==", "!=", "in", "intersects"}

MATCHER_INLINE_NODES = 5_000
"""The most condition nodes one matcher copies in (the upstream syscall files: 1,089 for
their busiest event type); the rules past it run through their own predicate."""

WIDE_RULE_TYPES = 64
"""A rule that can match more event types than this (upstream: 11 at most) runs through its
own predicate, compiled once, instead of being copied into the matcher of each type."""

ALL_MATCHERS_INLINE_NODES = 200_000
"""The most condition nodes all the matchers of a ruleset copy in together."""


class InlineBudget(Record):
    """Condition nodes the matchers of one ruleset may still copy in.

    Without bounds, a macro of a few thousand nodes used by rules that can match any event
    type (a few KB of rules) is copied into hundreds of matchers: seconds of code
    generation at the first event of each type. Rules left out run through their own
    predicate: the same result, without sharing field values with the other rules.
    """

    __slots__ = __match_args__ = ("remaining", "per_matcher", "wide_types", "predicates")
    remaining: int
    per_matcher: int
    wide_types: int
    predicates: list[Any]  # predicates the matchers call

    def __init__(
        self,
        remaining: int = ALL_MATCHERS_INLINE_NODES,
        per_matcher: int = MATCHER_INLINE_NODES,
        wide_types: int = WIDE_RULE_TYPES,
        predicates: list[Any] | None = None,
    ) -> None:
        self.remaining = remaining
        self.per_matcher = per_matcher
        self.wide_types = wide_types
        self.predicates = [] if predicates is None else predicates


class _Unset:
    """The value of a field local before its getter ran."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<unset>"


_UNSET = _Unset()


class _TypedCodegen(_Codegen):
    """Codegen that knows the event type and folds the checks on it into constants."""

    def __init__(self, compiler: ConditionCompiler, event_type: str | None) -> None:
        super().__init__(compiler)
        self.event_type = event_type

    def expr(self, node: ast.Expr, depth: int) -> str:
        if depth > _MAX_INLINE_DEPTH:
            return super().expr(node, depth)
        if isinstance(node, ast.And):
            # costly operands last; stable, so the others keep the rule's order
            children = sorted(node.children, key=lambda c: self.cost(c) >= _COSTLY)
            parts = [self.expr(c, depth + 1) for c in children]
            if "False" in parts:
                return "False"
            parts = [p for p in parts if p != "True"]
            return "(" + " and ".join(parts) + ")" if parts else "True"
        if isinstance(node, ast.Or):
            parts = [self.expr(c, depth + 1) for c in node.children]
            if "True" in parts:
                return "True"
            parts = [p for p in parts if p != "False"]
            return "(" + " or ".join(parts) + ")" if parts else "False"
        if isinstance(node, ast.Not):
            inner = self.expr(node.child, depth + 1)
            if inner in ("True", "False"):
                return "False" if inner == "True" else "True"
            return f"(not {inner})"
        return super().expr(node, depth)

    def cost(self, node: ast.Expr) -> int:
        """A static estimate of what evaluating one check costs (its fields, its operator);
        0 for nested ``and``/``or`` groups, which are left where the rule put them."""
        if isinstance(node, ast.FieldRef):
            found = self.compiler.fields.resolve(node.name)
            return found[0].cost if found is not None else 1
        if isinstance(node, ast.Transformer):
            return 1 + self.cost(node.child)
        if isinstance(node, ast.BinaryCheck):
            right = node.right
            extra = self.cost(right) if isinstance(right, ast.Transformer) else 0
            return self.cost(node.left) + _COSTLY_OPS.get(node.op, 0) + extra
        if isinstance(node, ast.UnaryCheck):
            return self.cost(node.left)
        if isinstance(node, ast.Not):
            return self.cost(node.child)
        return 0  # values, and nested and/or: those keep their place

    def check(self, node: ast.BinaryCheck, element: Any = None) -> str:
        decided = self._event_type_check(node) if element is None else None
        if decided is not None:
            return decided
        return super().check(node, element)

    def _event_type_check(self, node: ast.BinaryCheck) -> str | None:
        """``True``/``False`` for a plain check of the event type against constants."""
        left, right = node.left, node.right
        if (
            self.event_type is None
            or not isinstance(left, ast.FieldRef)
            or left.name != self.compiler.event_type_field
            or left.arg is not None
            or node.op not in _TYPE_OPS
        ):
            return None
        if isinstance(right, ast.ListValue):
            items = right.values
        elif isinstance(right, ast.Value):
            items = [right.value]
        else:
            return None
        for item in items:  # the same validation as the rule's own compilation
            if self.compiler.event_types and item not in self.compiler.event_types:
                raise CompileError(f"unknown event type {item}", right.pos)
        if node.op in ("=", "=="):
            hit = self.event_type == items[0]
        elif node.op == "!=":
            hit = self.event_type != items[0]
        else:
            hit = self.event_type in items
        return "True" if hit else "False"


def compile_matcher(
    rules: Sequence[Any],
    compiler: ConditionCompiler,
    event_type: str | None,
    match_all: bool,
    on_error: Callable[[str, BaseException], None] | None = None,
    budget: InlineBudget | None = None,
) -> Matcher:
    """One function evaluating ``rules`` (in order) against events of ``event_type``.

    ``rules`` are :class:`~lanner.engine.rules.Rule` objects; a rule without its
    expanded condition (``expr``) is evaluated through its own predicate. A rule whose
    condition raises on an event does not match it; ``on_error(rule name, exception)``
    hears of it and the next rules are still evaluated. With ``budget``, rules are copied
    in only within its bounds (see :class:`InlineBudget`).
    """
    gen = _TypedCodegen(compiler, event_type)
    blocks: list[str] = []
    room = budget.per_matcher if budget is not None else None
    sizes: dict[int, int] = {}
    for rule in rules:
        cond = None
        if rule.expr is not None:
            size = 0
            if budget is not None and room is not None:
                size = tree_size(rule.expr, sizes)
                wide = rule.event_types is None or len(rule.event_types) > budget.wide_types
                if (event_type is not None and wide) or size > min(room, budget.remaining):
                    size = -1  # not copied in
            if size >= 0:
                try:
                    cond = gen.expr(rule.expr, 0)
                except (CompileError, RecursionError):
                    cond = None
                if cond is not None and budget is not None and room is not None:
                    room -= size
                    budget.remaining -= size
        if cond is None:
            cond = f"{gen.bind(rule.predicate, 'p')}(e)"
            if budget is not None:
                budget.predicates.append(rule.predicate)
        if cond == "False":
            continue
        hit = (
            f"_hits.append({gen.bind(rule, 'r')})"
            if match_all
            else f"return [{gen.bind(rule, 'r')}]"
        )
        blocks.append(f"    try:\n        if {cond}:\n            {hit}\n")
        if on_error is None:
            blocks.append("    except Exception:\n        pass\n")
        else:
            err, name = gen.bind(on_error, "err"), gen.bind(rule.name, "n")
            blocks.append(f"    except Exception as _x:\n        {err}({name}, _x)\n")
    body = "".join(blocks)
    names = sorted(set(_GETTER_CALL.findall(body)))
    body = _GETTER_CALL.sub(
        lambda m: f"({m[1]}_v if {m[1]}_v is not _U else ({m[1]}_v := {m[1]}(e)))", body
    )
    head = "def _match(e):\n"
    if names:
        head += "    " + " = ".join(f"{n}_v" for n in names) + " = _U\n"
    if match_all:
        head += "    _hits = []\n"
    tail = "    return _hits\n" if match_all else "    return []\n"
    gen.ns["_U"] = _UNSET
    exec(compile(head + body + tail, f"<matcher {event_type}>", "exec"), gen.ns)
    fn: Matcher = gen.ns.pop("_match")
    return fn
