"""Well-formed ``audit.k8s.io/v1`` Events, as the kube-apiserver's webhook backend sends them,
and posting them (as an ``EventList``) to an audit webhook."""

from __future__ import annotations

import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from lanner.exceptions import WebhookError

USER_AGENT = "lanner-generate"
USER = "lanner-generate"
GROUPS = ["system:authenticated"]

# resource -> (API group, version)
API: dict[str, tuple[str, str]] = {
    "pods": ("", "v1"),
    "services": ("", "v1"),
    "secrets": ("", "v1"),
    "configmaps": ("", "v1"),
    "serviceaccounts": ("", "v1"),
    "namespaces": ("", "v1"),
    "events": ("", "v1"),
    "nodes": ("", "v1"),
    "deployments": ("apps", "v1"),
    "ingresses": ("networking.k8s.io", "v1"),
    "roles": ("rbac.authorization.k8s.io", "v1"),
    "clusterroles": ("rbac.authorization.k8s.io", "v1"),
    "rolebindings": ("rbac.authorization.k8s.io", "v1"),
    "clusterrolebindings": ("rbac.authorization.k8s.io", "v1"),
    "certificatesigningrequests": ("certificates.k8s.io", "v1"),
    "validatingwebhookconfigurations": ("admissionregistration.k8s.io", "v1"),
    "mutatingwebhookconfigurations": ("admissionregistration.k8s.io", "v1"),
}


def _ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def request_uri(
    resource: str,
    namespace: str | None,
    name: str | None,
    subresource: str | None = None,
    query: str = "",
) -> str:
    """The request path the apiserver would log for this object."""
    group, version = API.get(resource, ("", "v1"))
    path = f"/api/{version}" if not group else f"/apis/{group}/{version}"
    if namespace:
        path += f"/namespaces/{namespace}"
    path += f"/{resource}"
    if name:
        path += f"/{name}"
    if subresource:
        path += f"/{subresource}"
    return path + (f"?{query}" if query else "")


def audit_event(
    *,
    verb: str,
    resource: str,
    namespace: str | None = None,
    name: str | None = None,
    subresource: str | None = None,
    user: str = USER,
    groups: list[str] | None = None,
    request_object: dict[str, Any] | None = None,
    response_object: dict[str, Any] | None = None,
    code: int | None = None,
    stage: str = "ResponseComplete",
    uri: str | None = None,
    query: str = "",
    decision: str = "allow",
) -> dict[str, Any]:
    """One audit Event (``level: RequestResponse``) of an allowed request."""
    now = datetime.now(UTC)
    group, version = API.get(resource, ("", "v1"))
    obj_ref: dict[str, Any] = {"resource": resource, "apiVersion": version}
    if group:
        obj_ref["apiGroup"] = group
    if namespace:
        obj_ref["namespace"] = namespace
    if name:
        obj_ref["name"] = name
    if subresource:
        obj_ref["subresource"] = subresource
    if code is None:
        code = 201 if verb == "create" else 200
    event: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "RequestResponse",
        "auditID": str(uuid.uuid4()),
        "stage": stage,
        "requestURI": uri or request_uri(resource, namespace, name, subresource, query),
        "verb": verb,
        "user": {"username": user, "groups": groups if groups is not None else GROUPS},
        "sourceIPs": ["127.0.0.1"],
        "userAgent": USER_AGENT,
        "objectRef": obj_ref,
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": _ts(now - timedelta(milliseconds=3)),
        "stageTimestamp": _ts(now),
        "annotations": {
            "authorization.k8s.io/decision": decision,
            "authorization.k8s.io/reason": "lanner generate",
        },
    }
    if request_object is not None:
        event["requestObject"] = request_object
    if response_object is not None:
        event["responseObject"] = response_object
    return event


def event_list(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``EventList`` batch the webhook backend posts."""
    return {
        "kind": "EventList",
        "apiVersion": "audit.k8s.io/v1",
        "metadata": {},
        "items": events,
    }


def post_events(url: str, events: list[dict[str, Any]], timeout: float = 10.0) -> dict[str, Any]:
    """POST ``events`` as one EventList; the webhook's JSON answer."""
    body = orjson.dumps(event_list(events))
    req = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            answer = resp.read()
    except OSError as exc:
        raise WebhookError(f"{url}: {exc}") from None
    try:
        doc = orjson.loads(answer)
    except orjson.JSONDecodeError:
        doc = {"answer": answer.decode(errors="replace")}
    if isinstance(doc, dict) and doc.get("rejected"):
        raise WebhookError(f"{url} rejected events: {doc['rejected']}")
    return doc if isinstance(doc, dict) else {"answer": doc}
