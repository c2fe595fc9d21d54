"""Recognising audit events in JSON: one ``Event``, an ``EventList``, or an array of them.

Follows falcosecurity/plugins ``ParseAuditEventsJSON``: an array is read element by
element, an object of kind ``EventList`` gives its ``items`` (which carry no kind), an
object of kind ``Event`` is one event; anything else is not an audit event. Each event
needs a ``stageTimestamp`` (or, failing that, ``requestReceivedTimestamp``), its time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lanner.exceptions import NotAuditEvent
from lanner.sources.json_source.event import JsonEvent, parse_rfc3339


@dataclass(slots=True)
class Parsed:
    """The events found in one payload and the reasons items were rejected."""

    events: list[JsonEvent] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)


def event_time(obj: dict[str, Any]) -> int | None:
    """The event's time in ns: stageTimestamp, else requestReceivedTimestamp."""
    ts = parse_rfc3339(obj.get("stageTimestamp"))
    if ts is None:
        ts = parse_rfc3339(obj.get("requestReceivedTimestamp"))
    return ts


def _add(obj: Any, out: Parsed, where: str) -> None:
    if not isinstance(obj, dict):
        out.rejected.append(f"{where}: not a JSON object")
        return
    ts = event_time(obj)
    if ts is None:
        out.rejected.append(f"{where}: no valid stageTimestamp or requestReceivedTimestamp")
        return
    out.events.append(JsonEvent(obj, ts))


MAX_ARRAY_DEPTH = 8  # arrays of arrays of events: deeper is an attack, not audit data


def parse_payload(
    value: Any, out: Parsed | None = None, where: str = "event", _depth: int = 0
) -> Parsed:
    """The audit events of a decoded JSON payload.

    Raises :class:`NotAuditEvent` when the payload as a whole is not audit data (also
    arrays nested deeper than :data:`MAX_ARRAY_DEPTH`); items of an EventList that
    cannot be used are listed in ``Parsed.rejected``.
    """
    out = out if out is not None else Parsed()
    if isinstance(value, list):
        if _depth >= MAX_ARRAY_DEPTH:
            raise NotAuditEvent(f"{where}: arrays nested deeper than {MAX_ARRAY_DEPTH}")
        for i, item in enumerate(value):
            parse_payload(item, out, f"{where}[{i}]", _depth + 1)
        return out
    kind = value.get("kind") if isinstance(value, dict) else None
    if kind == "EventList":
        items = value.get("items")
        if isinstance(items, list):
            for i, item in enumerate(items):
                _add(item, out, f"items[{i}]")
            return out
        if items is None:  # an empty list is serialised without items
            return out
        raise NotAuditEvent("EventList without an items array")
    if kind == "Event":
        _add(value, out, where)
        return out
    if isinstance(value, dict) and kind is None and "auditID" in value and "stage" in value:
        _add(value, out, where)  # an item of an EventList on its own line
        return out
    raise NotAuditEvent("data not recognized as a k8s audit event (kind Event or EventList)")


def numbered_events(
    doc: Any, where: str, bad: Callable[[str, str], None], numbers: Iterator[int]
) -> list[JsonEvent]:
    """The audit events of a log record's decoded payload, numbered from ``numbers``; a
    payload or item that is no audit event is reported as ``bad("bad_event", message)``
    (the message names ``where``) and skipped."""
    try:
        parsed = parse_payload(doc, where=where)
    except NotAuditEvent as exc:
        bad("bad_event", f"{where}: {exc}; skipped")
        return []
    for reason in parsed.rejected:
        bad("bad_event", f"{where}: {reason}; skipped")
    for event in parsed.events:
        event.num = next(numbers)
    return parsed.events
