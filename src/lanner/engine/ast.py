"""The syntax tree of a Falco condition, as the parser builds it.

The nodes are :class:`~lanner.records.Record` classes (a dataclass's repr and equality, no
code generated at import): every ``lanner run`` imports them.
"""

from __future__ import annotations

from lanner.records import FrozenRecord, Record


class Pos(FrozenRecord):
    """A position inside a condition string: 0-based offset, 1-based line and column."""

    __slots__ = __match_args__ = ("idx", "line", "col")
    idx: int
    line: int
    col: int

    def __init__(self, idx: int = 0, line: int = 1, col: int = 1) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "idx", idx)
        setattr_(self, "line", line)
        setattr_(self, "col", col)


START = Pos()  # the default position of a node (a Pos is immutable: one serves them all)


class Expr(Record):
    """Base class of every condition node."""

    __slots__ = ()
    pos: Pos


class And(Expr):
    """All children must hold (evaluated left to right, short-circuit)."""

    __slots__ = __match_args__ = ("children", "pos")
    children: list[Expr]
    pos: Pos

    def __init__(self, children: list[Expr], pos: Pos = START) -> None:
        self.children = children
        self.pos = pos


class Or(Expr):
    """Any child must hold (evaluated left to right, short-circuit)."""

    __slots__ = __match_args__ = ("children", "pos")
    children: list[Expr]
    pos: Pos

    def __init__(self, children: list[Expr], pos: Pos = START) -> None:
        self.children = children
        self.pos = pos


class Not(Expr):
    """Negation of its child."""

    __slots__ = __match_args__ = ("child", "pos")
    child: Expr
    pos: Pos

    def __init__(self, child: Expr, pos: Pos = START) -> None:
        self.child = child
        self.pos = pos


class Identifier(Expr):
    """A bare name in check position: a macro reference."""

    __slots__ = __match_args__ = ("name", "pos")
    name: str
    pos: Pos

    def __init__(self, name: str, pos: Pos = START) -> None:
        self.name = name
        self.pos = pos


class FieldRef(Expr):
    """A field, with its optional bracket argument: ``proc.aname[2]``."""

    __slots__ = __match_args__ = ("name", "arg", "pos")
    name: str
    arg: str | None
    pos: Pos

    def __init__(self, name: str, arg: str | None = None, pos: Pos = START) -> None:
        self.name = name
        self.arg = arg
        self.pos = pos

    def text(self) -> str:
        """The field as written in a condition."""
        return self.name if self.arg is None else f"{self.name}[{self.arg}]"


class Transformer(Expr):
    """A transformer applied to a field or to another transformer: ``tolower(proc.name)``.

    ``val(field)`` (a field used as a right-hand value) is represented with name "val".
    """

    __slots__ = __match_args__ = ("name", "child", "pos")
    name: str
    child: FieldRef | Transformer
    pos: Pos

    def __init__(self, name: str, child: FieldRef | Transformer, pos: Pos = START) -> None:
        self.name = name
        self.child = child
        self.pos = pos

    def text(self) -> str:
        """The expression as written in a condition."""
        return f"{self.name}({self.child.text()})"


class Value(Expr):
    """A constant right-hand value (quotes and escapes already removed)."""

    __slots__ = __match_args__ = ("value", "pos")
    value: str
    pos: Pos

    def __init__(self, value: str, pos: Pos = START) -> None:
        self.value = value
        self.pos = pos


class ListValue(Expr):
    """A parenthesised list of constant values: ``(a, "b c", 1)``."""

    __slots__ = __match_args__ = ("values", "pos")
    values: list[str]
    pos: Pos

    def __init__(self, values: list[str], pos: Pos = START) -> None:
        self.values = values
        self.pos = pos


Operand = FieldRef | Transformer


class UnaryCheck(Expr):
    """A check with no right-hand side: ``fd.name exists``."""

    __slots__ = __match_args__ = ("left", "op", "pos")
    left: Operand
    op: str
    pos: Pos

    def __init__(self, left: Operand, op: str, pos: Pos = START) -> None:
        self.left = left
        self.op = op
        self.pos = pos


class BinaryCheck(Expr):
    """A comparison: ``proc.name in (bash, sh)``."""

    __slots__ = __match_args__ = ("left", "op", "right", "pos")
    left: Operand
    op: str
    right: Value | ListValue | Operand
    pos: Pos

    def __init__(
        self, left: Operand, op: str, right: Value | ListValue | Operand, pos: Pos = START
    ) -> None:
        self.left = left
        self.op = op
        self.right = right
        self.pos = pos
