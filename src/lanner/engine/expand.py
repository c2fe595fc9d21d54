"""Expansion of lists and macros before a condition is compiled.

Lists are substituted into the condition text, as Falco's rule loader does: a list name
delimited by blanks, parentheses, commas or ``=`` is replaced by its quoted items. Macros
are substituted in the syntax tree; a macro may only see macros defined before it, and a
macro that reaches itself again is a reference loop.

Each macro is expanded once and its tree shared by every reference, so expanding is linear
in the rules' text; the expanded condition, counted as a tree (what evaluating it may
cost), is bounded by ``MAX_CONDITION_NODES``: a few lines of macros that each use the
previous one twice would otherwise double the condition at every level.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from lanner.engine import ast
from lanner.exceptions import ListBudgetError, MacroError
from lanner.records import Record

_BLANKS = " \t\n\r"
_DELIMS = _BLANKS + "(),="


def quote_item(item: str) -> str:
    """Quote a list item that holds a space, unless it is quoted already (as Falco)."""
    if " " in item and not item.startswith(('"', "'")):
        return f'"{item}"'
    return item


def substitute_list(
    condition: str, name: str, items: list[str], max_items: int | None = None
) -> tuple[str, int]:
    """Replace each delimited occurrence of list ``name``; return (text, occurrences).

    With ``max_items``, raise :class:`ListBudgetError` before copying more items than that.
    """
    hits = 0
    start = condition.find(name)
    while start != -1:
        end = start + len(name)
        before_ok = start == 0 or condition[start - 1] in _DELIMS
        after_ok = end >= len(condition) or condition[end] in _DELIMS
        if before_ok and after_ok:
            if max_items is not None and (hits + 1) * len(items) > max_items:
                raise ListBudgetError(name, len(items), hits + 1)
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
            hits += 1
            start = condition.find(name, start)
        else:
            start = condition.find(name, start + 1)
    return condition, hits


MAX_LIST_ITEMS = 250_000
"""The most list items that references to lists may copy into conditions, all conditions
together (the three upstream syscall files copy 1,815). Each reference copies every
item of its list into the condition's text, which is then parsed: without a bound, a 260 KB
file whose 2,000 rules each use a 5,000-item list took 107 s and 1.9 GB to load."""


class ListBudget(Record):
    """The list items copied into conditions so far, against their limit."""

    __slots__ = __match_args__ = ("limit", "used", "refused")
    limit: int
    used: int
    refused: int  # conditions refused because they would pass the limit

    def __init__(self, limit: int = MAX_LIST_ITEMS, used: int = 0, refused: int = 0) -> None:
        self.limit = limit
        self.used = used
        self.refused = refused


def substitute_lists(
    condition: str,
    lists: Iterable[tuple[str, list[str]]],
    used: set[str],
    budget: ListBudget | None = None,
) -> str:
    """Substitute every list into a condition, recording in ``used`` those that occurred.

    With ``budget``, the items copied are counted there; :class:`ListBudgetError` when
    this condition would pass its limit (nothing of this condition is counted then)."""
    copied = 0
    for name, items in lists:
        if name in condition:
            room = None if budget is None else budget.limit - budget.used - copied
            condition, hits = substitute_list(condition, name, items, room)
            if hits:
                used.add(name)
                copied += hits * len(items)
    if budget is not None:
        budget.used += copied
    return condition


MAX_CONDITION_NODES = 10_000
"""The most nodes one condition may have once its macros are expanded.

