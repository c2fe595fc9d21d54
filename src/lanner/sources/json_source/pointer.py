"""JSON pointers (RFC 6901) resolved the way the json plugin's ``json.value`` does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MISSING: Any = object()
"""Returned when the pointer leads nowhere (distinct from a JSON null)."""


def split_pointer(pointer: str) -> tuple[str, ...]:
    """The reference tokens of a pointer; a missing leading ``/`` is tolerated."""
    if not pointer:
        return ()
    body = pointer[1:] if pointer[0] == "/" else pointer
    return tuple(t.replace("~1", "/").replace("~0", "~") for t in body.split("/"))


def resolve(doc: Any, tokens: tuple[str, ...]) -> Any:
    """The value at ``tokens`` in ``doc``, or MISSING."""
    value = doc
    for token in tokens:
        if isinstance(value, dict):
            value = value.get(token, MISSING)
            if value is MISSING:
                return MISSING
        elif isinstance(value, list):
            if not token.isdigit():
                return MISSING
            index = int(token)
            if index >= len(value):
                return MISSING
            value = value[index]
        else:
            return MISSING
    return value


def compile_pointer(pointer: str) -> Callable[[Any], Any]:
    """A fast ``doc -> value or MISSING`` function for one pointer."""
    tokens = split_pointer(pointer)
    if all(not t.isdigit() for t in tokens):
        # object keys only: the common case (/requestObject/spec/hostNetwork)
        def by_keys(doc: Any) -> Any:
            value = doc
            for token in tokens:
                if type(value) is not dict:
                    return MISSING
                value = value.get(token, MISSING)
                if value is MISSING:
                    return MISSING
            return value

        return by_keys
    return lambda doc: resolve(doc, tokens)
