"""The ``evt.*`` fields libsinsp gives every plugin event (number, times, source, info)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from lanner.engine.fields import Field, FieldType
from lanner.sources.json_source.fieldkit import plain

N = FieldType.NUMBER


def _clock(ts: int, fmt: str, utc: bool = False) -> str:
    secs, nanos = divmod(int(ts), 1_000_000_000)
    return time.strftime(fmt, time.gmtime(secs) if utc else time.localtime(secs)) + f".{nanos:09d}"


def plugin_event_fields(
    source: str, plugin: str, info: Callable[[Any], Any] | None = None
) -> list[Field]:
    """The generic fields of a plugin source's events.

    ``info`` renders ``evt.plugininfo`` (the plugin's one-line summary of an event).
    """
    fields = [
        plain("evt.num", "event number", lambda e: e.num, N),
        plain(
            "evt.time", "event time, HH:MM:SS.nnnnnnnnn (local)", lambda e: _clock(e.ts, "%H:%M:%S")
        ),
        plain("evt.time.s", "event time, HH:MM:SS (local)", lambda e: _clock(e.ts, "%H:%M:%S")[:8]),
        plain(
            "evt.time.iso8601",
            "event time, ISO 8601 UTC",
            lambda e: _clock(e.ts, "%Y-%m-%dT%H:%M:%S", utc=True) + "Z",
        ),
        plain(
            "evt.datetime",
            "event time with the date (local)",
            lambda e: _clock(e.ts, "%Y-%m-%d %H:%M:%S"),
        ),
        plain(
            "evt.datetime.s",
            "event time with the date, to the second (local)",
            lambda e: _clock(e.ts, "%Y-%m-%d %H:%M:%S")[:19],
        ),
        plain("evt.rawtime", "event time, ns since the epoch", lambda e: e.ts, N),
        plain("evt.rawtime.s", "seconds part of evt.rawtime", lambda e: e.ts // 1_000_000_000, N),
        plain(
            "evt.rawtime.ns", "nanoseconds part of evt.rawtime", lambda e: e.ts % 1_000_000_000, N
        ),
        plain("evt.source", "the event's source", lambda _e: source),
        plain("evt.pluginname", "the plugin that produced the event", lambda _e: plugin),
        plain("evt.type", "event type: pluginevent", lambda _e: "pluginevent"),
    ]
    if info is not None:
        fields.append(plain("evt.plugininfo", "the plugin's summary of the event", info))
    return fields
