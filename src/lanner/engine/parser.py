"""Parser for Falco's condition language (the grammar of libsinsp's filter parser).

Precedence, lowest first: ``or``, ``and``, ``not``, then checks. A check is a parenthesised
expression, a field (or transformer) followed by an operator and a value, or a bare
identifier naming a macro. Upstream reference: falcosecurity/libs
``userspace/libsinsp/filter/parser.cpp``.
"""

from __future__ import annotations

import re
import sys
from bisect import bisect_right
from typing import NoReturn

from lanner.engine import ast
from lanner.exceptions import ConditionSyntaxError

UNARY_OPS = ("exists",)
NUM_OPS = ("<=", "<", ">=", ">")
# operators spelled as words need a blank after them, as upstream
STR_OPS = (
    "==",
    "=",
    "!=",
    "glob ",
    "iglob ",
    "contains ",
    "icontains ",
    "bcontains ",
    "startswith ",
    "bstartswith ",
    "endswith ",
    "regex ",
)
LIST_OPS = ("intersects", "in", "pmatch")
TRANSFORMERS = ("tolower(", "toupper(", "b64(", "basename(", "len(")
VAL_TRANSFORMER = "val("

ALL_OPERATORS = tuple(op.strip() for op in UNARY_OPS + NUM_OPS + STR_OPS + LIST_OPS)
LIST_OPERATORS = LIST_OPS
TRANSFORMER_NAMES = tuple(t[:-1] for t in TRANSFORMERS)

DEFAULT_MAX_DEPTH = 1000

_RGX_NOT_BLANK = re.compile(r"not[ \t\b\r\n\f\v]+")
_RGX_IDENTIFIER = re.compile(r"[a-zA-Z]+[a-zA-Z0-9_]*")
_RGX_FIELDNAME = re.compile(r"[a-zA-Z]+[a-zA-Z0-9_]*(?:\.[a-zA-Z]+[a-zA-Z0-9_]*)+")
_RGX_FIELD_ARG_BARESTR = re.compile(r"[^\]\[\"'\s]+")
_RGX_HEXNUM = re.compile(r"0[xX][0-9a-zA-Z]+")
_RGX_NUMBER = re.compile(r"[+\-]?[0-9]+\.?[0-9]*(?:[eE][+\-][0-9]+)?")
_RGX_BARESTR = re.compile(r"[^()\"'\s=,]+")
_BLANKS = " \t\b\r\n"
_RGX_BLANKS = re.compile("[" + re.escape(_BLANKS) + "]+")
_RGX_LINE_BREAK = re.compile("[\r\n]")

IDENTIFIER_RE = re.compile(r"[a-zA-Z]+[a-zA-Z0-9_]*\Z")
BARESTR_RE = re.compile(r"[^()\"'\s=,]+\Z")


def _quoted_list(items: tuple[str, ...]) -> str:
    return ", ".join(f"'{i}'" for i in items)


def unescape(token: str) -> str:
    """Remove the quotes of a quoted token and resolve its escapes, as libsinsp does."""
    quote = token[0]
    out: list[str] = []
    escaped = False
    simple = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", " ": "\\", "\\": "\\"}
    for ch in token[1:-1]:
        if not escaped:
            if ch == "\\":
                escaped = True
            else:
                out.append(ch)
            continue
        escaped = False
        if ch in simple:
            out.append(simple[ch])
        elif ch == "/":
            out.append("/")
        elif ch in "\"'":
            if ch != quote:
                raise ValueError(f"invalid \\{ch} escape in {quote}-quoted string")
            out.append(ch)
        else:
            raise ValueError(f"unsupported string escape sequence: \\{ch}")
    return "".join(out)


