"""Compiles a condition's syntax tree (macros already expanded) into a Python predicate.

Each rule becomes one generated function whose ``and``/``or``/``not`` are Python's own
short-circuit operators and whose checks call field getters bound at compile time, so
evaluation never re-parses or re-resolves anything. A missing field value (None) makes
every check false except under ``not``, as libsinsp does.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from lanner.engine import ast, values
from lanner.engine.fields import ArgKind, FieldTable, FieldType
from lanner.exceptions import CompileError, FieldValueError
from lanner.records import Record

Predicate = Callable[[Any], bool]

_STRING_OPS = {
    "contains",
    "icontains",
    "startswith",
    "endswith",
    "glob",
    "iglob",
    "regex",
    "pmatch",
    "bcontains",
    "bstartswith",
}
_ORDER_OPS = {"<", "<=", ">", ">="}
_OPS_BY_TYPE: dict[FieldType, set[str]] = {
    FieldType.STRING: {"=", "==", "!=", "in", "intersects", *_STRING_OPS, *_ORDER_OPS},
    FieldType.NUMBER: {"=", "==", "!=", "in", "intersects", *_ORDER_OPS},
    FieldType.PORT: {"=", "==", "!=", "in", "intersects", *_ORDER_OPS},
    FieldType.BOOL: {"=", "==", "!=", "in", "intersects"},
    FieldType.IPADDR: {"=", "==", "!=", "in", "intersects"},
    FieldType.IPNET: {"=", "==", "!=", "in", "intersects"},
    FieldType.BYTES: {"=", "==", "!=", "in", "contains", "startswith", "bcontains", "bstartswith"},
}
_MAX_INLINE_DEPTH = 40


class Operand(Record):
    """A resolved left or right operand: its getter and what it yields."""

    __slots__ = __match_args__ = ("getter", "type", "is_list", "text", "any_of", "ne_all")
    getter: Callable[[Any], Any]
    type: FieldType
    is_list: bool
    text: str
    any_of: bool  # the getter yields a tuple; a check holds if it holds for any item
    ne_all: bool  # with any_of: '!=' holds only if it holds for every item

    def __init__(
        self,
        getter: Callable[[Any], Any],
        type: FieldType,
        is_list: bool,
        text: str,
        any_of: bool = False,
        ne_all: bool = False,
    ) -> None:
        self.getter = getter
        self.type = type
        self.is_list = is_list
        self.text = text
        self.any_of = any_of
        self.ne_all = ne_all


def _identity(value: Any) -> Any:
    return value


def _apply_transformer(
    name: str, inner: Callable[[Any], Any], is_list: bool
) -> Callable[[Any], Any]:
    func = values.TRANSFORMER_FUNCS[name]
    if is_list and name != "len":

        def each(event: Any) -> Any:
            v = inner(event)
            if v is None:
                return None
            out = [func(x) for x in v]
            return [x for x in out if x is not None]

        return each

    def one(event: Any) -> Any:
        v = inner(event)
        return None if v is None else func(v)

    return one


class ConditionCompiler:
    """Turns expanded condition trees into predicates against one source's fields."""

    def __init__(
        self,
        fields: FieldTable,
        event_type_field: str | None = None,
        event_types: frozenset[str] = frozenset(),
    ) -> None:
        self.fields = fields
        self.event_type_field = event_type_field
        self.event_types = event_types
        self._operands: dict[str, Operand] = {}
        self.nodes_generated = 0  # condition nodes turned into code so far (a step count)

    # -- operands ----------------------------------------------------------------------

    def operand(self, node: ast.Expr) -> Operand:
        """Resolve a field or transformer to a getter, validating names and arguments."""
        if isinstance(node, ast.FieldRef):
            key = node.text()
            cached = self._operands.get(key)
            if cached is None:
                cached = self._resolve_field(node)
                self._operands[key] = cached
            return cached
        if isinstance(node, ast.Transformer):
            inner = self.operand(node.child)
            if node.name == "val":
                return inner
            allowed = values.TRANSFORMER_INPUT_TYPES[node.name]
            if inner.type not in allowed and not (node.name == "len" and inner.is_list):
                raise CompileError(
                    f"transformer '{node.name}' cannot be applied to field '{inner.text}' "
                    f"of type {inner.type.value}",
                    node.pos,
                )
            elementwise = inner.is_list or inner.any_of
            getter = _apply_transformer(node.name, inner.getter, elementwise)
            if node.name == "len":
                return Operand(
                    getter, FieldType.NUMBER, False, node.text(), inner.any_of, inner.ne_all
                )
            return Operand(
                getter, inner.type, inner.is_list, node.text(), inner.any_of, inner.ne_all
            )
        raise CompileError("expected a field or a transformer", node.pos)

    def _resolve_field(self, node: ast.FieldRef) -> Operand:
        found = self.fields.resolve(node.name)
        if found is None:
            raise CompileError(f"filter_check called with nonexistent field {node.name}", node.pos)
        field, dotted = found
        raw_arg = node.arg if node.arg is not None else dotted
        if node.arg is not None and dotted is not None:
            raise CompileError(f"nonexistent field {node.text()}", node.pos)
        arg: Any = None
        if raw_arg is None:
            if field.arg_required:
                raise CompileError(f"field '{field.name}' requires an argument", node.pos)
        elif field.arg is ArgKind.NONE:
            raise CompileError(f"field '{field.name}' does not accept an argument", node.pos)
        elif field.arg is ArgKind.INDEX:
            try:
                arg = int(raw_arg)
            except ValueError:
                raise CompileError(
                    f"field '{field.name}' needs a numeric argument, got '{raw_arg}'", node.pos
                ) from None
        else:
            arg = raw_arg
        no_arg = raw_arg is None
        is_list = field.is_list or (field.list_without_arg and no_arg)
        any_of = field.any_of and no_arg
        ne_all = any_of and field.any_of_ne_all
        return Operand(field.bind(arg), field.type, is_list, node.text(), any_of, ne_all)

    # -- expressions -------------------------------------------------------------------

    def compile(self, expr: ast.Expr, *, lazy: bool = False) -> Predicate:
        """Return ``event -> bool`` for an expanded condition.

        Every name, operator and value is checked now; with ``lazy`` the generated
        source is turned into bytecode at the first call only (a rule's own predicate is
        rarely called: the per-type matchers evaluate rules from their trees).
        """
        old_limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(old_limit, 20000))
        try:
            gen = _Codegen(self)
            if lazy:
                return LazyPredicate(gen.source(expr), gen.ns)
            return gen.function(expr)
        finally:
            sys.setrecursionlimit(old_limit)


