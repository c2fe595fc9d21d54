"""The ``k8s_audit`` source: Kubernetes audit events from files or the apiserver's webhook.

>>> engine = Engine([k8s_audit_source()])
>>> for event in read_audit_events("audit.log"):          # Event, EventList or JSON lines
...     engine.process(event, "k8s_audit")
>>> with AuditWebhook(port=9765, path="/k8s-audit") as hook:   # or certfile=/keyfile= for TLS
...     for event in hook.events():
...         engine.process(event, "k8s_audit")
"""

from lanner.sources.json_source.event import JsonEvent
from lanner.sources.json_source.reader import LineError
from lanner.sources.k8s_audit.fields import ka_fields
from lanner.sources.k8s_audit.payload import Parsed, parse_payload
from lanner.sources.k8s_audit.reader import looks_like_audit_file, read_audit_events
from lanner.sources.k8s_audit.source import SOURCE_NAME, k8s_audit_source
from lanner.sources.k8s_audit.webhook import (
    DEFAULT_MAX_BODY,
    DEFAULT_PATH,
    DEFAULT_PORT,
    AuditWebhook,
    Busy,
    bearer_ok,
    is_loopback,
)

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_PATH",
    "DEFAULT_PORT",
    "SOURCE_NAME",
    "AuditWebhook",
    "Busy",
    "JsonEvent",
    "LineError",
    "Parsed",
    "bearer_ok",
    "is_loopback",
    "k8s_audit_source",
    "ka_fields",
    "looks_like_audit_file",
    "parse_payload",
    "read_audit_events",
]
