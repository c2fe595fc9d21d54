"""Field classes: what a source tells the engine about the fields its events carry.

A source registers a :class:`FieldTable`; the compiler resolves every field name in a
condition or output template against it and binds an extractor once, at compile time.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lanner.exceptions import DuplicateFieldError

Extractor = Callable[[Any], Any]
"""A bound getter: event -> value, or None when the event has no value for the field."""


class FieldType(enum.StrEnum):
    """Value types the comparison operators understand (libsinsp's PT_* collapsed)."""

    STRING = "string"
    NUMBER = "number"  # integers of any width, relative and absolute times
    BOOL = "bool"
    IPADDR = "ipaddr"  # IPv4 or IPv6 address; compared against addresses or networks
    IPNET = "ipnet"  # an address whose comparisons take networks (fd.net, fd.snet...)
    BYTES = "bytes"  # raw buffers, for bcontains/bstartswith
    PORT = "port"


class ArgKind(enum.Enum):
    """What may follow a field name in brackets (or after a dot, for keyed fields)."""

    NONE = "none"
    INDEX = "index"  # proc.aname[2]: a non-negative integer
    KEY = "key"  # evt.arg[name], k8s.pod.label[app], jevt.value[/a/b]
    # How mandatory the argument is is given separately by Field.arg_required.


@dataclass(frozen=True, slots=True)
class Field:
    """One field a source can extract, e.g. ``proc.name``.

    ``extract(event, arg)`` returns the value, a list of values when ``is_list``, or None
    when the event carries none. ``bind`` may be overridden per field for speed.
    """

    name: str
    type: FieldType
    desc: str
    extract: Callable[[Any, Any], Any]
    arg: ArgKind = ArgKind.NONE
    arg_required: bool = False
    is_list: bool = False
    dotted_arg: bool = False  # also accept name.ARG as name[ARG] (evt.arg.fd)
    bind_arg: Callable[[Any], Extractor] | None = None
    # Without an argument the field stands for several values and a check holds when it
    # holds for any of them (libsinsp's proc.aname, fd.ip, fd.port, fd.net). The getter
    # then returns a tuple of values.
    any_of: bool = False
    # With any_of: ``!=`` holds only when it holds for every value, i.e. when no value
    # equals the constant (libsinsp's fd.ip, fd.port, fd.net: neither end of the
    # connection). Without it ``!=`` is any-of like every other operator (proc.aname).
    any_of_ne_all: bool = False
    # Without an argument the field is a list (container.mount.source), with one a scalar.
    list_without_arg: bool = False
    # Relative cost of one extraction (1: a lookup; 10: text rendering). The per-type
    # matchers evaluate the cheaper checks of an ``and`` first.
    cost: int = 1

    def bind(self, arg: Any) -> Extractor:
        """Return an event -> value getter for this field with its argument fixed."""
        if self.bind_arg is not None:
            return self.bind_arg(arg)
        extract = self.extract
        return lambda event: extract(event, arg)


def _defined_at(f: Field) -> str:
    """Where a field's extractor is written (module.function), to find both definitions."""
    code = getattr(f.extract, "__code__", None)
    where = f"{getattr(f.extract, '__module__', '?')}.{getattr(f.extract, '__qualname__', '?')}"
    return f"{where} line {code.co_firstlineno}" if code is not None else where


@dataclass(slots=True)
class FieldTable:
    """The fields of one event source, looked up by name."""

    source: str
    fields: dict[str, Field] = field(default_factory=dict)

    def add(self, *fields: Field) -> None:
        """Register fields; a name that is already registered is a DuplicateFieldError
        (two definitions of one field would leave the later one silently winning)."""
        for f in fields:
            known = self.fields.get(f.name)
            if known is not None:
                raise DuplicateFieldError(
                    f"{self.source} source: field {f.name} is defined twice "
                    f"({_defined_at(known)} and {_defined_at(f)})"
                )
            self.fields[f.name] = f

    def replace(self, *fields: Field) -> None:
        """Put fields in the place of registered ones of the same names, on purpose (e.g.
        to wrap an extractor); a name that is not registered is a KeyError."""
        for f in fields:
            if f.name not in self.fields:
                raise KeyError(f"{self.source} source: no field {f.name} to replace")
            self.fields[f.name] = f

    def extend(self, fields: Iterable[Field]) -> None:
        """Register every field of an iterable."""
        self.add(*fields)

    def __iter__(self) -> Iterator[Field]:
        return iter(self.fields.values())

    def __contains__(self, name: str) -> bool:
        return self.resolve(name) is not None

    def resolve(self, name: str) -> tuple[Field, str | None] | None:
        """Find ``name`` or a dotted-argument form of it (``evt.arg.fd`` -> evt.arg, "fd")."""
        f = self.fields.get(name)
        if f is not None:
            return f, None
        head, dot, _ = name.rpartition(".")
        while dot:
            f = self.fields.get(head)
            if f is not None and f.dotted_arg:
                return f, name[len(head) + 1 :]
            head, dot, _ = head.rpartition(".")
        return None


@dataclass(slots=True)
class SourceSpec:
    """What the engine needs to know about an event source.

    ``event_types`` is the universe of event type names when the source has event types
    (``syscall``); rules are then indexed by the types their condition can match, read
    from comparisons on ``event_type_field``. ``event_type_of`` gives an event's type and
    ``event_time_of`` its timestamp in nanoseconds since the epoch (for alert times).
    """

    name: str
    fields: FieldTable
    event_type_field: str | None = None
    event_types: frozenset[str] = frozenset()
    event_type_of: Callable[[Any], str] | None = None
    event_time_of: Callable[[Any], int] | None = None
