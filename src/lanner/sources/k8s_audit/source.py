"""The ``k8s_audit`` source: its field table (``ka.*``, ``jevt.*``, ``json.*``, ``evt.*``)."""

from __future__ import annotations

from lanner.engine.fields import FieldTable, SourceSpec
from lanner.sources.json_source.event import as_text
from lanner.sources.json_source.evt_fields import plugin_event_fields
from lanner.sources.json_source.fields import all_json_fields
from lanner.sources.k8s_audit.fields import ka_fields

SOURCE_NAME = "k8s_audit"


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
        event_time_of=lambda e: e.ts,
    )
