"""The syntax tree of a Falco condition, as the parser builds it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Pos:
    """A position inside a condition string: 0-based offset, 1-based line and column."""

    idx: int = 0
    line: int = 1
    col: int = 1


class Expr:
    """Base class of every condition node."""

    __slots__ = ()
    pos: Pos


@dataclass(slots=True)
class And(Expr):
    """All children must hold (evaluated left to right, short-circuit)."""

    children: list[Expr]
    pos: Pos = field(default_factory=Pos)


@dataclass(slots=True)
class Or(Expr):
    """Any child must hold (evaluated left to right, short-circuit)."""

    children: list[Expr]
    pos: Pos = field(default_factory=Pos)


@dataclass(slots=True)
class Not(Expr):
    """Negation of its child."""

    child: Expr
    pos: Pos = field(default_factory=Pos)


@dataclass(slots=True)
class Identifier(Expr):
    """A bare name in check position: a macro reference."""

    name: str
    pos: Pos = field(default_factory=Pos)


@dataclass(slots=True)
class FieldRef(Expr):
    """A field, with its optional bracket argument: ``proc.aname[2]``."""

    name: str
    arg: str | None = None
    pos: Pos = field(default_factory=Pos)

    def text(self) -> str:
        """The field as written in a condition."""
        return self.name if self.arg is None else f"{self.name}[{self.arg}]"


@dataclass(slots=True)
class Transformer(Expr):
    """A transformer applied to a field or to another transformer: ``tolower(proc.name)``.

    ``val(field)`` (a field used as a right-hand value) is represented with name "val".
    """

    name: str
    child: FieldRef | Transformer
    pos: Pos = field(default_factory=Pos)

    def text(self) -> str:
        """The expression as written in a condition."""
        return f"{self.name}({self.child.text()})"


@dataclass(slots=True)
class Value(Expr):
    """A constant right-hand value (quotes and escapes already removed)."""

    value: str
    pos: Pos = field(default_factory=Pos)


@dataclass(slots=True)
class ListValue(Expr):
    """A parenthesised list of constant values: ``(a, "b c", 1)``."""

    values: list[str]
    pos: Pos = field(default_factory=Pos)


Operand = FieldRef | Transformer


@dataclass(slots=True)
class UnaryCheck(Expr):
    """A check with no right-hand side: ``fd.name exists``."""

    left: Operand
    op: str
    pos: Pos = field(default_factory=Pos)


@dataclass(slots=True)
class BinaryCheck(Expr):
    """A comparison: ``proc.name in (bash, sh)``."""

    left: Operand
    op: str
    right: Value | ListValue | Operand
    pos: Pos = field(default_factory=Pos)
