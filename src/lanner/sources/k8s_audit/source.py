"""The ``k8s_audit`` source: its field table (``ka.*``, ``jevt.*``, ``json.*``, ``evt.*``)."""

from __future__ import annotations

from typing import Any

from lanner.engine.fields import FieldTable, SourceSpec
from lanner.sources.json_source.event import as_text
from lanner.sources.json_source.evt_fields import plugin_event_fields
from lanner.sources.json_source.fields import all_json_fields
from lanner.sources.k8s_audit.fields import ka_fields
from lanner.sources.k8s_audit.payload import event_time

SOURCE_NAME = "k8s_audit"


def _event_time(event: Any) -> int:
    """The event's ns timestamp; for a hand-made event, read from its timestamps."""
    if event.ts:
        return int(event.ts)
    data = event.data
    return (event_time(data) or 0) if isinstance(data, dict) else 0


def k8s_audit_source() -> SourceSpec:
    """The SourceSpec the engine needs for Kubernetes audit events (:class:`JsonEvent`)."""
    table = FieldTable(SOURCE_NAME)
    table.extend(plugin_event_fields(SOURCE_NAME, "k8saudit", lambda e: as_text(e.data)))
    table.extend(all_json_fields())
    table.extend(ka_fields())
    return SourceSpec(
        name=SOURCE_NAME,
        fields=table,
        event_type_of=None,
        event_time_of=_event_time,
    )