Every node is evaluated for an event in the worst case, so this bounds the cost of one
rule per event as well as its compile time and size. The largest rule of the upstream
syscall files has 463 nodes."""

MAX_TOTAL_NODES = 200_000
"""The most nodes all the conditions of one ruleset may have together, macros expanded
(the three upstream syscall files: 2,375)."""


class MacroDef(Record):
    """A parsed macro: its tree, which other macros it may see, and once expanded, the
    expanded tree (shared by every reference) or why it cannot be used."""

    __slots__ = __match_args__ = (
        "name",
        "expr",
        "index",
        "visibility",
        "where",
        "expanded",
        "size",
        "error",
        "expanding",
    )
    name: str
    expr: ast.Expr
    index: int  # position of its first definition
    visibility: int  # position of its last definition or append
    where: str  # "file:line" of its definition, for messages
    expanded: ast.Expr | None
    size: int  # nodes of the expanded tree, each macro reference counted in full
    error: MacroError | None  # why it cannot be used
    expanding: bool

    def __init__(
        self,
        name: str,
        expr: ast.Expr,
        index: int,
        visibility: int,
        where: str = "",
        expanded: ast.Expr | None = None,
        size: int = 0,
        error: MacroError | None = None,
        expanding: bool = False,
    ) -> None:
        self.name = name
        self.expr = expr
        self.index = index
        self.visibility = visibility
        self.where = where
        self.expanded = expanded
        self.size = size
        self.error = error
        self.expanding = expanding

    def label(self) -> str:
        """The name, with where it is defined."""
        return f"{self.name} ({self.where})" if self.where else self.name


def macro_references(expr: ast.Expr) -> list[ast.Identifier]:
    """The macro references written in a (not yet expanded) condition, in order."""
    return [n for n in walk(expr) if isinstance(n, ast.Identifier)]


class MacroExpander:
    """Expands macro references, each macro once: its expanded tree is shared by every
    reference, so the result is a DAG whose size as a tree is tracked and bounded.

    ``expansions`` counts the macros expanded (at most one per macro, whatever the
    number of references); ``max_nodes`` bounds the size of any expanded condition.
    """

    def __init__(
        self, macros: Mapping[str, MacroDef], max_nodes: int = MAX_CONDITION_NODES
    ) -> None:
        self.macros = macros
        self.max_nodes = max_nodes
        self.expansions = 0
        self._chain: list[MacroDef] = []

    def macro(self, mdef: MacroDef, used: set[str]) -> ast.Expr:
        """The expanded tree of a macro; MacroError (positioned in its own condition)
        if it cannot be used."""
        if mdef.error is not None:
            raise mdef.error
        if mdef.expanded is not None:
            return mdef.expanded
        mdef.expanding = True
        self._chain.append(mdef)
        try:
            self.expansions += 1
            tree, size = self._expand(mdef.expr, mdef.visibility, used)
            if size > self.max_nodes:
                raise MacroError(self._too_large(f"Macro '{mdef.name}'", mdef.expr, size), None)
        except MacroError as exc:
            if exc.root:
                exc.cause = f"{exc.message} (in macro '{mdef.name}' at {mdef.where})"
            mdef.error = exc
            raise
        finally:
            self._chain.pop()
            mdef.expanding = False
        mdef.expanded, mdef.size = tree, size
        return tree

    def expand(self, expr: ast.Expr, used: set[str]) -> tuple[ast.Expr, int]:
        """A rule's condition with its macros expanded, and its size as a tree."""
        tree, size = self._expand(expr, 1 << 62, used)
        if size > self.max_nodes:
            raise MacroError(self._too_large("Condition", expr, size), None)
        return tree, size

    # -- internals -----------------------------------------------------------------------

    def _expand(self, expr: ast.Expr, visibility: int, used: set[str]) -> tuple[ast.Expr, int]:
        if isinstance(expr, ast.Identifier):
            return self._reference(expr, visibility, used)
        if isinstance(expr, ast.And | ast.Or):
            children = []
            size = 1
            for child in expr.children:
                tree, n = self._expand(child, visibility, used)
                children.append(tree)
                size += n
            return type(expr)(children, expr.pos), size
        if isinstance(expr, ast.Not):
            tree, n = self._expand(expr.child, visibility, used)
            return ast.Not(tree, expr.pos), n + 1
        return expr, 1

    def _reference(
        self, ref: ast.Identifier, visibility: int, used: set[str]
    ) -> tuple[ast.Expr, int]:
        mdef = self.macros.get(ref.name)
        if mdef is None:
            raise MacroError(f"Undefined macro '{ref.name}' used in filter.", ref.pos)
        hidden = mdef.index >= visibility
        if mdef.expanding or hidden:
            loop = self._loop_through(mdef)
            if loop is not None:
                path = " -> ".join([m.label() for m in loop] + [loop[0].name])
                message = f"Reference loop in macro '{loop[0].name}': {path}"
                if hidden:
                    message += " (a macro can only use the macros defined before it)"
                raise MacroError(message, ref.pos)
            raise MacroError(
                f"Undefined macro '{ref.name}' used in filter. (A macro can only use the "
                f"macros defined before it; '{ref.name}' is defined at {mdef.where}.)",
                ref.pos,
            )
        used.add(ref.name)
        try:
            tree = self.macro(mdef, used)
        except MacroError as exc:
            raise MacroError(
                f"Macro '{ref.name}' used in filter is invalid: {exc.cause}",
                ref.pos,
                root=False,
                cause=exc.cause,
            ) from None
        return tree, mdef.size

    def _loop_through(self, target: MacroDef) -> list[MacroDef] | None:
        """If ``target``'s references (visible or not) lead back into the macros being
        expanded, the loop, from the first of its macros to the one that closes it."""
        on_chain = {id(m): i for i, m in enumerate(self._chain)}
        if id(target) in on_chain:
            return self._chain[on_chain[id(target)] :]
        # breadth first over the written references: the shortest way back to the chain
        parent: dict[str, MacroDef | None] = {target.name: None}
        queue = [target]
        while queue:
            following: list[MacroDef] = []
            for mdef in queue:
                for ref in macro_references(mdef.expr):
                    other = self.macros.get(ref.name)
                    if other is None or other.name in parent:
                        continue
                    parent[other.name] = mdef
                    if id(other) in on_chain:
                        back: list[MacroDef] = []  # target ... mdef
                        step: MacroDef | None = mdef
                        while step is not None:
                            back.append(step)
                            step = parent[step.name]
                        return self._chain[on_chain[id(other)] :] + back[::-1]
                    following.append(other)
            queue = following
        return None

    def _too_large(self, what: str, expr: ast.Expr, size: int) -> str:
        counts: dict[str, int] = {}
        for ref in macro_references(expr):
            counts[ref.name] = counts.get(ref.name, 0) + 1
        used = [(self.macros[n], c) for n, c in counts.items() if n in self.macros]
        used.sort(key=lambda mc: -mc[0].size * mc[1])
        text = (
            f"{what} expands to {size:,} nodes, more than the limit of {self.max_nodes:,} "
            "(each reference to a macro copies its whole condition)"
        )
        parts = [
            f"'{m.name}' ({m.size:,} nodes) " + ("once" if c == 1 else f"{c} times")
            for m, c in used[:3]
        ]
        if parts:
            text += "; it uses " + ", ".join(parts)
        return text


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


