"""Expansion of lists and macros before a condition is compiled.

Lists are substituted into the condition text, as Falco's rule loader does: a list name
delimited by blanks, parentheses, commas or ``=`` is replaced by its quoted items. Macros
are substituted in the syntax tree; a macro may only see macros defined before it, and a
macro that reaches itself again is a reference loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lanner.engine import ast

_BLANKS = " \t\n\r"
_DELIMS = _BLANKS + "(),="


def quote_item(item: str) -> str:
    """Quote a list item that holds a space, unless it is quoted already (as Falco)."""
    if " " in item and not item.startswith(('"', "'")):
        return f'"{item}"'
    return item


def substitute_list(condition: str, name: str, items: list[str]) -> tuple[str, bool]:
    """Replace each delimited occurrence of list ``name``; return (text, whether used)."""
    used = False
    start = condition.find(name)
    while start != -1:
        end = start + len(name)
        before_ok = start == 0 or condition[start - 1] in _DELIMS
        after_ok = end >= len(condition) or condition[end] in _DELIMS
        if before_ok and after_ok:
            while start > 0 and condition[start - 1] in _BLANKS:
                start -= 1
            while end < len(condition) and condition[end] in _BLANKS:
                end += 1
            sub = ", ".join(quote_item(i) for i in items)
            if not sub:
                if start > 0 and condition[start - 1] == ",":
                    start -= 1
                elif end < len(condition) and condition[end] == ",":
                    end += 1
            head = condition[:start] + " " if start > 0 else ""
            condition = head + sub + " " + condition[end:]
            start = len(head) + len(sub) + 1
            used = True
            start = condition.find(name, start)
        else:
            start = condition.find(name, start + 1)
    return condition, used


def substitute_lists(condition: str, lists: Iterable[tuple[str, list[str]]], used: set[str]) -> str:
    """Substitute every list into a condition, recording in ``used`` those that occurred."""
    for name, items in lists:
        if name in condition:
            condition, hit = substitute_list(condition, name, items)
            if hit:
                used.add(name)
    return condition


class MacroError(Exception):
    """An undefined macro or a reference loop, with the position of the reference."""

    def __init__(self, message: str, pos: ast.Pos) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


@dataclass(slots=True)
class MacroDef:
    """A parsed macro: its tree and which other macros it may see."""

    name: str
    expr: ast.Expr
    index: int  # position of its first definition
    visibility: int  # position of its last definition or append
    expanded: ast.Expr | None = None  # its tree with its macros substituted, once computed


def expand_macros(
    expr: ast.Expr,
    macros: Mapping[str, MacroDef],
    visibility: int,
    used: set[str],
    _chain: tuple[str, ...] = (),
) -> ast.Expr:
    """Return ``expr`` with every macro reference replaced by the macro's tree."""
    if isinstance(expr, ast.Identifier):
        macro = macros.get(expr.name)
        if macro is None or macro.index >= visibility:
            raise MacroError(f"Undefined macro '{expr.name}' used in filter.", expr.pos)
        if expr.name in _chain:
            loop = " -> ".join((*_chain[_chain.index(expr.name) :], expr.name))
            raise MacroError(f"Reference loop in macro '{expr.name}': {loop}", expr.pos)
        used.add(expr.name)
        if macro.expanded is None:
            # expanded once and shared, as Falco resolves each macro in place: a long chain
            # of macros costs linear time and no deep recursion. The macros it references
            # are recorded in ``used`` when that happens.
            chain = (*_chain, expr.name)
            macro.expanded = expand_macros(macro.expr, macros, macro.visibility, used, chain)
        return macro.expanded
    if isinstance(expr, ast.And):
        return ast.And(
            [expand_macros(c, macros, visibility, used, _chain) for c in expr.children], expr.pos
        )
    if isinstance(expr, ast.Or):
        return ast.Or(
            [expand_macros(c, macros, visibility, used, _chain) for c in expr.children], expr.pos
        )
    if isinstance(expr, ast.Not):
        return ast.Not(expand_macros(expr.child, macros, visibility, used, _chain), expr.pos)
    return expr


def walk(expr: ast.Expr) -> Iterable[ast.Expr]:
    """Every node of a tree, depth first."""
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.And | ast.Or):
            stack.extend(reversed(node.children))
        elif isinstance(node, ast.Not):
            stack.append(node.child)
