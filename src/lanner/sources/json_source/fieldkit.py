"""Helpers to declare the string fields of JSON-based sources with fast bound getters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lanner.engine.fields import ArgKind, Field, FieldType

Getter = Callable[[Any], Any]


def plain(
    name: str,
    desc: str,
    getter: Getter,
    ftype: FieldType = FieldType.STRING,
    *,
    is_list: bool = False,
) -> Field:
    """A field without an argument; ``getter(event)`` is bound as-is."""
    return Field(
        name, ftype, desc, lambda e, _a: getter(e), is_list=is_list, bind_arg=lambda _a: getter
    )


def with_arg(
    name: str,
    desc: str,
    make: Callable[[Any], Getter],
    *,
    kind: ArgKind,
    required: bool,
    is_list: bool = False,
    ftype: FieldType = FieldType.STRING,
) -> Field:
    """A field with an argument; ``make(arg)`` returns the getter for that argument.

    ``arg`` is None when an optional argument is absent, an int for index arguments and
    a string for key arguments.
    """
    return Field(
        name,
        ftype,
        desc,
        lambda e, a: make(a)(e),
        arg=kind,
        arg_required=required,
        is_list=is_list,
        bind_arg=make,
    )


def list_or_none(values: list[Any] | None) -> list[Any] | None:
    """An empty list is no value, as libsinsp treats a plugin field with no results."""
    return values if values else None
