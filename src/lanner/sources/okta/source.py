"""The ``okta`` source: Okta System Log events with the ``okta.*`` fields."""

from __future__ import annotations

from lanner.engine.fields import FieldTable, SourceSpec
from lanner.sources.json_source.evt_fields import plugin_event_fields
from lanner.sources.json_source.fields import all_json_fields
from lanner.sources.okta.fields import okta_fields

SOURCE_NAME = "okta"


def _plugininfo(event: object) -> str | None:
    data = getattr(event, "data", None)
    return None if not isinstance(data, dict) else str(data.get("displayMessage") or "")


def okta_source(organization: str = "") -> SourceSpec:
    """The SourceSpec of System Log events (:class:`OktaEvent`, time from ``published``)."""
    table = FieldTable(SOURCE_NAME)
    table.extend(plugin_event_fields(SOURCE_NAME, "okta", _plugininfo))
    table.extend(all_json_fields())
    table.extend(okta_fields(organization))
    return SourceSpec(name=SOURCE_NAME, fields=table, event_time_of=lambda e: e.ts)
