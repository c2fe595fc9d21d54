"""Builders of audit.k8s.io/v1 events and an engine loaded with the upstream k8s audit rules."""

from __future__ import annotations

import copy
import itertools
from typing import Any

from helpers import shared_fixture
from helpers.lanner_process import LannerProcess
from lanner.engine.alert import Alert
from lanner.engine.engine import Engine
from lanner.sources.json_source import JsonEvent
from lanner.sources.k8s_audit import k8s_audit_source, parse_payload

FIXTURES = shared_fixture()
K8S_RULES = FIXTURES / "rules" / "k8s_audit_rules.yaml"
TS = "2026-11-25T10:00:00.123456789Z"
TS_NS = 1795600800123456789
_ids = itertools.count(1)

PLURALS = {
    "pods": ("", "v1", "Pod"),
    "services": ("", "v1", "Service"),
    "configmaps": ("", "v1", "ConfigMap"),
    "secrets": ("", "v1", "Secret"),
    "namespaces": ("", "v1", "Namespace"),
    "serviceaccounts": ("", "v1", "ServiceAccount"),
    "nodes": ("", "v1", "Node"),
    "deployments": ("apps", "v1", "Deployment"),
    "roles": ("rbac.authorization.k8s.io", "v1", "Role"),
    "clusterroles": ("rbac.authorization.k8s.io", "v1", "ClusterRole"),
    "rolebindings": ("rbac.authorization.k8s.io", "v1", "RoleBinding"),
    "clusterrolebindings": ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"),
    "ingresses": ("networking.k8s.io", "v1", "Ingress"),
}
CLUSTER_SCOPED = {"namespaces", "nodes", "clusterroles", "clusterrolebindings"}


def audit_event(
    verb: str,
    resource: str,
    name: str | None = None,
    *,
    namespace: str | None = "default",
    subresource: str | None = None,
    user: str = "minikube",
    groups: tuple[str, ...] = ("system:masters", "system:authenticated"),
    stage: str = "ResponseComplete",
    code: int = 200,
    status_reason: str | None = None,
    request_object: dict[str, Any] | None = None,
    response_object: dict[str, Any] | None = None,
    query: str = "",
    decision: str = "allow",
    reason: str = 'RBAC: allowed by ClusterRoleBinding "cluster-admin"',
    **extra: Any,
) -> dict[str, Any]:
    """One audit event as the apiserver writes it (kind Event, audit.k8s.io/v1)."""
    group, version, _kind = PLURALS.get(resource, ("", "v1", resource.title()))
    ns = None if resource in CLUSTER_SCOPED else namespace
    base = f"/apis/{group}/{version}" if group else f"/api/{version}"
    uri = base + (f"/namespaces/{ns}" if ns else "") + f"/{resource}"
    if name and verb != "create":
        uri += f"/{name}"
    if subresource:
        uri += f"/{subresource}"
    if query:
        uri += "?" + query
    object_ref: dict[str, Any] = {"resource": resource, "apiVersion": version}
    if group:
        object_ref["apiGroup"] = group
    if ns:
        object_ref["namespace"] = ns
    if name:
        object_ref["name"] = name
    if subresource:
        object_ref["subresource"] = subresource
    status: dict[str, Any] = {"metadata": {}, "code": code}
    if status_reason:
        status["reason"] = status_reason
        status["status"] = "Failure"
    event: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "RequestResponse",
        "auditID": f"00000000-0000-0000-0000-{next(_ids):012d}",
        "stage": stage,
        "requestURI": uri,
        "verb": verb,
        "user": {"username": user, "groups": list(groups)},
        "sourceIPs": ["192.168.49.1"],
        "userAgent": "kubectl/v1.31.0 (linux/amd64) kubernetes/abcdef",
        "objectRef": object_ref,
        "responseStatus": status,
        "requestReceivedTimestamp": "2026-11-25T10:00:00.100000Z",
        "stageTimestamp": TS,
        "annotations": {
            "authorization.k8s.io/decision": decision,
            "authorization.k8s.io/reason": reason,
        },
    }
    if request_object is not None:
        event["requestObject"] = request_object
    if response_object is not None:
        event["responseObject"] = response_object
    event.update(extra)
    return event


def pod(
    name: str = "web",
    *,
    containers: list[dict[str, Any]] | None = None,
    init_containers: list[dict[str, Any]] | None = None,
    ephemeral_containers: list[dict[str, Any]] | None = None,
    volumes: list[dict[str, Any]] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A Pod request object."""
    body: dict[str, Any] = {
        "containers": containers or [{"name": "web", "image": "nginx:1.27"}],
        **spec,
    }
    if init_containers is not None:
        body["initContainers"] = init_containers
    if ephemeral_containers is not None:
        body["ephemeralContainers"] = ephemeral_containers
    if volumes is not None:
        body["volumes"] = volumes
    return {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name}, "spec": body}


def pod_create(
    request: dict[str, Any], *, namespace: str = "default", user: str = "minikube"
) -> dict[str, Any]:
    """The audit event of creating a pod."""
    name = request["metadata"]["name"]
    return audit_event(
        "create",
        "pods",
        name,
        namespace=namespace,
        user=user,
        code=201,
        request_object=request,
        response_object=copy.deepcopy(request),
    )


class Harness:
    """An engine with the upstream k8s audit rules, matching all rules per event."""

    def __init__(self, *, match_all: bool = True) -> None:
        self.engine = Engine([k8s_audit_source()], hostname="test-host")
        outcome = self.engine.load_rules([K8S_RULES])
        assert outcome.successful, [str(d) for r in outcome.results for d in r.errors]
        self.engine.ruleset.match_all = match_all

    def alerts(self, event: dict[str, Any]) -> list[Alert]:
        """Alerts for one audit event dict."""
        events = parse_payload(event).events
        assert len(events) == 1
        return self.engine.process(events[0], "k8s_audit")

    def fired(self, event: dict[str, Any]) -> dict[str, str]:
        """Rule name -> rendered message, for every rule the event matches."""
        return {a.rule: a.message for a in self.alerts(event)}


def as_event(obj: dict[str, Any]) -> JsonEvent:
    """A JsonEvent for direct field tests."""
    return parse_payload(obj).events[0]


def sentinel(user: str) -> dict[str, Any]:
    """An event Disallowed K8s User fires on (marks how far reading went)."""
    return audit_event("get", "pods", "web", user=user)


def fired(alerts: list[dict[str, Any]]) -> dict[str, set[str]]:
    """auditID -> the rules that fired on that event."""
    out: dict[str, set[str]] = {}
    for a in alerts:
        out.setdefault(a["output_fields"]["ka.auditid"], set()).add(a["rule"])
    return out


def until_events(lanner: LannerProcess, audit_ids: set[str]) -> list[dict[str, Any]]:
    """Every alert of ``lanner`` until one of each event of ``audit_ids`` came (their
    ``ka.auditid`` in the alerts' output fields, Falco's append_output)."""
    missing = set(audit_ids)

    def done(alert: dict[str, Any]) -> bool:
        missing.discard(alert["output_fields"].get("ka.auditid"))
        return not missing

    return lanner.until(done, f"events {sorted(audit_ids)}")
