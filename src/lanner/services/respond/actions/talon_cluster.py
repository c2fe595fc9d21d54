"""Falco Talon's cluster actionners: `kubernetes:delete` (the audited object) and
`kubernetes:drain` (evict every pod of the alert's node)."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from lanner.exceptions import ActionError
from lanner.services.respond.actions.base import Action, ActionContext, ActionResult, Param
from lanner.services.respond.actions.kube import call, get_pod, status_of
from lanner.services.respond.actions.talon_pod import (
    POD_FIELDS,
    TalonPodAction,
    TalonTerminate,
    _check_min_healthy,
    owner_kind,
    talon_pod,
)

# The resources Talon deletes: resource -> (API group, client API class, kind in the
# client's method names, namespaced)
DELETABLE: dict[str, tuple[str, str, str, bool]] = {
    "namespaces": ("", "CoreV1Api", "namespace", False),
    "configmaps": ("", "CoreV1Api", "config_map", True),
    "secrets": ("", "CoreV1Api", "secret", True),
    "services": ("", "CoreV1Api", "service", True),
    "serviceaccounts": ("", "CoreV1Api", "service_account", True),
    "deployments": ("apps", "AppsV1Api", "deployment", True),
    "daemonsets": ("apps", "AppsV1Api", "daemon_set", True),
    "statefulsets": ("apps", "AppsV1Api", "stateful_set", True),
    "replicasets": ("apps", "AppsV1Api", "replica_set", True),
    "roles": ("rbac.authorization.k8s.io", "RbacAuthorizationV1Api", "role", True),
    "clusterroles": ("rbac.authorization.k8s.io", "RbacAuthorizationV1Api", "cluster_role", False),
}


class TalonDelete(Action):
    """Delete the object a Kubernetes audit alert is about (ka.target.resource, .name,
    .namespace)."""

    name = "kubernetes:delete"
    summary = "delete the audited Kubernetes object (Talon)"
    rbac: ClassVar[tuple[dict[str, Any], ...]] = tuple(
        {"apiGroups": [group], "resources": [resource], "verbs": ["get", "delete"]}
        for resource, (group, _, _, _) in DELETABLE.items()
    )
    required_fields = ("ka.target.resource", "ka.target.name")
    talon_continue = False

    def run(self, ctx: ActionContext) -> ActionResult:
        """Read the object (it must exist), then DELETE it."""
        resource = str(ctx.alert.get("ka.target.resource") or "")
        name = str(ctx.alert.get("ka.target.name") or "")
        namespace = str(ctx.alert.get("ka.target.namespace") or "")
        if not resource or not name:
            raise ActionError("missing target resource or name (ka.target.resource/.name)")
        if resource not in DELETABLE:
            raise ActionError(
                f"cannot delete {resource}: Talon's kubernetes:delete handles "
                + ", ".join(sorted(DELETABLE))
            )
        _, api_name, kind, namespaced = DELETABLE[resource]
        if namespaced and not namespace:
            raise ActionError(f"missing target namespace (ka.target.namespace) for {resource}")
        from kubernetes import client

        api = getattr(client, api_name)(ctx.kube.api_client)
        scope = "namespaced_" if namespaced else ""
        args = (name, namespace) if namespaced else (name,)
        target = f"{resource} {namespace + '/' if namespaced else ''}{name}"
        call(f"read {target}", getattr(api, f"read_{scope}{kind}"), *args)
        if ctx.dry_run:
            return ActionResult(target, "would delete it", {"resource": resource})
        call(f"delete {target}", getattr(api, f"delete_{scope}{kind}"), *args)
        return ActionResult(target, "deleted", {"resource": resource})


class TalonDrain(TalonPodAction):
    """Evict every pod of the alert pod's node (DaemonSet/StatefulSet pods kept when asked),
    then wait up to `max_wait_period` seconds for them to go."""

    name = "kubernetes:drain"
    summary = "evict every pod of the node (Talon)"
    params = (
        Param("min_healthy_replicas", (str, int), check=_check_min_healthy),
        Param("wait_period_excluded_namespaces", list, default=[], item=str),
        Param("ignore_errors", bool, default=False),
        Param("ignore_daemonsets", bool, default=False),
        Param("ignore_statefulsets", bool, default=False),
        Param("max_wait_period", int, default=0),
    )
    talon_noop: ClassVar[dict[str, str]] = {
        "force": "Talon's drain reads no 'force' (it is in Talon's example file): no effect"
    }
    rbac: ClassVar[tuple[dict[str, Any], ...]] = (
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
        {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
        {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get"]},
    )
    required_fields = POD_FIELDS
    poll = 2.0

    def run(self, ctx: ActionContext) -> ActionResult:
        """List the node's pods, evict each one not ignored, wait, count."""
        p = ctx.params
        namespace, name = talon_pod(ctx)
        pod = get_pod(ctx, namespace, name)
        node = pod.spec.node_name if pod.spec else None
        if not node:
            raise ActionError(f"pod {namespace}/{name} is on no node")
        core = ctx.kube.core
        pods = call(f"list pods of node {node}", core.list_pod_for_all_namespaces,
                    field_selector=f"spec.nodeName={node}").items  # fmt: skip
        ignored, errors, evicted = 0, [], []
        for item in pods:
            kind = owner_kind(item)
            ns, pname = item.metadata.namespace, item.metadata.name
            if (kind == "DaemonSet" and p["ignore_daemonsets"]) or (
                kind == "StatefulSet" and p["ignore_statefulsets"]
            ):
                ignored += 1
                continue
            if kind == "ReplicaSet" and p.get("min_healthy_replicas") is not None:
                wanted = str(p["min_healthy_replicas"])
                if TalonTerminate._too_few_healthy(ctx, item, wanted):
                    ignored += 1
                    continue
            if ctx.dry_run:
                evicted.append(f"{ns}/{pname}")
                continue
            try:
                evict(ctx, ns, pname)
                evicted.append(f"{ns}/{pname}")
            except ActionError as exc:
                errors.append(str(exc))
        waited = [e for e in evicted if e.split("/")[0] not in p["wait_period_excluded_namespaces"]]
        left = [] if ctx.dry_run else self._wait(ctx, node, waited, p["max_wait_period"])
        changes = {"evicted": evicted, "ignored": ignored, "errors": errors, "still_there": left}
        summary = (
            f"{len(evicted)} evicted, {ignored} ignored, {len(errors)} eviction errors,"
            f" {len(left)} not gone within max_wait_period"
        )
        if ctx.dry_run:
            return ActionResult(f"node {node}", f"would drain: {summary}", changes)
        if (errors or left) and not p["ignore_errors"]:
            raise ActionError(f"node {node} not fully drained: {summary}", changes=changes)
        return ActionResult(f"node {node}", f"drained: {summary}", changes)

    def _wait(self, ctx: ActionContext, node: str, pods: list[str], seconds: int) -> list[str]:
        """Pods of `pods` still on the node after up to `seconds` seconds."""
        if seconds <= 0 or not pods:
            return []
        deadline = time.monotonic() + seconds
        while True:
            items = call(f"list pods of node {node}", ctx.kube.core.list_pod_for_all_namespaces,
                         field_selector=f"spec.nodeName={node}").items  # fmt: skip
            present = {f"{i.metadata.namespace}/{i.metadata.name}" for i in items}
            left = [p for p in pods if p in present]
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(self.poll)


def evict(ctx: ActionContext, namespace: str, name: str) -> None:
    """POST an Eviction: policy/v1, or policy/v1beta1 on API servers older than 1.22."""
    core = ctx.kube.core
    for version in ("policy/v1", "policy/v1beta1"):
        body = {
            "apiVersion": version,
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": namespace},
        }
        try:
            call(f"evict {namespace}/{name}", core.create_namespaced_pod_eviction, name,
                 namespace, body)  # fmt: skip
            return
        except ActionError as exc:
            if version == "policy/v1beta1" or status_of(exc) not in (400, 404, 415, 422):
                raise
