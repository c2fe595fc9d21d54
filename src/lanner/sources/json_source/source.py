"""The generic ``json`` source: any JSON document, fields ``json.*`` and ``jevt.*``."""

from __future__ import annotations

from lanner.engine.fields import FieldTable, SourceSpec
from lanner.sources.json_source.event import as_text
from lanner.sources.json_source.evt_fields import plugin_event_fields
from lanner.sources.json_source.fields import all_json_fields

SOURCE_NAME = "json"


def json_source(name: str = SOURCE_NAME) -> SourceSpec:
    """A source whose events are :class:`JsonEvent` documents of any shape."""
    table = FieldTable(name)
    table.extend(plugin_event_fields(name, "json", lambda e: as_text(e.data)))
    table.extend(all_json_fields())
    return SourceSpec(name=name, fields=table, event_time_of=lambda e: e.ts)
