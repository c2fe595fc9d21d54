"""Which event types can a condition match? Used to index rules by event type.

Follows the idea of Falco's event-type resolver: comparisons of the event-type field with
``=``/``in``/``!=`` restrict the set; any other check leaves it open; ``and`` intersects,
``or`` unites, and ``not`` swaps what a node can make true with what it can make false.
"""

from __future__ import annotations

import sys

from lanner.engine import ast

_Sets = tuple[frozenset[str], frozenset[str]]
_NONE: frozenset[str] = frozenset()


def _pos_neg(node: ast.Expr, field: str, universe: frozenset[str], memo: dict[int, _Sets]) -> _Sets:
    """(types for which node may be true, types for which node may be false).

    ``memo`` holds the answer per group node, so the tree of a macro, shared by all its
    references, is analysed once.
    """
    if isinstance(node, ast.And | ast.Or | ast.Not):
        done = memo.get(id(node))
        if done is None:
            done = memo[id(node)] = _group(node, field, universe, memo)
        return done
    if (
        isinstance(node, ast.BinaryCheck)
        and isinstance(node.left, ast.FieldRef)
        and node.left.name == field
        and node.left.arg is None
    ):
        right = node.right
        if isinstance(right, ast.ListValue):
            names = frozenset(right.values)
        elif isinstance(right, ast.Value):
            names = frozenset([right.value])
        else:
            return universe, universe
        if node.op in ("=", "==", "in", "intersects"):
            matched = names & universe
            return matched, universe - matched
        if node.op == "!=":
            matched = names & universe
            return universe - matched, matched
    return universe, universe


def _group(node: ast.Expr, field: str, universe: frozenset[str], memo: dict[int, _Sets]) -> _Sets:
    # most checks leave both sets open (``universe`` itself): skip those set operations
    if isinstance(node, ast.And):
        pos, neg = universe, _NONE
        for child in node.children:
            p, n = _pos_neg(child, field, universe, memo)
            if p is not universe:
                pos = p if pos is universe else pos & p
            if neg is not universe:
                neg = universe if n is universe else neg | n
        return pos, neg
    if isinstance(node, ast.Or):
        pos, neg = _NONE, universe
        for child in node.children:
            p, n = _pos_neg(child, field, universe, memo)
            if pos is not universe:
                pos = universe if p is universe else pos | p
            if n is not universe:
                neg = n if neg is universe else neg & n
        return pos, neg
    assert isinstance(node, ast.Not)
    p, n = _pos_neg(node.child, field, universe, memo)
    return n, p


def event_types_of(expr: ast.Expr, field: str, universe: frozenset[str]) -> frozenset[str]:
    """The event types for which ``expr`` can be true."""
    # macros nested in macros make trees deeper than the parser's limit (as the compiler)
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old_limit, 20000))
    try:
        return _pos_neg(expr, field, universe, {})[0]
    finally:
        sys.setrecursionlimit(old_limit)
