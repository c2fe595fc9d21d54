"""Which outcomes (success, failure) of each syscall the loaded rules can match.

The probe drops in the kernel the exits nothing needs: a failed ``openat`` is sent only when
some rule could match a failed ``openat`` (the state engine ignores failed calls, except a
``connect`` returning EINPROGRESS). This module derives that from the rules' condition
trees, like the event-type resolver (``lanner.engine.evttypes``) but over pairs
(event type, outcome): checks of ``evt.failed``, ``evt.res``, ``evt.rawres`` and of
``fd.num`` on the exit of an fd-creating call restrict the outcomes; ``and`` intersects,
``or`` unites, ``not`` swaps what may be true with what may be false; any other check may be
true or false for every pair. The result is an over-approximation: a pair is dropped only
when no rule can be true for it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable

from lanner.engine import ast

from .. import event_table as et
from ..event import HAS_RES
from .syscalls import SYSCALL_NR

_NAMES: tuple[str, ...] = tuple(sorted(SYSCALL_NR))
_BIT: dict[str, int] = {n: i for i, n in enumerate(_NAMES)}
# a set of (type, outcome) pairs is an int: bit 2*i for type i succeeded, 2*i+1 failed
_OK_PAIRS = sum(1 << (2 * i) for i in range(len(_NAMES)))
_FAIL_PAIRS = _OK_PAIRS << 1
_UNIVERSE = _OK_PAIRS | _FAIL_PAIRS
_BOTH = (_UNIVERSE, _UNIVERSE)


def _every_exit(has: list[bool]) -> int:
    """Pairs mask of the types all of whose exit event versions have the property."""
    seen: dict[str, bool] = {}
    for t, (name, direction) in enumerate(zip(et.EVENT_NAMES, et.EVENT_DIRS, strict=True)):
        if direction == "<" and name in _BIT:
            seen[name] = seen.get(name, True) and has[t]
    mask = 0
    for name, every in seen.items():
        if every:
            mask |= 3 << (2 * _BIT[name])
    return mask


# exits that create an fd: fd.num is their result
_CREATES = _every_exit([bool(f & et.EF_CREATES_FD) for f in et.EVENT_FLAGS])
# exits with a return value: without one evt.res, evt.rawres and evt.failed have no value
_RES = _every_exit(list(HAS_RES))


def _types_mask(names: Iterable[str]) -> int:
    """Pairs mask of both outcomes of the named types."""
    mask = 0
    for n in names:
        i = _BIT.get(n)
        if i is not None:
            mask |= 3 << (2 * i)
    return mask


def _values(right: ast.Expr) -> list[str] | None:
    if isinstance(right, ast.ListValue):
        return list(right.values)
    if isinstance(right, ast.Value):
        return [right.value]
    return None


def _int(text: str) -> int | None:
    try:
        return int(text, 0)
    except ValueError:
        return None


def _range_may(op: str, values: list[int], lo: int | None, hi: int | None) -> tuple[bool, bool]:
    """(may be true, may be false) of ``x op values`` for some integer x in [lo, hi]
    (None: unbounded; a bounded interval is a single value here)."""
    if lo is not None and lo == hi:
        x = lo
        if op in ("=", "==", "in"):
            return x in values, x not in values
        if op == "!=":
            return x not in values, x in values
    else:
        inside = any((lo is None or v >= lo) and (hi is None or v <= hi) for v in values)
        if op in ("=", "==", "in"):
            return inside, True
        if op == "!=":
            return True, inside
    if len(values) != 1:
        return True, True
    v = values[0]
    if op in ("<", "<="):
        bound = v if op == "<=" else v - 1  # true for x <= bound
        return lo is None or lo <= bound, hi is None or hi > bound
    if op in (">", ">="):
        bound = v if op == ">=" else v + 1  # true for x >= bound
        return hi is None or hi >= bound, lo is None or lo < bound
    return True, True


Interval = tuple[int | None, int | None]


def _numeric(op: str, texts: list[str], ok: Interval, fail: Interval) -> tuple[int, int]:
    """pos/neg pairs of a comparison of a value that lies in ``ok`` when the call
    succeeded and in ``fail`` when it failed."""
    ints = [_int(t) for t in texts]
    if not ints or None in ints:
        return _BOTH
    values = [v for v in ints if v is not None]
    ok_true, ok_false = _range_may(op, values, *ok)
    f_true, f_false = _range_may(op, values, *fail)
    pos = (_OK_PAIRS if ok_true else 0) | (_FAIL_PAIRS if f_true else 0)
    neg = (_OK_PAIRS if ok_false else 0) | (_FAIL_PAIRS if f_false else 0)
    return pos, neg


_RES_STRING_OPS: dict[str, Callable[[str, str], bool]] = {
    "=": lambda a, b: a == b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "in": lambda a, b: a == b,
    "startswith": str.startswith,
    "endswith": str.endswith,
    "contains": lambda a, b: b in a,
    "icontains": lambda a, b: b.lower() in a.lower(),
}


def _res_check(op: str, texts: list[str]) -> tuple[int, int]:
    """evt.res: "SUCCESS" on success, an errno name (or the number) on failure."""
    test = _RES_STRING_OPS.get(op)
    if test is None:
        return _BOTH
    # on success the value is exactly "SUCCESS"; on failure any errno name
    if op == "!=" and len(texts) != 1:
        return _BOTH
    ok_true = any(test("SUCCESS", v) for v in texts)
    fail_may = not (op in ("=", "==", "in") and all(v == "SUCCESS" for v in texts))
    pos = (_OK_PAIRS if ok_true else 0) | (_FAIL_PAIRS if fail_may else 0)
    neg = (0 if ok_true else _OK_PAIRS) | _FAIL_PAIRS
    return pos, neg


def _bool(text: str) -> bool | None:
    low = text.lower()
    return True if low == "true" else False if low == "false" else None


def _result_check(name: str, op: str, texts: list[str]) -> tuple[int, int]:
    """pos/neg pairs of a check of the call's result, for types that have one."""
    if name == "evt.failed":
        b = _bool(texts[0]) if op in ("=", "==", "!=") and len(texts) == 1 else None
        if b is None:
            return _BOTH
        if op == "!=":
            b = not b
        return (_FAIL_PAIRS, _OK_PAIRS) if b else (_OK_PAIRS, _FAIL_PAIRS)
    if name == "evt.res":
        return _res_check(op, texts)
    return _numeric(op, texts, (0, None), (None, -1))  # evt.rawres


