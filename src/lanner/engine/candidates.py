"""Candidate conditions: cheap necessary conditions derived from the rules, per event type.

The per-event-type index already drops events of types no active rule can match. This
module goes one step further: for every event type it derives from the active rules'
expanded conditions (lists, macros and exceptions applied) one formula over a few cheap
fields that a source can evaluate without building the event for the rules (the syscall
source's native core: ``fd.name``, ``proc.name``, the open flags...). The formula is an
over-approximation: whenever some active rule's condition holds on an event, the
formula of the event's type holds too, so an event that fails it can be dropped without
losing an alert.

Derivation follows the shape of :mod:`lanner.engine.evttypes`: every node gets two
formulas, what must hold when the node is true (``pos``) and what must hold when it is
false (``neg``). ``and``/``or`` combine them, ``not`` swaps them. A check on a supported
field with a representable operator becomes an exact :class:`Atom` (``neg`` is its exact
negation); a few checks have a weaker exact atom (``glob`` implies a literal prefix,
``neg`` is then TRUE); everything else is TRUE both ways. Checks on the event type are
decided for each type. The formulas are in negation normal form (negation lives in the
atoms), so replacing any sub-formula by TRUE keeps them sound; that is how a size budget
is kept.

A missing field value (None) makes an atom evaluate to its ``missing`` flag: false for a
plain check, true for a negated one, exactly as the compiled predicates behave.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from functools import lru_cache
from typing import Any

from lanner.engine import ast, values
from lanner.engine.compiler import ConditionCompiler
from lanner.engine.fields import ArgKind, FieldTable, FieldType, SourceSpec
from lanner.engine.rules import Rule, Ruleset
from lanner.exceptions import CompileError, FieldValueError
from lanner.records import Record

OPS = (
    "in",
    "prefix",
    "suffix",
    "contains",
    "pmatch",
    "lt",
    "le",
    "gt",
    "ge",
    "exists",
    "icontains",
)
"""Atom operators. ``in``: equal to one of the values; ``prefix``/``suffix``/``contains``:
starts with, ends with, contains one of the strings; ``pmatch``: path-prefix match as the
``pmatch`` operator; ``lt``/``le``/``gt``/``ge``: numeric order against the one value;
``exists``: the field has a value; ``icontains``: contains one of the strings (given in
lower case) once lower-cased, as the operator (only ever a positive atom: a native
evaluator may not know the answer for text that is not ASCII, and then keeps the event)."""

MAX_ATOMS = 4096
"""Per event type, formulas with more atoms than this are weakened (sub-formulas become
TRUE) until they fit."""

_SCALAR_TYPES = {FieldType.STRING, FieldType.NUMBER, FieldType.PORT, FieldType.BOOL}
_NUMERIC = {FieldType.NUMBER, FieldType.PORT}
_ORDER = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
_STRING_OPS = {"startswith": "prefix", "endswith": "suffix", "contains": "contains"}
_MERGEABLE = {"in", "prefix", "suffix", "contains", "pmatch"}
_GLOB_SPECIAL = frozenset("*?[\\")


@lru_cache(maxsize=4096)
def _pmatch(prefixes: tuple[str, ...]) -> Callable[[str], bool]:
    return values.pmatch_matcher(prefixes)


def _match(op: str, value: Any, vals: tuple[Any, ...]) -> bool:
    """Whether a present value satisfies ``op`` against ``vals`` (not negated)."""
    if op == "in":
        return value in vals
    if op == "exists":
        return True
    if op == "prefix":
        return bool(value.startswith(vals))
    if op == "suffix":
        return bool(value.endswith(vals))
    if op == "contains":
        return any(v in value for v in vals)
    if op == "pmatch":
        return _pmatch(vals)(value)
    if op == "icontains":
        lowered = value.lower()
        return any(v in lowered for v in vals)
    c = vals[0]
    if op == "lt":
        return bool(value < c)
    if op == "le":
        return bool(value <= c)
    if op == "gt":
        return bool(value > c)
    if op == "ge":
        return bool(value >= c)
    raise ValueError(f"unknown atom operator {op!r}")


class Atom:
    """One check on one field: ``op`` against ``values``, possibly negated.

    ``field`` is the canonical field text (``fd.name``, ``proc.aname[2]``). On an event
    without a value for the field the atom is ``missing``; otherwise it is the operator's
    result, inverted when ``negate``. :meth:`negated` is the exact negation.
    """

    __slots__ = ("_hash", "_set", "field", "missing", "negate", "op", "values")

    def __init__(
        self,
        field: str,
        op: str,
        values: Iterable[Any] = (),
        negate: bool = False,
        missing: bool = False,
    ) -> None:
        if op not in OPS:
            raise ValueError(f"unknown atom operator {op!r}")
        self.field = field
        self.op = op
        unique = set(values)
        try:
            ordered = sorted(unique)
        except TypeError:  # values of several types
            ordered = sorted(unique, key=_sort_key)
        self.values: tuple[Any, ...] = tuple(ordered)
        self._set = frozenset(unique) if op == "in" else None
        self.negate = negate
        self.missing = missing
        self._hash = hash((field, op, self.values, negate, missing))

    def negated(self) -> Atom:
        """The atom that holds exactly when this one does not (missing values included)."""
        return Atom(self.field, self.op, self.values, not self.negate, not self.missing)

    def holds(self, value: Any) -> bool:
        """The atom's truth for a field value (None: the event has none; a tuple: the values
        of a field with several, of which any may satisfy the check)."""
        if value is None:
            return self.missing
        if isinstance(value, tuple):
            return self._holds_any(value)
        if self._set is not None:
            return (value in self._set) != self.negate
        return _match(self.op, value, self.values) != self.negate

    def _holds_any(self, items: tuple[Any, ...]) -> bool:
        """As the rules check a field with several values: true when the check holds for
        any of them (inverted when negated); true whenever a check cannot be decided (an
        item that is None or of another type: the event is kept)."""
        if self.op == "exists":
            return True
        hit = False
        for item in items:
            if item is None or isinstance(item, tuple):
                return True
            if self._set is not None:
                hit = hit or item in self._set
                continue
            try:
                hit = _match(self.op, item, self.values) or hit
            except Exception:  # the rules' check would raise: unknown
                return True
        return hit != self.negate

    def _key(self) -> tuple[Any, ...]:
        return (self.field, self.op, self.values, self.negate, self.missing)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Atom) and self._key() == other._key()

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"Atom({self.field!r}, {self.op!r}, {self.values!r}, {self.negate}, {self.missing})"

    def __str__(self) -> str:
        vals = ", ".join(str(v) for v in self.values)
        text = f"{self.field} {self.op}" + (f" ({vals})" if self.op != "exists" else "")
        if self.negate:
            text = f"not {text}"
        return text + (" [missing: true]" if self.missing else "")


def _sort_key(v: Any) -> tuple[str, str]:
    return (type(v).__name__, repr(v))


class _Junction:
    """A flattened, de-duplicated ``and``/``or`` of formulas (build with all_of/any_of)."""

    __slots__ = ("_hash", "terms")
    word = ""

    def __init__(self, terms: tuple[Formula, ...]) -> None:
        self.terms = terms
        self._hash = hash((self.word, terms))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.terms == other.terms

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.terms!r})"

    def __str__(self) -> str:
        return "(" + f" {self.word} ".join(_text(t) for t in self.terms) + ")"


class AllOf(_Junction):
    """Every term holds."""

    __slots__ = ()
    word = "and"


class AnyOf(_Junction):
    """Some term holds."""

    __slots__ = ()
    word = "or"


Formula = bool | Atom | AllOf | AnyOf
"""A candidate condition: True, False, an atom, or an and/or of formulas."""


def _text(f: Formula) -> str:
    return ("true" if f else "false") if isinstance(f, bool) else str(f)


def _dedup(terms: list[Formula]) -> list[Formula]:
    seen: set[Formula] = set()
    out = []
    for t in terms:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


def all_of(terms: Iterable[Formula]) -> Formula:
    """The conjunction, simplified (TRUE dropped, FALSE absorbs, nested ``and`` flattened,
    negated ``in`` atoms on one field merged)."""
    out: list[Formula] = []
    for t in terms:
        if t is True:
            continue
        if t is False:
            return False
        out.extend(t.terms if isinstance(t, AllOf) else (t,))
    out = _merge(out, negate=True)
    narrowed = _narrow(out)
    if isinstance(narrowed, bool):
        return narrowed
    out = _dedup(narrowed)
    if not out:
        return True
    return out[0] if len(out) == 1 else AllOf(tuple(out))


def _narrow(terms: list[Formula]) -> list[Formula] | bool:
    """In a conjunction, a plain ``in`` atom of strings absorbs every other atom of strings
    on its field: ``f in A and X(f)`` holds exactly when ``f in {a in A: X(a)}`` (a plain
    ``in``, false on a missing value, needs a value, and X then sees that value). An empty
    set makes the whole FALSE."""
    sets: dict[str, set[Any]] = {}
    for t in terms:
        if (
            isinstance(t, Atom)
            and _is_str_atom(t)
            and t.op == "in"
            and not t.negate
            and not t.missing
        ):
            prev = sets.get(t.field)
            sets[t.field] = set(t.values) if prev is None else prev & set(t.values)
    if not sets:
        return terms
    out: list[Formula] = []
    placed: set[str] = set()
    for t in terms:
        if isinstance(t, Atom) and t.field in sets and _is_str_atom(t):
            if t.field not in placed:
                placed.add(t.field)
                others = [  # the plain 'in' atoms are already in the intersection
                    a
                    for a in terms
                    if isinstance(a, Atom)
                    and a.field == t.field
                    and _is_str_atom(a)
                    and not (a.op == "in" and not a.negate and not a.missing)
                ]
                kept = [v for v in sets[t.field] if all(a.holds(v) for a in others)]
                if not kept:
                    return False
                out.append(Atom(t.field, "in", kept))
            continue
        out.append(t)
    return out


def _is_str_atom(t: Formula) -> bool:
    """An atom whose values are strings (or ``exists``): exact on any string value."""
    return isinstance(t, Atom) and (t.op == "exists" or all(isinstance(v, str) for v in t.values))


def any_of(terms: Iterable[Formula]) -> Formula:
    """The disjunction, simplified (FALSE dropped, TRUE absorbs, nested ``or`` flattened,
    atoms of one field and operator merged into one)."""
    out: list[Formula] = []
    for t in terms:
        if t is False:
            continue
        if t is True:
            return True
        out.extend(t.terms if isinstance(t, AnyOf) else (t,))
    out = _merge(out, negate=False)
    out = _dedup(out)
    if not out:
        return False
    return out[0] if len(out) == 1 else AnyOf(tuple(out))


def _merge(terms: list[Formula], negate: bool) -> list[Formula]:
    """Merge atoms that differ only in their values into one (their values united).

    In an ``or``: plain atoms (any of A) or (any of B) = any of A+B. In an ``and``: negated
    ones, not (any of A) and not (any of B) = not (any of A+B). The missing flag must agree.
    """
    groups: dict[tuple[Any, ...], int] = {}
    out: list[Formula] = []
    for t in terms:
        if isinstance(t, Atom) and t.negate == negate and t.op in _MERGEABLE:
            key = (t.field, t.op, t.missing)
            i = groups.get(key)
            if i is not None:
                prev = out[i]
                assert isinstance(prev, Atom)
                out[i] = Atom(t.field, t.op, prev.values + t.values, negate, t.missing)
                continue
            groups[key] = len(out)
        out.append(t)
    return out


def atoms_of(f: Formula) -> Iterator[Atom]:
    """Every atom of a formula (with repeats)."""
    if isinstance(f, Atom):
        yield f
    elif isinstance(f, _Junction):
        for t in f.terms:
            yield from atoms_of(t)


def size(f: Formula) -> int:
    """The number of atoms in a formula."""
    return sum(1 for _ in atoms_of(f))


def weaken(f: Formula, budget: int) -> Formula:
    """A formula implied by ``f`` with at most ``budget`` atoms (sub-formulas become TRUE).

    Sound because formulas are negation-free above the atoms: TRUE in place of any term
    makes the whole at least as often true. An ``and`` keeps its first terms that fit;
    an ``or`` fits all its terms or becomes TRUE.
    """
    if size(f) <= budget:
        return f
    if isinstance(f, AllOf):
        kept: list[Formula] = []
        left = budget
        for t in f.terms:
            w = weaken(t, left)
            n = size(w)
            if w is not True and n <= left:
                kept.append(w)
                left -= n
        return all_of(kept)
    if isinstance(f, AnyOf):
        share = budget // len(f.terms)
        if share == 0:
            return True
        return any_of(weaken(t, share) for t in f.terms)
    return True


# -- derivation -------------------------------------------------------------------------


class SourceCandidates(Record):
    """The candidate conditions of one source.

    ``by_type`` maps each event type some active rule can match to its formula (key None
    for a source without event types). A type absent from it has no candidate rule: its
    events never reach the rules (the per-event-type index).
    """

    __slots__ = __match_args__ = (
        "source",
        "event_type_field",
        "by_type",
        "supported",
        "unfiltered_by",
    )
    source: str
    event_type_field: str | None
    by_type: dict[str | None, Formula]
    supported: frozenset[str]
    # event type -> names of the active rules that leave it unfiltered (formula TRUE)
    unfiltered_by: dict[str | None, list[str]]

    def __init__(
        self,
        source: str,
        event_type_field: str | None,
        by_type: dict[str | None, Formula] | None = None,
        supported: frozenset[str] = frozenset(),
        unfiltered_by: dict[str | None, list[str]] | None = None,
    ) -> None:
        self.source = source
        self.event_type_field = event_type_field
        self.by_type = {} if by_type is None else by_type
        self.supported = supported
        self.unfiltered_by = {} if unfiltered_by is None else unfiltered_by

    def condition(self, event_type: str | None) -> Formula:
        """The formula for events of a type (False: no rule can match them)."""
        return self.by_type.get(event_type, False)

    def fields(self) -> frozenset[str]:
        """The fields the formulas read."""
        return frozenset(a.field for f in self.by_type.values() for a in atoms_of(f))


class _Deriver:
    """Computes (pos, neg) formulas of condition trees for one source and field set."""

    def __init__(self, spec: SourceSpec, supported: Collection[str]) -> None:
        self.fields: FieldTable = spec.fields
        self.type_field = spec.event_type_field if spec.event_type_of is not None else None
        self.supported = frozenset(supported)
        self._checks: dict[int, tuple[Formula, Formula] | None] = {}
        self._typed: dict[int, bool] = {}
        self._memo: dict[tuple[int, str | None], tuple[Formula, Formula]] = {}
        self._keep: list[ast.Expr] = []  # keeps memo keys (node ids) alive

    def pos(self, expr: ast.Expr, event_type: str | None) -> Formula:
        """What must hold on an event of ``event_type`` for which ``expr`` is true."""
        old = sys.getrecursionlimit()
        sys.setrecursionlimit(max(old, 20000))
        try:
            return self._pos_neg(expr, event_type)[0]
        finally:
            sys.setrecursionlimit(old)

    def _mentions_type(self, node: ast.Expr) -> bool:
        key = id(node)
        hit = self._typed.get(key)
        if hit is None:
            if isinstance(node, ast.And | ast.Or):
                hit = any([self._mentions_type(c) for c in node.children])
            elif isinstance(node, ast.Not):
                hit = self._mentions_type(node.child)
            elif isinstance(node, ast.BinaryCheck | ast.UnaryCheck):
                left = node.left
                hit = isinstance(left, ast.FieldRef) and left.name == self.type_field
            else:
                hit = False
            self._typed[key] = hit
            self._keep.append(node)
        return hit

    def _pos_neg(self, node: ast.Expr, event_type: str | None) -> tuple[Formula, Formula]:
        typed = event_type is not None and self._mentions_type(node)
        key = (id(node), event_type if typed else None)
        got = self._memo.get(key)
        if got is not None:
            return got
        if isinstance(node, ast.And):
            parts = [self._pos_neg(c, event_type) for c in node.children]
            got = all_of(p for p, _ in parts), any_of(n for _, n in parts)
        elif isinstance(node, ast.Or):
            parts = [self._pos_neg(c, event_type) for c in node.children]
            got = any_of(p for p, _ in parts), all_of(n for _, n in parts)
        elif isinstance(node, ast.Not):
            p, n = self._pos_neg(node.child, event_type)
            got = n, p
        elif isinstance(node, ast.BinaryCheck | ast.UnaryCheck):
            got = self._check(node, event_type if typed else None)
        else:
            got = True, True
        self._memo[key] = got
        self._keep.append(node)
        return got

    def _check(
        self, node: ast.BinaryCheck | ast.UnaryCheck, event_type: str | None
    ) -> tuple[Formula, Formula]:
        key = id(node)
        if key in self._checks:
            translated = self._checks[key]
        else:
            try:
                translated = self._translate(node)
            except (FieldValueError, CompileError, ValueError, TypeError):
                translated = None
            self._checks[key] = translated
        if translated is None:
            return True, True
        pos, neg = translated
        if event_type is not None:  # a check on the event type: decided for this type
            return _decide(pos, event_type), _decide(neg, event_type)
        return pos, neg

    def _translate(self, node: ast.BinaryCheck | ast.UnaryCheck) -> tuple[Formula, Formula] | None:
        """(pos, neg) of one check, or None when it says nothing usable."""
        left = node.left
        if not isinstance(left, ast.FieldRef):
            return None  # transformers: not evaluated natively
        found = self.fields.resolve(left.name)
        if found is None:
            return None
        fld, dotted = found
        arg = left.arg if left.arg is not None else dotted
        if arg is not None and fld.arg is ArgKind.INDEX:
            arg = str(int(arg))
        name = fld.name if arg is None else f"{fld.name}[{arg}]"
        is_type = name == self.type_field
        if not is_type and name not in self.supported:
            return None
        if fld.type not in _SCALAR_TYPES or fld.is_list:
            return None
        several = fld.any_of and arg is None  # the check holds if it holds for any value
        if fld.list_without_arg and arg is None:
            return None
        if several and fld.type not in _NUMERIC:
            return None  # (_narrow's absorption of string atoms holds for one value only)
        if several and (isinstance(node, ast.UnaryCheck) or node.op == "intersects"):
            return None
        if several and node.op == "!=" and not fld.any_of_ne_all:
            return None  # "some value differs": no atom says that
        if isinstance(node, ast.UnaryCheck):
            if node.op != "exists":
                return None
            atom = Atom(name, "exists")
            return atom, atom.negated()
        right = node.right
        if isinstance(right, ast.ListValue):
            items = list(right.values)
        elif isinstance(right, ast.Value):
            items = [right.value]
        else:
            return None  # field against field
        op = "=" if node.op == "==" else node.op
        ftype = fld.type
        if op in ("=", "!=", "in", "intersects"):
            if op in ("=", "!=") and isinstance(right, ast.ListValue):
                return None
            consts = [values.parse_constant(i, ftype) for i in items]
            if ftype in _NUMERIC and not all(isinstance(c, int) for c in consts):
                return None
            atom = Atom(name, "in", consts)
            if op == "!=":
                atom = Atom(name, "in", consts, negate=True)
            return atom, atom.negated()
        if isinstance(right, ast.ListValue) and op != "pmatch":
            return None
        if op in _ORDER:
            if ftype not in _NUMERIC:
                return None
            c = values.parse_number(items[0])
            if not isinstance(c, int):
                return None
            atom = Atom(name, _ORDER[op], [c])
            return atom, atom.negated()
        if ftype is not FieldType.STRING:
            return None
        if op in _STRING_OPS:
            atom = Atom(name, _STRING_OPS[op], items)
            return atom, atom.negated()
        if op == "pmatch":
            atom = Atom(name, "pmatch", items)
            return atom, atom.negated()
        if op == "glob":
            pattern = items[0]
            cut = next((i for i, ch in enumerate(pattern) if ch in _GLOB_SPECIAL), None)
            if cut is None:  # no wildcard: plain equality
                atom = Atom(name, "in", [pattern])
                return atom, atom.negated()
            return (Atom(name, "prefix", [pattern[:cut]]) if cut else True), True
        if op == "icontains":  # its negation is left unknown (see OPS)
            return Atom(name, "icontains", [str(i).lower() for i in items]), True
        return None  # iglob, regex, b*: nothing cheap and exact


def _decide(f: Formula, event_type: str) -> Formula:
    """A formula whose atoms are all on the event type, evaluated for one type."""
    if isinstance(f, Atom):
        return f.holds(event_type)
    if isinstance(f, AllOf):
        return all_of(_decide(t, event_type) for t in f.terms)
    if isinstance(f, AnyOf):
        return any_of(_decide(t, event_type) for t in f.terms)
    return f


def active_rules(ruleset: Ruleset, source: str) -> list[Rule]:
    """The rules of ``source`` that the ruleset evaluates (enabled, priority selected)."""
    return [r for r in ruleset if r.source == source and ruleset.is_active(r)]


def derive_candidates(
    ruleset: Ruleset,
    spec: SourceSpec,
    supported: Collection[str],
    *,
    max_atoms: int = MAX_ATOMS,
) -> SourceCandidates:
    """The candidate conditions of one source's active rules.

    ``supported`` names the fields (canonical text, ``fd.name`` or ``proc.aname[2]``) the
    source can evaluate cheaply; checks on any other field count as unknown (TRUE).
    A rule whose expanded condition is unavailable leaves its types unfiltered.
    """
    out = SourceCandidates(spec.name, spec.event_type_field, supported=frozenset(supported))
    deriver = _Deriver(spec, supported)
    typed = spec.event_type_of is not None
    terms: dict[str | None, list[Formula]] = {}
    for rule in active_rules(ruleset, spec.name):
        if not typed:
            types: Iterable[str | None] = [None]
        else:
            types = sorted(rule.event_types if rule.event_types is not None else spec.event_types)
        for t in types:
            f = True if rule.expr is None else deriver.pos(rule.expr, t)
            terms.setdefault(t, []).append(f)
            if f is True:
                out.unfiltered_by.setdefault(t, []).append(rule.name)
    for t, fs in terms.items():
        out.by_type[t] = weaken(any_of(fs), max_atoms)
    return out


# -- the compiled form (for a native evaluator) ----------------------------------------------

CODE_TRUE, CODE_FALSE, CODE_ATOM, CODE_AND, CODE_OR = range(5)
"""Prefix code words: TRUE, FALSE; ATOM index; AND/OR count length children... where
length counts every word of the node including its three header words."""
OP_IDS = {op: i for i, op in enumerate(OPS)}
MAX_DEPTH = 64
"""Deepest and/or nesting in compiled code; deeper sub-formulas compile to TRUE."""


class Program(Record):
    """Candidate conditions as flat data: atoms as (field id, operator id, negate,
    missing, values) tuples, and per event type one formula in prefix code.

    Values are ints (booleans as 0/1) or strs; ``pmatch`` values are already trimmed of
    trailing slashes (except "/") as the operator compares them.
    """

    __slots__ = __match_args__ = ("atoms", "codes")
    atoms: list[tuple[int, int, bool, bool, tuple[Any, ...]]]
    codes: dict[str | None, list[int]]

    def __init__(
        self,
        atoms: list[tuple[int, int, bool, bool, tuple[Any, ...]]] | None = None,
        codes: dict[str | None, list[int]] | None = None,
    ) -> None:
        self.atoms = [] if atoms is None else atoms
        self.codes = {} if codes is None else codes


def _pmatch_trim(p: str) -> str:
    return p.rstrip("/") if p != "/" else "/"


def compile_program(
    candidates: SourceCandidates,
    field_ids: Mapping[str, int],
    cost: Mapping[str, int] | None = None,
) -> Program:
    """The compiled form of a source's candidate conditions; fields are numbered by
    ``field_ids`` (an atom on a field without an id compiles to TRUE). With ``cost`` (per
    field, default 1) the terms of every and/or are ordered cheapest first (by their
    costliest field), so evaluation short-circuits before reading costly fields."""
    prog = Program()

    def term_cost(f: Formula) -> int:
        if cost is None:
            return 0
        return max((cost.get(a.field, 1) for a in atoms_of(f)), default=0)

    index: dict[Atom, int] = {}

    def atom_id(a: Atom) -> int | None:
        i = index.get(a)
        if i is None:
            fid = field_ids.get(a.field)
            if fid is None:
                return None
            vals: tuple[Any, ...] = a.values
            if a.op == "pmatch":
                vals = tuple(_pmatch_trim(v) for v in vals)
            elif vals and isinstance(vals[0], bool | int):
                vals = tuple(int(v) for v in vals)
            i = index[a] = len(prog.atoms)
            prog.atoms.append((fid, OP_IDS[a.op], a.negate, a.missing, vals))
        return i

    def emit(f: Formula, depth: int, out: list[int]) -> None:
        if f is True or f is False:
            out.append(CODE_TRUE if f else CODE_FALSE)
        elif isinstance(f, Atom):
            i = atom_id(f)
            out.extend((CODE_TRUE,) if i is None else (CODE_ATOM, i))
        elif depth >= MAX_DEPTH:
            out.append(CODE_TRUE)
        else:
            assert isinstance(f, _Junction)
            start = len(out)
            out.extend((CODE_AND if isinstance(f, AllOf) else CODE_OR, len(f.terms), 0))
            for t in sorted(f.terms, key=term_cost):
                emit(t, depth + 1, out)
            out[start + 2] = len(out) - start

    for etype, f in candidates.by_type.items():
        code: list[int] = []
        emit(f, 0, code)
        prog.codes[etype] = code
    return prog


# -- reference evaluation ------------------------------------------------------------------


def field_ref(text: str) -> ast.FieldRef:
    """The field reference a canonical field text names (``proc.aname[2]``)."""
    name, bracket, rest = text.partition("[")
    return ast.FieldRef(name, rest[:-1] if bracket else None)


class ReferenceFilter:
    """Evaluates a source's candidate conditions on events with the source's own field
    getters: the specification the native evaluation must agree with."""

    def __init__(self, candidates: SourceCandidates, spec: SourceSpec) -> None:
        self.candidates = candidates
        self.type_of = spec.event_type_of
        compiler = ConditionCompiler(spec.fields, spec.event_type_field, spec.event_types)
        self.getters: dict[str, Callable[[Any], Any]] = {
            name: compiler.operand(field_ref(name)).getter for name in candidates.fields()
        }

    def accepts(self, event: Any) -> bool:
        """Whether the event may match some active rule (False: it can be dropped)."""
        etype = None if self.type_of is None else self.type_of(event)
        return self.evaluate(self.candidates.condition(etype), event)

    def evaluate(self, f: Formula, event: Any) -> bool:
        """A formula's truth on an event; a field getter that raises counts as true."""
        if isinstance(f, bool):
            return f
        if isinstance(f, Atom):
            try:
                return f.holds(self.getters[f.field](event))
            except Exception:  # the rule would not match; never drop on an error
                return True
        if isinstance(f, AllOf):
            return all(self.evaluate(t, event) for t in f.terms)
        assert isinstance(f, AnyOf)
        return any(self.evaluate(t, event) for t in f.terms)
