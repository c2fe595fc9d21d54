"""Helpers shared by the field modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lanner.engine.fields import ArgKind, Field, FieldType


def field(
    name: str,
    ftype: FieldType,
    desc: str,
    extract: Callable[[Any, Any], Any],
    *,
    arg: ArgKind = ArgKind.NONE,
    arg_required: bool = False,
    is_list: bool = False,
    dotted_arg: bool = False,
    any_of: bool = False,
    any_of_ne_all: bool = False,
    simple: Callable[[Any], Any] | None = None,
    cost: int = 1,
) -> Field:
    """Build a :class:`Field`; ``simple`` is a faster argument-less getter (event -> value)."""
    bind_arg = None
    if simple is not None:
        getter = simple

        def bind_arg(a: Any, _g: Callable[[Any], Any] = getter) -> Callable[[Any], Any]:
            if a is None:
                return _g
            return lambda e: extract(e, a)

    return Field(
        name,
        ftype,
        desc,
        extract,
        arg=arg,
        arg_required=arg_required,
        is_list=is_list,
        dotted_arg=dotted_arg,
        bind_arg=bind_arg,
        any_of=any_of,
        cost=cost,
        any_of_ne_all=any_of_ne_all,
    )