def _leaf(node: ast.BinaryCheck) -> tuple[int, int]:
    left = node.left
    if not isinstance(left, ast.FieldRef) or left.arg is not None:
        return _BOTH
    texts = _values(node.right)
    if texts is None:
        return _BOTH
    op = node.op
    name = left.name
    if name == "evt.type":
        if op in ("=", "==", "in", "intersects"):
            m = _types_mask(texts)
            return m, _UNIVERSE & ~m
        if op == "!=":
            m = _types_mask(texts)
            return _UNIVERSE & ~m, m
        return _BOTH
    if name in ("evt.failed", "evt.res", "evt.rawres"):
        pos, neg = _result_check(name, op, texts)
        return (pos & _RES) | (_UNIVERSE & ~_RES), (neg & _RES) | (_UNIVERSE & ~_RES)
    if name == "fd.num":
        # on the exit of an fd-creating call fd.num is the new fd, or -1 when the call
        # failed (no value at all without a thread: only "may be true" is restricted)
        pos, _neg = _numeric(op, texts, (0, None), (-1, -1))
        return (pos & _CREATES) | (_UNIVERSE & ~_CREATES), _UNIVERSE
    return _BOTH


def _pos_neg(node: ast.Expr, memo: dict[int, tuple[int, int]]) -> tuple[int, int]:
    """(pairs for which node may be true, pairs for which it may be false); ``memo`` holds
    the answers for nodes already seen (expanded macros are shared subtrees)."""
    known = memo.get(id(node))
    if known is not None:
        return known
    if isinstance(node, ast.And):
        pos, neg = _UNIVERSE, 0
        for child in node.children:
            p, n = _pos_neg(child, memo)
            pos &= p
            neg |= n
    elif isinstance(node, ast.Or):
        pos, neg = 0, _UNIVERSE
        for child in node.children:
            p, n = _pos_neg(child, memo)
            pos |= p
            neg &= n
    elif isinstance(node, ast.Not):
        neg, pos = _pos_neg(node.child, memo)
    elif isinstance(node, ast.BinaryCheck):
        pos, neg = _leaf(node)
    else:
        pos, neg = _BOTH
    memo[id(node)] = (pos, neg)
    return pos, neg


def condition_outcomes(expr: ast.Expr) -> dict[str, int]:
    """Per syscall type, the outcomes for which ``expr`` may hold (``syscalls.OK`` and
    ``syscalls.FAIL`` bits; types it can never match are left out)."""
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old_limit, 20000))  # macro trees are deep (as the compiler)
    try:
        pos = _pos_neg(expr, {})[0]
    finally:
        sys.setrecursionlimit(old_limit)
    out = {}
    for name, i in _BIT.items():
        bits = (pos >> (2 * i)) & 3
        if bits:
            out[name] = bits  # bit 0: OK, bit 1: FAIL
    return out


def rule_outcomes(exprs: Iterable[ast.Expr | None]) -> dict[str, int] | None:
    """Union of :func:`condition_outcomes` over rule conditions; None (everything) when a
    condition is unknown."""
    out: dict[str, int] = {}
    for expr in exprs:
        if expr is None:
            return None
        for name, bits in condition_outcomes(expr).items():
            out[name] = out.get(name, 0) | bits
    return out
