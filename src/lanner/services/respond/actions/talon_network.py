"""Falco Talon's network actionners: `kubernetes:networkpolicy`, `calico:networkpolicy` and
`cilium:networkpolicy`, with Talon's parameters (`allow_cidr`, `allow_namespaces`,
Calico's `order`).

Whom the policy selects: by default the one pod of the alert, which first gets a label of
its own (`lanner.dev/quarantine: <pod uid>`), so its replicas keep working; with
`scope: workload` (a Lanner addition) every pod of its owner (ReplicaSet, DaemonSet,
StatefulSet), which is what Talon itself selects.
"""

from __future__ import annotations

import ipaddress
from typing import Any, ClassVar

from lanner.exceptions import ActionError
from lanner.services.respond.actions.base import ActionContext, ActionResult, Param
from lanner.services.respond.actions.kube import (
    MANAGED_BY,
    call,
    get_pod,
    label_value,
    object_name,
    owner_selector,
    status_of,
)
from lanner.services.respond.actions.network import QUARANTINE_LABEL
from lanner.services.respond.actions.talon_pod import (
    POD_FIELDS,
    TalonPodAction,
    has_pod_fields,
    talon_pod,
)

NAMESPACE_LABEL = "kubernetes.io/metadata.name"  # set by Kubernetes on every namespace
CILIUM_NAMESPACE_LABEL = "k8s:io.kubernetes.pod.namespace"  # Cilium's endpoint label


def _check_cidrs(value: list[Any]) -> str | None:
    for cidr in value:
        try:
            ipaddress.ip_network(str(cidr), strict=False)
        except ValueError:
            return f"wrong CIDR {cidr!r}"
    return None


_COMMON_PARAMS = (
    Param("allow_cidr", list, item=str, check=_check_cidrs),
    Param("allow_namespaces", list, item=str),
    Param("scope", str, default="pod", choices=("pod", "workload")),
)
_SCOPE_RBAC: tuple[dict[str, Any], ...] = (
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "patch"]},
    {
        "apiGroups": ["apps"],
        "resources": ["replicasets", "daemonsets", "statefulsets"],
        "verbs": ["get"],
    },
)


def selection(ctx: ActionContext) -> tuple[str, str, dict[str, str], str]:
    """(namespace, policy name, label selector, what it selects) for the alert's pod; in
    pod scope the pod is labelled first (not in dry-run)."""
    namespace, pod_name = talon_pod(ctx)
    pod = get_pod(ctx, namespace, pod_name)
    if ctx.params.get("scope", "pod") == "pod":
        selector = {QUARANTINE_LABEL: label_value(pod.metadata.uid or pod_name) or "pod"}
        if not ctx.dry_run:
            call(
                f"label pod {namespace}/{pod_name}",
                ctx.kube.core.patch_namespaced_pod,
                pod_name,
                namespace,
                {"metadata": {"labels": selector}},
            )
        return namespace, pod_name, selector, f"pod {namespace}/{pod_name}"
    name, labels, what = owner_selector(ctx, pod)
    return namespace, name, labels, what


def remote_ip(ctx: ActionContext) -> str:
    """The connection's remote address as a /32 (or /128) network: fd.rip, else fd.sip."""
    value = ctx.alert.get("fd.rip") or ctx.alert.get("fd.sip")
    try:
        ip = ipaddress.ip_address(str(value))
    except ValueError:
        raise ActionError(f"missing or wrong IP field (fd.rip or fd.sip): {value!r}") from None
    return f"{ip}/{ip.max_prefixlen}"


def _metadata(name: str, namespace: str, ctx: ActionContext) -> dict[str, Any]:
    return {
        "name": object_name("", name, limit=253),
        "namespace": namespace,
        "labels": dict(MANAGED_BY),
        "annotations": {
            "lanner.dev/response-rule": ctx.rule,
            "lanner.dev/alert-rule": ctx.alert.rule,
        },
    }


