"""A safe subset of Go's text/template, enough for Falcosidekick's templated fields.

Supported inside `{{ }}`: `.`, `.Field.Sub`, string and number literals, parentheses and
the functions `index`, `or`, `and`, `not`, `lower`, `upper`, `default`. `{{-`/`-}}` trim
spaces. Nothing is ever evaluated as Python; an unknown construct is a compile error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lanner.exceptions import TemplateError

_TOKEN = re.compile(
    r'\s+|(?P<str>"(?:[^"\\]|\\.)*"|`[^`]*`)|(?P<lp>\()|(?P<rp>\))'
    r"|(?P<field>(?:\.[A-Za-z_][\w]*)+)|(?P<dot>\.)|(?P<ident>[A-Za-z_]\w*)|(?P<num>-?\d+(?:\.\d+)?)"
)


def _lookup(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _index(obj: Any, *keys: Any) -> Any:
    for key in keys:
        if obj is None:
            return None
        if isinstance(obj, Mapping):
            obj = obj.get(key)
        elif isinstance(obj, list | tuple) and isinstance(key, int):
            obj = obj[key] if -len(obj) <= key < len(obj) else None
        else:
            raise TemplateError(f"cannot index {type(obj).__name__} with {key!r}")
    return obj


def _or(*args: Any) -> Any:
    for arg in args:
        if arg:
            return arg
    return args[-1] if args else None


def _and(*args: Any) -> Any:
    for arg in args:
        if not arg:
            return arg
    return args[-1] if args else None


FUNCS: dict[str, Callable[..., Any]] = {
    "index": _index,
    "or": _or,
    "and": _and,
    "not": lambda x: not x,
    "lower": lambda x: str(x or "").lower(),
    "upper": lambda x: str(x or "").upper(),
    "default": lambda d, x=None: x if x else d,
}

Node = tuple[str, Any]


def _parse_expr(tokens: list[tuple[str, str]], pos: int, stop: str | None) -> tuple[Node, int]:
    """Parse `term` or `func arg...` until `stop` (")" or end)."""
    items: list[Node] = []
    while pos < len(tokens) and tokens[pos][0] != stop:
        kind, text = tokens[pos]
        if kind == "lp":
            node, pos = _parse_expr(tokens, pos + 1, "rp")
            if pos >= len(tokens):
                raise TemplateError("unclosed parenthesis")
            items.append(node)
        elif kind == "rp":
            raise TemplateError("unexpected ')'")
        elif kind == "str":
            value = json.loads(text) if text.startswith('"') else text[1:-1]
            items.append(("lit", value))
        elif kind == "num":
            items.append(("lit", float(text) if "." in text else int(text)))
        elif kind == "dot":
            items.append(("dot", None))
        elif kind == "field":
            items.append(("field", text.split(".")[1:]))
        elif kind == "ident":
            if text not in FUNCS:
                raise TemplateError(f"unknown function {text!r}")
            items.append(("func", text))
        pos += 1
    if not items:
        raise TemplateError("empty expression")
    head = items[0]
    if head[0] == "func":
        return ("call", (head[1], items[1:])), pos
    if len(items) != 1:
        raise TemplateError("unexpected arguments after a value")
    return head, pos


def _eval(node: Node, root: Any) -> Any:
    kind, value = node
    if kind == "lit":
        return value
    if kind == "dot":
        return root
    if kind == "field":
        obj = root
        for name in value:
            obj = _lookup(obj, name)
        return obj
    if kind == "call":
        name, args = value
        return FUNCS[name](*(_eval(arg, root) for arg in args))
    if kind == "func":
        return FUNCS[value]()
    raise TemplateError(f"bad node {kind}")


def _render_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(_render_value(v) for v in value) + "]"
    return str(value)


@dataclass(frozen=True)
class Template:
    """A compiled template; `render(root)` evaluates it against a mapping."""

    source: str
    parts: tuple[str | Node, ...]

    def render(self, root: Any) -> str:
        """Evaluate against `root` (`.` in the template)."""
        out: list[str] = []
        for part in self.parts:
            out.append(part if isinstance(part, str) else _render_value(_eval(part, root)))
        return "".join(out)


def compile_template(source: str) -> Template:
    """Compile `source`; raise TemplateError with the reason if it is not supported."""
    parts: list[str | Node] = []
    pos = 0
    while True:
        start = source.find("{{", pos)
        if start < 0:
            parts.append(source[pos:])
            break
        text = source[pos:start]
        end = source.find("}}", start)
        if end < 0:
            raise TemplateError("unclosed '{{'")
        inner = source[start + 2 : end]
        if inner.startswith("-"):
            text, inner = text.rstrip(), inner[1:]
        trim_after = inner.endswith("-")
        if trim_after:
            inner = inner[:-1]
        parts.append(text)
        tokens: list[tuple[str, str]] = []
        i = 0
        while i < len(inner):
            m = _TOKEN.match(inner, i)
            if not m:
                raise TemplateError(f"unsupported syntax at {inner[i:]!r}")
            if m.lastgroup:
                tokens.append((m.lastgroup, m.group(m.lastgroup)))
            i = m.end()
        node, end_tok = _parse_expr(tokens, 0, None)
        if end_tok != len(tokens):
            raise TemplateError("unexpected ')'")
        parts.append(node)
        pos = end + 2
        if trim_after:
            while pos < len(source) and source[pos].isspace():
                pos += 1
    return Template(source, tuple(p for p in parts if p != ""))
