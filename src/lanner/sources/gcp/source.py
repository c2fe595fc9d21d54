"""The ``gcp_auditlog`` source: Cloud Audit Log entries with the ``gcp.*`` fields."""

from __future__ import annotations

from typing import Any

from lanner.engine.fields import FieldTable, SourceSpec
from lanner.sources.gcp.fields import gcp_fields
from lanner.sources.json_source.evt_fields import plugin_event_fields
from lanner.sources.json_source.fields import all_json_fields

SOURCE_NAME = "gcp_auditlog"


def _plugininfo(event: Any) -> str | None:
    data = getattr(event, "data", None)
    if not isinstance(data, dict):
        return None
    payload = data.get("protoPayload")
    method = payload.get("methodName") if isinstance(payload, dict) else None
    return f"{method or ''} {data.get('logName') or ''}".strip()


def gcp_audit_source() -> SourceSpec:
    """The SourceSpec of Cloud Audit Log entries (:class:`JsonEvent`, time from the
    entry's ``timestamp``)."""
    table = FieldTable(SOURCE_NAME)
    table.extend(plugin_event_fields(SOURCE_NAME, "gcpaudit", _plugininfo))
    table.extend(all_json_fields())
    table.extend(gcp_fields())
    return SourceSpec(name=SOURCE_NAME, fields=table, event_time_of=lambda e: e.ts)
