"""The ``gcp.*`` fields of Cloud Audit Log entries, named, typed and described as the
Falco gcpaudit plugin does. Each reads one place of the ``LogEntry`` (JSON as a logs
routing sink publishes it): a string as it is, an object or array (``gcp.request``,
``gcp.authorizationInfo``, ``gcp.policyDelta``, ``gcp.resourceLabels``) as compact JSON,
absent as no value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from lanner.engine.fields import Field
from lanner.sources.json_source.fieldkit import plain

Doc = dict[str, Any]


def _at(doc: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if type(doc) is not dict:
            return None
        doc = doc.get(key)
    return doc


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if type(value) is str:
        return value
    return orjson.dumps(value).decode()


def _path(*keys: str) -> Callable[[Doc], str | None]:
    return lambda doc: _text(_at(doc, keys))


def _policy_delta(doc: Doc) -> str | None:
    """Bucket IAM changes carry the deltas in serviceData, BigQuery's in metadata."""
    if _at(doc, ("resource", "type")) == "gcs_bucket":
        return _text(_at(doc, ("protoPayload", "serviceData", "policyDelta", "bindingDeltas")))
    return _text(_at(doc, ("protoPayload", "metadata", "datasetChange", "bindingDeltas")))


def _location(doc: Doc) -> str | None:
    """``location``, else ``region``, else the zone without its letter (us-central1-a)."""
    labels = _at(doc, ("resource", "labels"))
    if type(labels) is not dict:
        return None
    for key in ("location", "region"):
        if key in labels:
            return _text(labels[key])
    zone = labels.get("zone")
    if type(zone) is not str or not zone:
        return None
    return zone[:-2] if len(zone) > 2 else zone


def _sink(doc: Doc) -> str | None:
    if _at(doc, ("resource", "type")) != "logging_sink":
        return None
    return _text(_at(doc, ("resource", "labels", "name")))


_PP, _LB = "protoPayload", ("resource", "labels")
_SPEC: list[tuple[str, str, Callable[[Doc], str | None]]] = [
    ("gcp.user", "GCP principal, actor of the action",
     _path(_PP, "authenticationInfo", "principalEmail")),
    ("gcp.callerIP", "Actor's IP", _path(_PP, "requestMetadata", "callerIp")),
    ("gcp.userAgent", "Actor's User Agent",
     _path(_PP, "requestMetadata", "callerSuppliedUserAgent")),
    ("gcp.authorizationInfo", "GCP authorization (JSON)", _path(_PP, "authorizationInfo")),
    ("gcp.serviceName", "GCP API service name", _path(_PP, "serviceName")),
    ("gcp.policyDelta", "GCP service resource access policy delta", _policy_delta),
    ("gcp.request", "GCP API raw request (JSON)", _path(_PP, "request")),
    ("gcp.methodName", "GCP API service method executed", _path(_PP, "methodName")),
    ("gcp.cloudfunctions.function", "GCF name", _path(*_LB, "function_name")),
    ("gcp.cloudsql.databaseId", "GCP SQL database ID", _path(*_LB, "database_id")),
    ("gcp.compute.instanceId", "GCE instance ID", _path(*_LB, "instance_id")),
    ("gcp.compute.networkId", "GCP network ID", _path(*_LB, "network_id")),
    ("gcp.compute.subnetwork", "GCP subnetwork name", _path(*_LB, "subnetwork_name")),
    ("gcp.compute.subnetworkId", "GCP subnetwork ID", _path(*_LB, "subnetwork_id")),
    ("gcp.dns.zone", "GCP DNS zone", _path(*_LB, "zone_name")),
    ("gcp.iam.serviceAccount", "GCP service account", _path(*_LB, "email_id")),
    ("gcp.iam.serviceAccountId", "GCP IAM unique ID", _path(*_LB, "unique_id")),
    ("gcp.location", "GCP region", _location),
    ("gcp.logging.sink", "GCP logging sink", _sink),
    ("gcp.projectId", "GCP project ID", _path(*_LB, "project_id")),
    ("gcp.resourceName", "GCP resource name", _path(_PP, "resourceName")),
    ("gcp.resourceType", "GCP resource type", _path("resource", "type")),
    ("gcp.resourceLabels", "GCP resource labels (JSON)", _path(*_LB)),
    ("gcp.storage.bucket", "GCP bucket name", _path(*_LB, "bucket_name")),
    ("gcp.time", "Timestamp of the event in RFC3339 format", _path("timestamp")),
]  # fmt: skip


def gcp_fields() -> list[Field]:
    """The plugin's 25 string fields, in its order."""

    def on_doc(fn: Callable[[Doc], str | None]) -> Callable[[Any], str | None]:
        return lambda e: fn(e.data) if type(e.data) is dict else None

    return [plain(name, desc, on_doc(get)) for name, desc, get in _SPEC]
