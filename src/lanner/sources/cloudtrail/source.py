"""The ``aws_cloudtrail`` source: ``ct.*``/``s3.*``/``ec2.*``/``ecr.*``, ``json.*``, ``evt.*``."""

from __future__ import annotations

from lanner.engine.fields import FieldTable, SourceSpec
from lanner.sources.cloudtrail.fields import ct_fields, info
from lanner.sources.json_source.evt_fields import plugin_event_fields
from lanner.sources.json_source.fields import all_json_fields

SOURCE_NAME = "aws_cloudtrail"


def _plugininfo(event: object) -> str | None:
    data = getattr(event, "data", None)
    return info(data) if isinstance(data, dict) else None


def cloudtrail_source() -> SourceSpec:
    """The SourceSpec for CloudTrail records (:class:`JsonEvent`, time from eventTime)."""
    table = FieldTable(SOURCE_NAME)
    table.extend(plugin_event_fields(SOURCE_NAME, "cloudtrail", _plugininfo))
    table.extend(all_json_fields())
    table.extend(ct_fields())
    return SourceSpec(name=SOURCE_NAME, fields=table, event_time_of=lambda e: e.ts)
