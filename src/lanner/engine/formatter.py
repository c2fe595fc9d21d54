"""Output templates: ``%field``, ``%(field)``, ``%field[arg]`` and literal text.

A template compiles once into literal pieces and bound getters. Missing values print as
``<NA>`` in text and become null in ``output_fields``, as in Falco.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from lanner.engine import ast
from lanner.engine.compiler import ConditionCompiler
from lanner.engine.utf8 import valid_utf8
from lanner.exceptions import CompileError, FormatError
from lanner.records import Record

_FIELD_TOKEN = re.compile(r"[A-Za-z0-9_.]+(?:\[[^\]]*\])?")
_TRANSFORMER_TOKEN = re.compile(r"(tolower|toupper|b64|basename|len)\(([^()]*)\)")
NA = "<NA>"
_JSON_INT_MIN = -(2**63)
_JSON_INT_MAX = 2**64 - 1


def to_text(value: Any) -> str:
    """How a field value prints inside an output line (always valid UTF-8)."""
    if isinstance(value, str):
        return valid_utf8(value)
    if value is None:
        return NA
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | set | frozenset):
        return "(" + ",".join(to_text(v) for v in value) + ")"
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return valid_utf8(str(value))


def to_json_value(value: Any) -> Any:
    """How a field value appears in ``output_fields`` (strings always valid UTF-8)."""
    if isinstance(value, str):
        return valid_utf8(value)
    if isinstance(value, int) and not _JSON_INT_MIN <= value <= _JSON_INT_MAX:
        return str(value)  # JSON encoders refuse integers beyond 64 bits
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json_value(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    return valid_utf8(str(value))


class CompiledTemplate(Record):
    """A template ready to render against events."""

    __slots__ = __match_args__ = ("pieces",)
    pieces: list[str | tuple[str, Callable[[Any], Any]]]

    def __init__(self, pieces: list[str | tuple[str, Callable[[Any], Any]]]) -> None:
        self.pieces = pieces

    @property
    def field_names(self) -> list[str]:
        """The fields the template prints, in order, without duplicates."""
        seen: list[str] = []
        for p in self.pieces:
            if isinstance(p, tuple) and p[0] not in seen:
                seen.append(p[0])
        return seen

    def render(
        self, event: Any, on_error: Callable[[str, Exception], None] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """The text and the field values of one event. A field whose getter raises
        prints as ``<NA>`` (the alert is kept) and ``on_error(field, exception)`` hears
        of it."""
        out: list[str] = []
        fields: dict[str, Any] = {}
        for p in self.pieces:
            if isinstance(p, str):
                out.append(p)
                continue
            name, getter = p
            try:
                value = getter(event)
            except Exception as exc:  # a broken extractor must not lose the alert
                value = None
                if on_error is not None:
                    on_error(name, exc)
            fields[name] = to_json_value(value)
            out.append(to_text(value))
        return "".join(out), fields


def compile_template(template: str, compiler: ConditionCompiler) -> CompiledTemplate:
    """Compile ``template`` against a source's fields; raises FormatError on unknown fields."""
    pieces: list[str | tuple[str, Callable[[Any], Any]]] = []
    literal: list[str] = []
    i = 0
    n = len(template)
    while i < n:
        ch = template[i]
        if ch != "%" or i + 1 >= n:
            literal.append(ch)
            i += 1
            continue
        if template[i + 1] == "(":
            end = template.find(")", i + 2)
            if end == -1:
                raise FormatError(f"invalid formatting token: unterminated '%(' at {i}")
            token = template[i + 2 : end].strip()
            i = end + 1
            trailing = ""
        else:
            m = _TRANSFORMER_TOKEN.match(template, i + 1) or _FIELD_TOKEN.match(template, i + 1)
            if m is None:
                literal.append(ch)
                i += 1
                continue
            token = m.group(0)
            stripped = token.rstrip(".")
            trailing = token[len(stripped) :]
            token = stripped
            i = m.end()
        if literal:
            pieces.append("".join(literal))
            literal = []
        pieces.append((token, _getter(token, compiler)))
        if trailing:
            literal.append(trailing)
    if literal:
        pieces.append("".join(literal))
    return CompiledTemplate(pieces)


def _getter(token: str, compiler: ConditionCompiler) -> Callable[[Any], Any]:
    m = _TRANSFORMER_TOKEN.fullmatch(token)
    node: ast.Expr
    if m:
        node = ast.Transformer(m[1], _field_node(m[2].strip()))
    else:
        node = _field_node(token)
    try:
        return compiler.operand(node).getter
    except CompileError as exc:
        if "nonexistent field" in exc.message:  # Falco's formatter says just this
            raise FormatError(f"invalid formatting token {token}") from None
        raise FormatError(f"invalid formatting token {token}: {exc.message}") from None


def _field_node(token: str) -> ast.FieldRef:
    if token.endswith("]") and "[" in token:
        name, _, arg = token[:-1].partition("[")
        return ast.FieldRef(name, arg)
    return ast.FieldRef(token)
