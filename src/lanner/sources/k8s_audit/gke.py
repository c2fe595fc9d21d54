"""GKE audit log entries as Kubernetes audit events, as Falco's k8saudit-gke plugin
rebuilds them: GKE writes its audit logs to Cloud Logging (``LogEntry`` with an
``AuditLog`` protoPayload, serviceName ``k8s.io``), so the original ``audit.k8s.io/v1``
Event is not available and is reconstructed from what the entry holds:

- ``auditID`` is the entry's ``insertId``; both timestamps its ``receiveTimestamp``;
- ``verb`` the last part of ``methodName`` (``io.k8s.core.v1.pods.create`` -> create);
- ``objectRef`` and ``requestURI`` from ``resourceName``
  (``core/v1/namespaces/default/pods/nginx/exec``);
- ``user.username`` the principal's email, ``sourceIPs`` the caller IP, ``userAgent``;
- ``responseStatus`` inferred (201 for create, else 200; 101 for exec/attach, whose stage
  is ResponseStarted, else ResponseComplete), ``requestObject``/``responseObject`` the
  request and response, ``annotations`` the entry's labels and its resource's labels
  (cluster_name, location, project_id).

Entries that are not GKE audit logs are refused with :class:`NotAuditEvent`.
"""

from __future__ import annotations

from typing import Any

from lanner.exceptions import NotAuditEvent
from lanner.sources.json_source.event import JsonEvent, parse_rfc3339

AUDIT_LOG_TYPE = "type.googleapis.com/google.cloud.audit.AuditLog"
_LOGS = ("cloudaudit.googleapis.com%2Factivity", "cloudaudit.googleapis.com%2Fdata_access")


def _object_ref(resource_name: str) -> dict[str, str] | None:
    """The object reference of a GKE resource name, as the plugin splits it."""
    if not resource_name:
        return None
    parts = resource_name.split("/")
    n, namespaced = len(parts), len(parts) > 2 and parts[2] == "namespaces"
    keys: tuple[str, ...]
    if n == 4:  # group/version/resource/name, even for namespaces/NAME
        keys = ("apiGroup", "apiVersion", "resource", "name")
    elif namespaced and n >= 5:
        keys = ("apiGroup", "apiVersion", "", "namespace", "resource", "name", "subresource")
    elif not namespaced and n >= 5:
        keys = ("apiGroup", "apiVersion", "resource", "name", "subresource")
    else:
        return None
    return {k: v for k, v in zip(keys, parts, strict=False) if k}


def _status(verb: str) -> dict[str, Any]:
    if verb == "create":
        return {"status": "Created (inferred)", "code": 201, "message": "Created (inferred)"}
    return {"status": "OK (inferred)", "code": 200, "message": "OK (inferred)"}


def _strings(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str)}


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _string(value: Any) -> str:
    return value if isinstance(value, str) else ""


def convert_log_entry(entry: Any, cluster_labels: Any = None) -> dict[str, Any]:
    """The ``audit.k8s.io/v1`` Event rebuilt from a GKE audit ``LogEntry`` (JSON);
    ``cluster_labels`` (a :class:`~lanner.sources.k8s_audit.gke_metadata.ClusterLabels`)
    adds the cluster's resource labels to the annotations."""
    if not isinstance(entry, dict):
        raise NotAuditEvent("not a JSON object")
    log_name = entry.get("logName")
    resource = _mapping(entry.get("resource"))
    if not isinstance(log_name, str) or not log_name.endswith(_LOGS):
        raise NotAuditEvent(f"not an audit log entry (logName {log_name!r})")
    if resource.get("type") != "k8s_cluster":
        raise NotAuditEvent(f"not a GKE audit log entry (resource.type {resource.get('type')!r})")
    payload = entry.get("protoPayload")
    if not isinstance(payload, dict) or payload.get("@type") != AUDIT_LOG_TYPE:
        kind = payload.get("@type") if isinstance(payload, dict) else None
        raise NotAuditEvent(f"unsupported payload type {kind!r}")
    if payload.get("serviceName") != "k8s.io":
        raise NotAuditEvent(f"service {payload.get('serviceName')!r} is not k8s.io")
    received = entry.get("receiveTimestamp")
    if parse_rfc3339(received) is None:
        raise NotAuditEvent(f"no valid receiveTimestamp ({received!r})")
    method = _string(payload.get("methodName"))
    verb = method.split(".")[-1]
    resource_name = _string(payload.get("resourceName"))
    ref = _object_ref(resource_name)
    status = _status(verb)
    level, stage = "RequestResponse", "ResponseComplete"
    if ref is not None and ref.get("subresource") in ("attach", "exec"):
        level, stage = "Request", "ResponseStarted"
        text = "Switching Protocols (inferred)"
        status = {"status": text, "code": 101, "message": text}
    auth = _mapping(payload.get("authenticationInfo"))
    meta = _mapping(payload.get("requestMetadata"))
    event: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": level,
        "auditID": entry.get("insertId") or "",
        "stage": stage,
        "requestURI": f"/{resource_name}",
        "verb": verb,
        "user": {"username": auth.get("principalEmail") or ""},
        "sourceIPs": [meta.get("callerIp") or ""],
        "responseStatus": {"metadata": {}, **status},
        "requestReceivedTimestamp": received,
        "stageTimestamp": received,
    }
    if meta.get("callerSuppliedUserAgent"):
        event["userAgent"] = meta["callerSuppliedUserAgent"]
    resource_labels = _strings(resource.get("labels"))
    if cluster_labels is not None:
        resource_labels = {**cluster_labels.extra(resource_labels), **resource_labels}
    annotations = {**_strings(entry.get("labels")), **resource_labels}
    if annotations:
        event["annotations"] = annotations
    if ref is not None:
        event["objectRef"] = ref
    for key, name in (("request", "requestObject"), ("response", "responseObject")):
        if isinstance(payload.get(key), dict):
            event[name] = payload[key]
    return event


def gke_audit_event(entry: Any, num: int = 0, cluster_labels: Any = None) -> JsonEvent:
    """The k8s_audit event of a GKE audit log entry (NotAuditEvent when it is none)."""
    event = convert_log_entry(entry, cluster_labels)
    ts = parse_rfc3339(event["requestReceivedTimestamp"]) or 0
    return JsonEvent(event, ts, num)
