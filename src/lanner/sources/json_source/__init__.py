"""The generic ``json`` source and the JSON plumbing the k8s_audit and cloudtrail sources share.

>>> spec = json_source()
>>> for event in read_json_events("events.jsonl"):
...     alerts = engine.process(event, "json")
"""

from lanner.sources.json_source.event import JsonEvent, as_text, parse_rfc3339
from lanner.sources.json_source.evt_fields import plugin_event_fields
from lanner.sources.json_source.fields import all_json_fields, json_fields
from lanner.sources.json_source.reader import (
    ErrorHandler,
    LineError,
    open_binary,
    read_documents,
    read_json_events,
    read_json_text,
    report_to_stderr,
)
from lanner.sources.json_source.source import SOURCE_NAME, json_source

__all__ = [
    "SOURCE_NAME",
    "ErrorHandler",
    "JsonEvent",
    "LineError",
    "all_json_fields",
    "as_text",
    "json_fields",
    "json_source",
    "open_binary",
    "parse_rfc3339",
    "plugin_event_fields",
    "read_documents",
    "read_json_events",
    "read_json_text",
    "report_to_stderr",
]
