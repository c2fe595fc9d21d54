"""The ``syscall`` source as the rule engine sees it: fields and event types."""

from __future__ import annotations

from functools import lru_cache

from lanner.engine.fields import SourceSpec

from . import event_table as et
from .containers.store import MetadataStore
from .event import Event
from .fields import syscall_fields


def event_type_names() -> frozenset[str]:
    """Every evt.type value: event names plus the syscall names of generic events."""
    codes = (n for n in et.SYSCALL_CODE_NAMES[1:] if not n.startswith("na_"))
    return frozenset(et.EVENT_NAMES) | frozenset(codes)


def event_type_of(event: Event) -> str:
    """evt.type of an event."""
    return event.name


def event_time_of(event: Event) -> int:
    """Event timestamp in ns since the epoch."""
    return event.ts


@lru_cache(maxsize=4)
def syscall_source(store: MetadataStore | None = None) -> SourceSpec:
    """The SourceSpec of the syscall source, its container fields reading ``store`` (None:
    no container metadata). Built once per store."""
    return SourceSpec(
        name="syscall",
        fields=syscall_fields(store),
        event_type_field="evt.type",
        event_types=event_type_names(),
        event_type_of=event_type_of,
        event_time_of=event_time_of,
    )