class Parser:
    """Recursive-descent parser; one instance parses one condition string."""

    def __init__(self, text: str, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
        self.text = text
        self.max_depth = max_depth
        self._i = 0
        self._depth = 0
        self._last = ""
        # offsets just after each line break ("\r" and "\n" each count, as upstream):
        # lines and columns are worked out only when a position is taken
        self._breaks = [m.end() for m in _RGX_LINE_BREAK.finditer(text)]
        self._pos = ast.Pos()

    # -- entry point -------------------------------------------------------------------

    def parse(self) -> ast.Expr:
        """Parse the whole input or raise :class:`ConditionSyntaxError`."""
        if not self.text:
            raise ConditionSyntaxError("filter input string is empty", self.pos())
        old_limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(old_limit, self.max_depth * 8 + 1000))
        try:
            expr = self._parse_or()
            if self._i != len(self.text):
                self._fail(f"unexpected token after '{self._last}', expecting 'or', 'and'")
            return expr
        finally:
            sys.setrecursionlimit(old_limit)

    # -- position helpers --------------------------------------------------------------

    def pos(self) -> ast.Pos:
        """The parser's current position."""
        i = self._i
        if self._pos.idx != i:
            line = bisect_right(self._breaks, i)
            start = self._breaks[line - 1] if line else 0
            self._pos = ast.Pos(i, line + 1, i - start + 1)
        return self._pos

    def _set_pos(self, p: ast.Pos) -> None:
        self._i = p.idx

    def _advance(self, n: int) -> None:
        self._i += n

    def _fail(self, message: str) -> NoReturn:
        raise ConditionSyntaxError(message, self.pos())

    def _enter(self) -> None:
        self._depth += 1
        if self._depth >= self.max_depth:
            self._fail(f"exceeded max depth limit of {self.max_depth}")

    # -- lexing helpers ----------------------------------------------------------------

    def _blank(self) -> bool:
        m = _RGX_BLANKS.match(self.text, self._i)
        if m is None:
            return False
        self._i = m.end()
        return True

    def _str(self, s: str) -> bool:
        if self.text.startswith(s, self._i):
            self._last = s
            self._i += len(s)
            return True
        return False

    def _str_list(self, options: tuple[str, ...]) -> bool:
        text, i = self.text, self._i
        for s in options:
            if text.startswith(s, i):
                self._last = s
                self._i = i + len(s)
                return True
        return False

    def _rgx(self, rgx: re.Pattern[str]) -> bool:
        m = rgx.match(self.text, self._i)
        if m is None or m.end() == self._i:
            return False
        self._last = m.group(0)
        self._i = m.end()
        return True

    def _quoted(self) -> bool:
        text = self.text
        if self._i >= len(text) or text[self._i] not in "'\"":
            return False
        quote = text[self._i]
        prev = "\\"
        j = self._i
        while j < len(text):
            ch = text[j]
            if ch == quote and prev != "\\" and j != self._i:
                raw = text[self._i : j + 1]
                try:
                    value = unescape(raw)
                except ValueError as exc:
                    self._fail(str(exc))
                self._advance(j + 1 - self._i)
                self._last = value
                return True
            prev = ch
            j += 1
        self._fail(f"unterminated quoted string starting with {quote}")
        raise AssertionError  # unreachable

    # -- grammar -----------------------------------------------------------------------

    def _parse_or(self) -> ast.Expr:
        self._enter()
        pos = self.pos()
        self._blank()
        children = [self._parse_and()]
        self._blank()
        while self._str("or"):
            if not self._blank():
                if self._str("("):
                    child = self._parse_embedded_remainder()
                else:
                    self._fail("expected blank or '(' after 'or'")
            else:
                child = self._parse_and()
            children.append(child)
            self._blank()
        self._depth -= 1
        return ast.Or(children, pos) if len(children) > 1 else children[0]

    def _parse_and(self) -> ast.Expr:
        self._enter()
        pos = self.pos()
        self._blank()
        children = [self._parse_not()]
        self._blank()
        while self._str("and"):
            if not self._blank():
                if self._str("("):
                    child = self._parse_embedded_remainder()
                else:
                    self._fail("expected blank or '(' after 'and'")
            else:
                child = self._parse_not()
            children.append(child)
            self._blank()
        self._depth -= 1
        return ast.And(children, pos) if len(children) > 1 else children[0]

    def _parse_not(self) -> ast.Expr:
        self._enter()
        pos = self.pos()
        negate = False
        self._blank()
        while self._rgx(_RGX_NOT_BLANK):
            negate = not negate
        if self._str("not("):
            negate = not negate
            child = self._parse_embedded_remainder()
        else:
            child = self._parse_check()
        self._depth -= 1
        return ast.Not(child, pos) if negate else child

    def _parse_embedded_remainder(self) -> ast.Expr:
        self._enter()
        self._blank()
        child = self._parse_or()
        self._blank()
        if not self._str(")"):
            self._fail("expected a ')' token")
        self._depth -= 1
        return child

    def _parse_check(self) -> ast.Expr:
        self._enter()
        pos = self.pos()
        self._blank()
        if self._str("("):
            result = self._parse_embedded_remainder()
        elif self._rgx(_RGX_FIELDNAME):
            left: ast.Operand = self._parse_field_remainder(self._last, pos)
            result = self._parse_condition(left, pos)
        elif self._str_list(TRANSFORMERS):
            self._blank()
            left = self._parse_transformer_remainder(self._last[:-1], pos)
            result = self._parse_condition(left, pos)
        elif self._rgx(_RGX_IDENTIFIER):
            result = ast.Identifier(self._last, pos)
        else:
            self._fail("expected a '(' token, a field check, or an identifier")
        self._depth -= 1
        return result

    def _parse_field_remainder(self, name: str, pos: ast.Pos) -> ast.FieldRef:
        arg = None
        if self._str("["):
            if not self._quoted() and not self._rgx(_RGX_FIELD_ARG_BARESTR):
                self._fail("expected a valid field argument: a quoted string or a bare string")
            arg = self._last
            if not self._str("]"):
                self._fail("expected a ']' token")
        return ast.FieldRef(name, arg, pos)

    def _parse_transformer_remainder(self, name: str, pos: ast.Pos) -> ast.Transformer:
        self._enter()
        self._blank()
        arg_pos = self.pos()
        child: ast.FieldRef | ast.Transformer | None = None
        if self._str_list(TRANSFORMERS):
            self._blank()
            child = self._parse_transformer_remainder(self._last[:-1], arg_pos)
        elif self._rgx(_RGX_FIELDNAME):
            child = self._parse_field_remainder(self._last, arg_pos)
        if child is None:
            names = ("val", *TRANSFORMER_NAMES)
            self._fail(f"expected a field or a nested valid transformer: {_quoted_list(names)}")
        self._blank()
        if not self._str(")"):
            self._fail("expected a ')' token closing the transformer")
        self._depth -= 1
        return ast.Transformer(name, child, pos)

    def _parse_condition(self, left: ast.Operand, pos: ast.Pos) -> ast.Expr:
        self._blank()
        if self._str_list(UNARY_OPS):
            return ast.UnaryCheck(left, self._last.strip(), pos)
        self._blank()
        right: ast.Value | ast.ListValue | ast.Operand
        if self._str_list(NUM_OPS):
            op = self._last
            right = self._parse_num_value()
        elif self._str_list(STR_OPS):
            op = self._last.strip()
            right = self._parse_str_value(allow_transformer=True)
        elif self._str_list(LIST_OPS):
            op = self._last
            right = self._parse_list_value()
        else:
            self._fail(f"expected a valid check operator: one of {_quoted_list(ALL_OPERATORS)}")
        return ast.BinaryCheck(left, op, right, pos)

    def _try_transformer_or_val(self) -> ast.Transformer | None:
        self._blank()
        pos = self.pos()
        if self._str(VAL_TRANSFORMER):
            self._blank()
            field_pos = self.pos()
            if not self._rgx(_RGX_FIELDNAME):
                self._fail("expected a field within 'val' transformer")
            child = self._parse_field_remainder(self._last, field_pos)
            self._blank()
            if not self._str(")"):
                self._fail("expected a ')' token closing the transformer")
            return ast.Transformer("val", child, pos)
        if self._str_list(TRANSFORMERS):
            self._blank()
            return self._parse_transformer_remainder(self._last[:-1], pos)
        return None

    def _parse_num_value(self) -> ast.Value | ast.Transformer:
        self._blank()
        pos = self.pos()
        transformer = self._try_transformer_or_val()
        if transformer is not None:
            return transformer
        if self._rgx(_RGX_HEXNUM) or self._rgx(_RGX_NUMBER):
            return ast.Value(self._last, pos)
        names = ("val", *TRANSFORMER_NAMES)
        self._fail(
            f"expected a number value or a field with a valid transformer: {_quoted_list(names)}"
        )
        raise AssertionError  # unreachable

    def _parse_str_value(self, allow_transformer: bool) -> ast.Value | ast.Transformer:
        self._blank()
        pos = self.pos()
        if allow_transformer:
            transformer = self._try_transformer_or_val()
            if transformer is not None:
                return transformer
        if self._quoted() or self._rgx(_RGX_BARESTR):
            return ast.Value(self._last, pos)
        if not allow_transformer:
            self._fail("expected a string value")
        names = ("val", *TRANSFORMER_NAMES)
        self._fail(
            f"expected a string value or a field with a valid transformer: {_quoted_list(names)}"
        )
        raise AssertionError  # unreachable

    def _parse_list_value(self) -> ast.ListValue | ast.Value | ast.Transformer:
        self._blank()
        pos = self.pos()
        if self._str("("):
            values: list[str] = []
            self._blank()
            start = self.pos()
            if self._quoted() or self._rgx(_RGX_BARESTR):
                values.append(self._last)
                self._blank()
                while self._str(","):
                    self._blank()
                    value = self._parse_str_value(allow_transformer=False)
                    assert isinstance(value, ast.Value)
                    values.append(value.value)
                    self._blank()
            else:
                self._set_pos(start)
            if not self._str(")"):
                self._fail("expected a ')' token")
            return ast.ListValue(values, pos)
        transformer = self._try_transformer_or_val()
        if transformer is not None:
            return transformer
        if self._rgx(_RGX_IDENTIFIER):
            return ast.Value(self._last, pos)
        names = ("val", *TRANSFORMER_NAMES)
        self._fail(
            "expected a list, an identifier, or a field with a valid transformer: "
            f"{_quoted_list(names)}"
        )
        raise AssertionError  # unreachable


def parse_condition(text: str, max_depth: int = DEFAULT_MAX_DEPTH) -> ast.Expr:
    """Parse a condition string into its syntax tree."""
    return Parser(text, max_depth).parse()
