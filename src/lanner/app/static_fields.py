"""Falco's ``static_fields``: constant ``static.NAME`` string fields in every source."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from lanner.engine.append_output import STATIC_PREFIX
from lanner.engine.fields import Field, FieldType, SourceSpec


def _constant(value: str) -> Callable[[Any, Any], str]:
    return lambda _event, _arg: value


def with_static_fields(
    sources: Iterable[SourceSpec], values: Mapping[str, str]
) -> list[SourceSpec]:
    """Copies of ``sources`` whose field tables also have ``static.NAME`` = ``values[NAME]``
    (usable in conditions and outputs; suggested by ``append_output.suggested_output``)."""
    specs = list(sources)
    if not values:
        return specs
    out = []
    for spec in specs:
        table = copy.copy(spec.fields)  # the same kind of table (JSON lines: dynamic)
        table.fields = dict(spec.fields.fields)
        for name, value in sorted(values.items()):
            table.add(
                Field(
                    f"{STATIC_PREFIX}{name}",
                    FieldType.STRING,
                    "a static field of the configuration (static_fields)",
                    _constant(str(value)),
                )
            )
        out.append(dataclasses.replace(spec, fields=table))
    return out