class LazyPredicate:
    """A generated predicate compiled at its first call."""

    __slots__ = ("_fn", "_ns", "_src")

    def __init__(self, src: str, ns: dict[str, Any]) -> None:
        self._src = src
        self._ns = ns
        self._fn: Predicate | None = None

    def __call__(self, event: Any) -> bool:
        fn = self._fn
        if fn is None:
            fn = self._fn = _exec_predicate(self._src, self._ns)
        return fn(event)

    def prepare(self) -> None:
        """Compile now rather than at the first call."""
        if self._fn is None:
            self._fn = _exec_predicate(self._src, self._ns)


def _exec_predicate(src: str, ns: dict[str, Any]) -> Predicate:
    exec(compile(src, "<condition>", "exec"), ns)
    fn: Predicate = ns.pop("_predicate")
    return fn


class _Codegen:
    """Generates Python source for one predicate, with constants in a namespace."""

    def __init__(self, compiler: ConditionCompiler) -> None:
        self.compiler = compiler
        self.ns: dict[str, Any] = {}
        self._names: dict[int, str] = {}

    def bind(self, obj: Any, prefix: str = "c") -> str:
        key = id(obj)
        name = self._names.get(key)
        if name is None:
            name = f"_{prefix}{len(self.ns)}"
            self.ns[name] = obj
            self._names[key] = name
        return name

    def source(self, expr: ast.Expr) -> str:
        """The source of ``_predicate(e)``, its names bound in ``self.ns``."""
        return f"def _predicate(e):\n    return bool({self.expr(expr, 0)})\n"

    def function(self, expr: ast.Expr) -> Predicate:
        return _exec_predicate(self.source(expr), self.ns)

    def expr(self, node: ast.Expr, depth: int) -> str:
        self.compiler.nodes_generated += 1
        if depth > _MAX_INLINE_DEPTH:
            sub = _Codegen(self.compiler).function(node)
            return f"{self.bind(sub, 'f')}(e)"
        if isinstance(node, ast.And):
            return "(" + " and ".join(self.expr(c, depth + 1) for c in node.children) + ")"
        if isinstance(node, ast.Or):
            return "(" + " or ".join(self.expr(c, depth + 1) for c in node.children) + ")"
        if isinstance(node, ast.Not):
            return f"(not {self.expr(node.child, depth + 1)})"
        if isinstance(node, ast.UnaryCheck):
            left = self.compiler.operand(node.left)
            return f"({self.bind(left.getter, 'g')}(e) is not None)"
        if isinstance(node, ast.BinaryCheck):
            return self.check(node)
        if isinstance(node, ast.Identifier):
            raise CompileError(f"Undefined macro '{node.name}' used in filter.", node.pos)
        raise CompileError("unexpected expression", node.pos)

    # -- checks ------------------------------------------------------------------------

    def check(self, node: ast.BinaryCheck, element: Operand | None = None) -> str:
        left = element or self.compiler.operand(node.left)
        if left.any_of:
            return self._any_of_check(node, left)
        op = "=" if node.op == "==" else node.op
        g = self.bind(left.getter, "g")
        if left.is_list and op not in ("in", "intersects"):
            raise CompileError(
                f"list filter '{left.text}' only supports operators 'exists', 'in' and "
                "'intersects'",
                node.pos,
            )
        if op not in _OPS_BY_TYPE[left.type]:
            raise CompileError(
                f"operator '{node.op}' is not supported by field '{left.text}' "
                f"of type {left.type.value}",
                node.pos,
            )
        right = node.right
        if isinstance(right, ast.Transformer):
            return self._field_vs_field(node, left, op, g)
        if isinstance(right, ast.FieldRef):
            raise CompileError("unexpected field on the right-hand side", right.pos)
        items = right.values if isinstance(right, ast.ListValue) else [right.value]
        self._check_event_types(node, left, op, items)
        try:
            return self._field_vs_constants(node, left, op, g, items)
        except FieldValueError as exc:
            raise CompileError(str(exc), right.pos) from None

    def _any_of_check(self, node: ast.BinaryCheck, left: Operand) -> str:
        """A check on a several-valued field: true when it holds for any of the values.

        As libsinsp: ``proc.aname != sshd`` holds when some ancestor is not sshd, but
        ``fd.ip != X`` (``ne_all``) only when neither end of the connection is X.
        """
        if isinstance(node.right, ast.Transformer):
            raise CompileError(
                f"field '{left.text}' doesn't support right-hand side fields", node.pos
            )
        elem = Operand(_identity, left.type, False, left.text)
        sub = _Codegen(self.compiler)
        body = sub.check(node, elem)
        code = compile(f"def _elem(e):\n    return bool({body})\n", "<condition>", "exec")
        exec(code, sub.ns)
        fn = self.bind(sub.ns["_elem"], "f")
        g = self.bind(left.getter, "g")
        quantifier = "all" if left.ne_all and node.op == "!=" else "any"
        return f"((vs := {g}(e)) is not None and {quantifier}({fn}(x) for x in vs))"

    def _check_event_types(
        self, node: ast.BinaryCheck, left: Operand, op: str, items: list[str]
    ) -> None:
        comp = self.compiler
        if (
            comp.event_types
            and isinstance(node.left, ast.FieldRef)
            and node.left.name == comp.event_type_field
            and op in ("=", "!=", "in", "intersects")
        ):
            for item in items:
                if item not in comp.event_types:
                    raise CompileError(f"unknown event type {item}", node.right.pos)

    def _field_vs_constants(
        self, node: ast.BinaryCheck, left: Operand, op: str, g: str, items: list[str]
    ) -> str:
        ftype = left.type
        if op in ("in", "intersects", "pmatch"):
            if op == "pmatch":
                if ftype is not FieldType.STRING:
                    raise CompileError("operator 'pmatch' needs a string field", node.pos)
                m = self.bind(values.pmatch_matcher(items), "m")
                return f"((v := {g}(e)) is not None and {m}(v))"
            consts = [values.parse_constant(i, ftype) for i in items]
            if ftype in (FieldType.IPADDR, FieldType.IPNET):
                m = self.bind(values.ip_matcher(consts), "m")
                if left.is_list:
                    fn = "all" if op == "in" else "any"
                    return f"((v := {g}(e)) is not None and {fn}({m}(x) for x in v))"
                return f"((v := {g}(e)) is not None and {m}(v))"
            s = self.bind(frozenset(consts), "s")
            if left.is_list:
                if op == "in":
                    return f"((v := {g}(e)) is not None and {s}.issuperset(v))"
                return f"((v := {g}(e)) is not None and not {s}.isdisjoint(v))"
            return f"({g}(e) in {s})"
        if isinstance(node.right, ast.ListValue):
            raise CompileError(f"operator '{node.op}' does not take a list", node.right.pos)
        text = items[0]
        if op in ("bcontains", "bstartswith"):
            c = self.bind(values.parse_hex_bytes(text))
            ab = self.bind(values.as_bytes, "h")
            if op == "bcontains":
                return f"((v := {g}(e)) is not None and {c} in {ab}(v))"
            return f"((v := {g}(e)) is not None and {ab}(v).startswith({c}))"
        if op in ("contains", "startswith", "endswith") and ftype is FieldType.BYTES:
            c = self.bind(text.encode())
        elif op in _STRING_OPS:
            c = self.bind(text)
        else:
            c = self.bind(values.parse_constant(text, ftype))
        if op == "=":
            if ftype is FieldType.IPNET:
                m = self.bind(values.ip_matcher([values.parse_net(text)]), "m")
                return f"((v := {g}(e)) is not None and {m}(v))"
            if ftype is FieldType.IPADDR and "/" in text:
                m = self.bind(values.ip_matcher([values.parse_ip(text)]), "m")
                return f"((v := {g}(e)) is not None and {m}(v))"
            return f"({g}(e) == {c})"
        if op == "!=":
            if ftype in (FieldType.IPNET, FieldType.IPADDR) and "/" in text:
                m = self.bind(values.ip_matcher([values.parse_net(text)]), "m")
                return f"((v := {g}(e)) is not None and not {m}(v))"
            return f"((v := {g}(e)) is not None and v != {c})"
        if op in _ORDER_OPS:
            return f"((v := {g}(e)) is not None and v {op} {c})"
        if op == "contains":
            return f"((v := {g}(e)) is not None and {c} in v)"
        if op == "icontains":
            c = self.bind(text.lower())
            return f"((v := {g}(e)) is not None and {c} in v.lower())"
        if op == "startswith":
            return f"((v := {g}(e)) is not None and v.startswith({c}))"
        if op == "endswith":
            return f"((v := {g}(e)) is not None and v.endswith({c}))"
        if op in ("glob", "iglob"):
            m = self.bind(values.glob_matcher(text, ignore_case=op == "iglob"), "m")
            return f"((v := {g}(e)) is not None and {m}(v))"
        if op == "regex":
            m = self.bind(values.regex_matcher(text), "m")
            return f"((v := {g}(e)) is not None and {m}(v))"
        raise CompileError(f"unsupported operator '{node.op}'", node.pos)

    def _field_vs_field(self, node: ast.BinaryCheck, left: Operand, op: str, g: str) -> str:
        assert isinstance(node.right, ast.Transformer)
        right = self.compiler.operand(node.right)
        if op in ("pmatch", "regex"):
            raise CompileError(f"operator '{op}' doesn't support right-hand side fields", node.pos)
        if left.type is FieldType.IPNET:
            raise CompileError(
                "field type 'IPNET' doesn't support right-hand side fields", node.pos
            )
        compatible = {left.type, right.type} <= {FieldType.NUMBER, FieldType.PORT} or (
            left.type == right.type
        )
        if not compatible:
            raise CompileError(
                f"field '{left.text}' ({left.type.value}) cannot be compared with "
                f"'{right.text}' ({right.type.value})",
                node.pos,
            )
        h = self.bind(right.getter, "g")
        pre = f"(v := {g}(e)) is not None and (w := {h}(e)) is not None and "
        if op in ("in", "intersects"):
            if left.is_list:
                rhs = "set(w) if isinstance(w, list) else {w}"
                if op == "in":
                    return f"({pre}set(v) <= ({rhs}))"
                return f"({pre}not set(v).isdisjoint({rhs}))"
            return f"({pre}(v in w if isinstance(w, list) else v == w))"
        expr = {
            "=": "v == w",
            "!=": "v != w",
            "<": "v < w",
            "<=": "v <= w",
            ">": "v > w",
            ">=": "v >= w",
            "contains": "w in v",
            "icontains": "w.lower() in v.lower()",
            "startswith": "v.startswith(w)",
            "endswith": "v.endswith(w)",
        }.get(op)
        if expr is None:
            raise CompileError(f"operator '{op}' doesn't support right-hand side fields", node.pos)
        return f"({pre}{expr})"