class TalonNetworkPolicy(TalonPodAction):
    """A Kubernetes NetworkPolicy denying the pod's egress but to `allow_cidr` and
    `allow_namespaces`."""

    name = "kubernetes:networkpolicy"
    summary = "block a pod's egress with a NetworkPolicy (Talon)"
    params = _COMMON_PARAMS
    rbac: ClassVar[tuple[dict[str, Any], ...]] = (
        *_SCOPE_RBAC,
        {
            "apiGroups": ["networking.k8s.io"],
            "resources": ["networkpolicies"],
            "verbs": ["get", "create", "update"],
        },
    )
    required_fields = POD_FIELDS
    talon_aliases: ClassVar[dict[str, str]] = {"allow": "allow_cidr"}

    def run(self, ctx: ActionContext) -> ActionResult:
        """Create the policy, or replace the one of that name."""
        p = ctx.params
        namespace, name, selector, what = selection(ctx)
        peers: list[dict[str, Any]] = [{"ipBlock": {"cidr": c}} for c in p.get("allow_cidr") or []]
        peers += [
            {"namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: ns}}}
            for ns in p.get("allow_namespaces") or []
        ]
        metadata = _metadata(name, namespace, ctx)
        policy = metadata["name"]
        body = {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": metadata,
            "spec": {
                "podSelector": {"matchLabels": selector},
                "policyTypes": ["Egress"],
                "egress": [{"to": peers}] if peers else [],
            },
        }
        changes = {"networkpolicy": body}
        if ctx.dry_run:
            return ActionResult(what, f"would create NetworkPolicy {policy}", changes)
        api = ctx.kube.networking
        try:
            call(f"create NetworkPolicy {policy}", api.create_namespaced_network_policy,
                 namespace, body)  # fmt: skip
            return ActionResult(what, f"created NetworkPolicy {policy}", changes)
        except ActionError as exc:
            if status_of(exc) != 409:
                raise
        call(f"replace NetworkPolicy {policy}", api.replace_namespaced_network_policy,
             policy, namespace, body)  # fmt: skip
        return ActionResult(what, f"updated NetworkPolicy {policy}", changes)


class _CrdPolicy(TalonPodAction):
    """Create a custom-resource policy, or add the new denied address to the existing one."""

    @classmethod
    def has_fields(cls, alert: Any, params: dict[str, Any]) -> bool:
        """A pod and namespace, and the remote address (fd.rip or fd.sip)."""
        return has_pod_fields(alert) and bool(alert.get("fd.rip") or alert.get("fd.sip"))

    group: ClassVar[str]
    version: ClassVar[str]
    plural: ClassVar[str]
    kind: ClassVar[str]

    def api_version(self, ctx: ActionContext) -> tuple[str, str]:
        """(group, version) to write to."""
        return self.group, self.version

    def denied(self, obj: dict[str, Any]) -> list[str]:
        raise NotImplementedError

    def spec(self, ctx: ActionContext, selector: dict[str, str], deny: list[str]) -> Any:
        raise NotImplementedError

    def run(self, ctx: ActionContext) -> ActionResult:
        """Read any policy of that name, merge the denied addresses, create or replace."""
        ip = remote_ip(ctx)
        namespace, name, selector, what = selection(ctx)
        group, version = self.api_version(ctx)
        api = ctx.kube.custom
        body: dict[str, Any] = {
            "apiVersion": f"{group}/{version}",
            "kind": self.kind,
            "metadata": _metadata(name, namespace, ctx),
        }
        policy = body["metadata"]["name"]
        label = f"{self.kind} {policy} ({group}/{version})"
        try:
            current = call(f"read {label}", api.get_namespaced_custom_object,
                           group, version, namespace, self.plural, policy)  # fmt: skip
        except ActionError as exc:
            if status_of(exc) != 404:
                raise
            current = None
        deny = [*(self.denied(current) if current else []), ip]
        body["spec"] = self.spec(ctx, selector, list(dict.fromkeys(deny)))
        changes = {"policy": body}
        if ctx.dry_run:
            return ActionResult(what, f"would write {label}", changes)
        if current is None:
            call(f"create {label}", api.create_namespaced_custom_object,
                 group, version, namespace, self.plural, body)  # fmt: skip
            return ActionResult(what, f"created {label}", changes)
        body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        call(f"replace {label}", api.replace_namespaced_custom_object,
             group, version, namespace, self.plural, policy, body)  # fmt: skip
        return ActionResult(what, f"updated {label}", changes)


class CalicoNetworkPolicy(_CrdPolicy):
    """A Calico NetworkPolicy: deny egress to the alert's remote IP, allow the rest (or only
    `allow_cidr` / `allow_namespaces`), at Calico `order`."""

    name = "calico:networkpolicy"
    summary = "deny the pod's egress to the alert's remote IP with a Calico policy (Talon)"
    params = (*_COMMON_PARAMS, Param("order", int, default=0))
    group, version, plural, kind = "projectcalico.org", "v3", "networkpolicies", "NetworkPolicy"
    CRD_GROUP = "crd.projectcalico.org"  # the CRDs, when Calico's API server is not installed
    rbac: ClassVar[tuple[dict[str, Any], ...]] = (
        *_SCOPE_RBAC,
        {
            "apiGroups": ["projectcalico.org", CRD_GROUP],
            "resources": ["networkpolicies"],
            "verbs": ["get", "create", "update"],
        },
    )

    def api_version(self, ctx: ActionContext) -> tuple[str, str]:
        """projectcalico.org/v3 (Calico's API server), else the crd.projectcalico.org/v1
        CRDs."""
        if ctx.kube.served(self.group, self.version):
            return self.group, self.version
        if ctx.kube.served(self.CRD_GROUP, "v1"):
            return self.CRD_GROUP, "v1"
        raise ActionError("Calico is not installed: neither projectcalico.org/v3 nor the CRDs")

    def denied(self, obj: dict[str, Any]) -> list[str]:
        """Addresses the existing policy denies."""
        rules = (obj.get("spec") or {}).get("egress") or []
        return [n for r in rules if r.get("action") == "Deny" for n in
                (r.get("destination") or {}).get("nets") or []]  # fmt: skip

    def spec(self, ctx: ActionContext, selector: dict[str, str], deny: list[str]) -> Any:
        """Deny first, then the allow rules."""
        p = ctx.params
        egress: list[dict[str, Any]] = [{"action": "Deny", "destination": {"nets": deny}}]
        cidrs, namespaces = p.get("allow_cidr"), p.get("allow_namespaces")
        if not cidrs and not namespaces:
            cidrs = ["0.0.0.0/0", "::/0"]
        if cidrs:
            egress.append({"action": "Allow", "destination": {"nets": list(cidrs)}})
        if namespaces:
            names = ", ".join(f"'{n}'" for n in namespaces)
            sel = f"{NAMESPACE_LABEL} in {{ {names} }}"
            egress.append({"action": "Allow", "destination": {"namespaceSelector": sel}})
        return {
            "order": float(p["order"]),
            "selector": " && ".join(f"{k} == '{v}'" for k, v in sorted(selector.items())),
            "types": ["Egress"],
            "egress": egress,
        }


class CiliumNetworkPolicy(_CrdPolicy):
    """A CiliumNetworkPolicy: egressDeny to the alert's remote IP, egress allowed to the
    rest (or only `allow_cidr` / `allow_namespaces`)."""

    name = "cilium:networkpolicy"
    summary = "deny the pod's egress to the alert's remote IP with a Cilium policy (Talon)"
    params = _COMMON_PARAMS
    group, version, plural, kind = "cilium.io", "v2", "ciliumnetworkpolicies", "CiliumNetworkPolicy"
    rbac: ClassVar[tuple[dict[str, Any], ...]] = (
        *_SCOPE_RBAC,
        {
            "apiGroups": ["cilium.io"],
            "resources": ["ciliumnetworkpolicies"],
            "verbs": ["get", "create", "update"],
        },
    )

    def denied(self, obj: dict[str, Any]) -> list[str]:
        """Addresses the existing policy denies."""
        rules = (obj.get("spec") or {}).get("egressDeny") or []
        return [c for r in rules for c in r.get("toCIDR") or []]

    def spec(self, ctx: ActionContext, selector: dict[str, str], deny: list[str]) -> Any:
        """endpointSelector, egressDeny, egress."""
        p = ctx.params
        cidrs, namespaces = p.get("allow_cidr"), p.get("allow_namespaces")
        if not cidrs and not namespaces:
            cidrs = ["0.0.0.0/0"]
        egress: list[dict[str, Any]] = []
        if cidrs:
            egress.append({"toCIDR": list(cidrs)})
        if namespaces:
            expr = {"key": CILIUM_NAMESPACE_LABEL, "operator": "In", "values": list(namespaces)}
            egress.append({"toEndpoints": [{"matchExpressions": [expr]}]})
        return {
            "endpointSelector": {"matchLabels": dict(selector)},
            "egressDeny": [{"toCIDR": deny}],
            "egress": egress,
        }
