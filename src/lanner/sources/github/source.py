"""The ``github`` source: GitHub webhook messages with the ``github.*`` fields."""

from __future__ import annotations

from lanner.engine.fields import FieldTable, SourceSpec
from lanner.sources.github.fields import github_fields, summary
from lanner.sources.json_source.evt_fields import plugin_event_fields
from lanner.sources.json_source.fields import all_json_fields

SOURCE_NAME = "github"


def _plugininfo(event: object) -> str | None:
    data = getattr(event, "data", None)
    return summary(data) if isinstance(data, dict) else None


def github_source() -> SourceSpec:
    """The SourceSpec of GitHub webhook messages (:class:`JsonEvent`)."""
    table = FieldTable(SOURCE_NAME)
    table.extend(plugin_event_fields(SOURCE_NAME, "github", _plugininfo))
    table.extend(all_json_fields())
    table.extend(github_fields())
    return SourceSpec(name=SOURCE_NAME, fields=table, event_time_of=lambda e: e.ts)
