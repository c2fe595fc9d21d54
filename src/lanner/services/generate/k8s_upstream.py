"""k8s audit actions for upstream Falco's k8s_audit_rules.yaml that Lanner's own k8s
actions do not already prove: the audit events of each request (object names carry the
run's marker), posted to the audit webhook. Each is named after the upstream rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lanner.services.generate.action import Action
from lanner.services.generate.k8s_actions import NS, Events, _post, pod_manifest
from lanner.services.generate.k8s_events import audit_event

# resource -> (kind, namespaced, rule noun in "K8s <noun> Created/Deleted")
OBJECTS: dict[str, tuple[str, bool, str]] = {
    "deployments": ("Deployment", True, "Deployment"),
    "services": ("Service", True, "Service"),
    "configmaps": ("ConfigMap", True, "ConfigMap"),
    "namespaces": ("Namespace", False, "Namespace"),
    "serviceaccounts": ("ServiceAccount", True, "Serviceaccount"),
    "roles": ("Role", True, "Role"),
    "clusterroles": ("ClusterRole", False, "ClusterRole"),
    "rolebindings": ("RoleBinding", True, "RoleBinding"),
    "clusterrolebindings": ("ClusterRoleBinding", False, "ClusterRoleBinding"),
    "secrets": ("Secret", True, "Secret"),
}


def _object_event(resource: str, verb: str) -> Callable[[str], Events]:
    kind, namespaced, _ = OBJECTS[resource]

    def events(marker: str) -> Events:
        ns = NS if namespaced else None
        meta: dict[str, Any] = {"name": marker, **({"namespace": ns} if ns else {})}
        obj = {"apiVersion": "v1", "kind": kind, "metadata": meta}
        if verb == "create":
            return [audit_event(verb="create", resource=resource, namespace=ns, name=marker,
                                request_object=obj, response_object=obj)]  # fmt: skip
        return [audit_event(verb="delete", resource=resource, namespace=ns, name=marker)]

    return events


def exec_started(marker: str) -> Events:
    """``kubectl exec`` into a pod: the ResponseStarted event of pods/exec."""
    return [audit_event(verb="create", resource="pods", namespace=NS, name=marker,
                        subresource="exec", code=101, stage="ResponseStarted",
                        query="command=sh&stdin=true&tty=true")]  # fmt: skip


def ephemeral_container(marker: str) -> Events:
    """``kubectl debug``: a patch of pods/ephemeralcontainers."""
    pod = pod_manifest(marker)
    return [audit_event(verb="patch", resource="pods", namespace=NS, name=marker,
                        subresource="ephemeralcontainers", request_object=pod)]  # fmt: skip


def system_clusterrole_updated(marker: str) -> Events:
    """An update of a ClusterRole named ``system:...``."""
    name = f"system:{marker}"
    obj = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
           "metadata": {"name": name}, "rules": []}  # fmt: skip
    return [audit_event(verb="update", resource="clusterroles", name=name, request_object=obj,
                        response_object=obj)]  # fmt: skip


def secret_get_denied(marker: str) -> Events:
    """A get of a Secret answered 403."""
    return [audit_event(verb="get", resource="secrets", namespace=NS, name=marker, code=403,
                        decision="forbid")]  # fmt: skip


def ingress_without_tls(marker: str) -> Events:
    """An Ingress created without spec.tls."""
    obj = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
           "metadata": {"name": marker, "namespace": NS},
           "spec": {"rules": [{"host": f"{marker}.example.com"}]}}  # fmt: skip
    return [audit_event(verb="create", resource="ingresses", namespace=NS, name=marker,
                        request_object=obj, response_object=obj)]  # fmt: skip


def _k(name: str, rule: str, description: str, events_for: Callable[[str], Events]) -> Action:
    return Action(name, rule, description, False, _post(events_for), "k8s_audit", ruleset="falco")


ACTIONS: list[Action] = [
    *(
        _k(
            f"k8s_{kind.lower()}_{verb}d",
            f"K8s {noun} {verb.title()}d",
            f"A user {verb}s a {kind}",
            _object_event(res, verb),
        )
        for res, (kind, _ns, noun) in OBJECTS.items()
        for verb in ("create", "delete")
        if (res, verb) != ("namespaces", "delete")  # Lanner's k8s_namespace_deleted proves it
    ),
    _k("k8s_exec_started", "Attach/Exec Pod", "kubectl exec into a pod", exec_started),
    _k(
        "k8s_ephemeral_container",
        "EphemeralContainers Created",
        "kubectl debug adds an ephemeral container",
        ephemeral_container,
    ),
    _k(
        "k8s_system_clusterrole_updated",
        "System ClusterRole Modified/Deleted",
        "A user updates a system: ClusterRole",
        system_clusterrole_updated,
    ),
    _k(
        "k8s_secret_get_denied",
        "K8s Secret Get Unsuccessfully Tried",
        "A get of a Secret is refused (403)",
        secret_get_denied,
    ),
    _k(
        "k8s_ingress_without_tls",
        "Ingress Object without TLS Certificate Created",
        "An Ingress without TLS is created",
        ingress_without_tls,
    ),
]
