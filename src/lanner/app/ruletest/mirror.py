"""Typed dict sources that mirror a real source's fields, for inline test events.

A spec writes an event as the field values a rule would see (``fd.name: /etc/shadow``);
the mirror gives each value the type the real field has, so conditions compile and
compare exactly as they do against live or captured events.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping
from typing import Any

from lanner.engine.fields import Field, FieldTable, FieldType, SourceSpec


def _coerce(value: Any, ftype: FieldType) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [_coerce(v, ftype) for v in value]
    if ftype in (FieldType.NUMBER, FieldType.PORT):
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int | float):
            return value
        text = str(value).strip()
        try:
            return int(text, 0)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                return None
    if ftype is FieldType.BOOL:
        if isinstance(value, bool):
            return value
        return str(value).lower() == "true"
    if ftype in (FieldType.IPADDR, FieldType.IPNET):
        try:
            return ipaddress.ip_address(str(value))
        except ValueError:
            return None
    if ftype is FieldType.BYTES:
        return value if isinstance(value, bytes) else str(value).encode()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _lookup(event: Mapping[str, Any], name: str, arg: Any) -> Any:
    if arg is None:
        return event.get(name)
    for key in (f"{name}[{arg}]", f"{name}.{arg}"):
        if key in event:
            return event[key]
    value = event.get(name)
    if isinstance(value, Mapping):
        return value.get(str(arg))
    if isinstance(value, list):
        try:
            i = int(arg)
        except (TypeError, ValueError):
            return None
        return value[i] if 0 <= i < len(value) else None
    return None


def _mirror_field(f: Field) -> Field:
    name, ftype = f.name, f.type

    several = f.any_of  # without an argument such a field yields a tuple of values

    def extract(event: Mapping[str, Any], arg: Any) -> Any:
        value = _coerce(_lookup(event, name, arg), ftype)
        if several and arg is None and value is not None and not isinstance(value, list):
            return (value,)
        return tuple(value) if several and arg is None and isinstance(value, list) else value

    # same name, type, argument and list/any-of behaviour; only the extractor differs
    return dataclasses.replace(f, extract=extract, bind_arg=None)


def mirror_source(real: SourceSpec) -> SourceSpec:
    """A dict-event source with the same field names, types and event types as ``real``."""
    table = FieldTable(real.name)
    table.extend(_mirror_field(f) for f in real.fields)
    has_types = bool(real.event_types) and real.event_type_field is not None
    type_field = real.event_type_field or "evt.type"
    return SourceSpec(
        name=real.name,
        fields=table,
        event_type_field=real.event_type_field,
        event_types=real.event_types,
        event_type_of=(lambda e: str(e.get(type_field, ""))) if has_types else None,
        event_time_of=lambda e: (
            int(e.get("evt.rawtime") or e.get("evt.time") or 0)
            if isinstance(e.get("evt.rawtime") or e.get("evt.time") or 0, int)
            else 0
        ),
    )
