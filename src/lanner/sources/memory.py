"""A source whose events are plain dicts of field values, for tests and JSON-lines replay.

Fields are declared with their types; a declared field with an argument reads a nested
dict (``{"k8s.pod.label": {"app": "web"}}``) or a list (``{"proc.aname": ["sh", ...]}``).
In dynamic mode any dotted name is a string field, so ad-hoc JSON events can be replayed
before a real source exists.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from lanner.engine.fields import ArgKind, Field, FieldTable, FieldType, SourceSpec
from lanner.engine.values import parse_number
from lanner.exceptions import FieldValueError


def _extract(name: str) -> Any:
    def extract(event: Mapping[str, Any], arg: Any) -> Any:
        value = event.get(name)
        if arg is None or value is None:
            return value
        if isinstance(value, Mapping):
            return value.get(str(arg))
        if isinstance(value, list) and isinstance(arg, int):
            return value[arg] if 0 <= arg < len(value) else None
        return None

    return extract


def _from_text(ftype: FieldType) -> Any:
    """How a typed field reads a string value (as JSON events carry them), or None."""
    if ftype in (FieldType.IPADDR, FieldType.IPNET):
        return ipaddress.ip_address
    if ftype in (FieldType.NUMBER, FieldType.PORT):
        return parse_number
    if ftype is FieldType.BOOL:
        return {"true": True, "false": False}.__getitem__
    if ftype is FieldType.BYTES:
        return str.encode
    return None


def _typed(extract: Any, ftype: FieldType) -> Any:
    convert = _from_text(ftype)
    if convert is None:
        return extract

    def one(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return convert(value)
        except (ValueError, KeyError, FieldValueError):
            return None  # not a value of this type: the event has none

    def typed(event: Mapping[str, Any], arg: Any) -> Any:
        value = extract(event, arg)
        if isinstance(value, list):
            return [v for v in map(one, value) if v is not None]
        return one(value)

    return typed


def dict_field(
    name: str,
    ftype: FieldType = FieldType.STRING,
    *,
    arg: ArgKind = ArgKind.NONE,
    is_list: bool = False,
    desc: str = "",
) -> Field:
    """A field read from ``event[name]``; a string value is read as the field's type."""
    return Field(name, ftype, desc or f"{name} from the event dict",
                 _typed(_extract(name), ftype), arg=arg, is_list=is_list)  # fmt: skip


class _DynamicTable(FieldTable):
    """A field table that makes up a string field for any name it is asked about."""

    def resolve(self, name: str) -> tuple[Field, str | None] | None:
        found = super().resolve(name)
        if found is not None:
            return found
        f = Field(name, FieldType.STRING, "dynamic field", _stringify(name), arg=ArgKind.KEY)
        self.add(f)
        return f, None


def _stringify(name: str) -> Any:
    inner = _extract(name)

    def extract(event: Mapping[str, Any], arg: Any) -> Any:
        value = inner(event, arg)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        return orjson.dumps(value).decode()

    return extract


def dict_source(
    name: str = "syscall",
    fields: Iterable[Field] = (),
    *,
    event_types: Iterable[str] = (),
    dynamic: bool = False,
) -> SourceSpec:
    """A source of dict events; with ``event_types`` rules are indexed by ``evt.type``."""
    table = _DynamicTable(name) if dynamic else FieldTable(name)
    table.extend(fields)
    types = frozenset(event_types)
    if types and "evt.type" not in table.fields:
        table.add(dict_field("evt.type"))
    return SourceSpec(
        name=name,
        fields=table,
        event_type_field="evt.type" if types else None,
        event_types=types,
        event_type_of=(lambda e: e.get("evt.type", "")) if types else None,
        event_time_of=lambda e: e.get("evt.time") or 0,
    )


def read_json_lines(path: str | Path) -> Iterator[dict[str, Any]]:
    """Events from a JSON-lines file; a bad line is reported on stderr and skipped."""
    import sys

    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                print(f"{path}:{lineno}: skipped, not JSON: {exc}", file=sys.stderr)
                continue
            if not isinstance(obj, dict):
                print(f"{path}:{lineno}: skipped, not a JSON object", file=sys.stderr)
                continue
            yield obj