def walk_unique(expr: ast.Expr) -> Iterable[ast.Expr]:
    """Every distinct node of an expanded condition once, depth first: a macro's tree,
    shared by all its references, is visited at its first one only."""
    seen: set[int] = set()
    stack = [expr]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        if isinstance(node, ast.And | ast.Or):
            stack.extend(reversed(node.children))
        elif isinstance(node, ast.Not):
            stack.append(node.child)


def tree_size(expr: ast.Expr, memo: dict[int, int]) -> int:
    """Nodes of an expanded condition counted as a tree (each macro reference in full),
    in time linear in its distinct nodes and without recursion; ``memo`` keeps the answer
    per group node."""

    def children(node: ast.Expr) -> list[ast.Expr]:
        if isinstance(node, ast.And | ast.Or):
            return node.children
        if isinstance(node, ast.Not):
            return [node.child]
        return []

    def known(node: ast.Expr) -> int | None:
        return memo.get(id(node)) if children(node) else 1

    stack: list[tuple[ast.Expr, bool]] = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if known(node) is not None:
            continue
        kids = children(node)
        if ready:
            memo[id(node)] = 1 + sum(known(k) or 0 for k in kids)
        else:
            stack.append((node, True))
            stack.extend((k, False) for k in kids if known(k) is None)
    return known(expr) or 0
