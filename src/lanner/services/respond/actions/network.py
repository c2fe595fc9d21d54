"""`kubernetes:isolate`: cut a pod off the network with a NetworkPolicy of its own."""

from __future__ import annotations

import ipaddress
from typing import Any, ClassVar

from lanner.exceptions import ActionError
from lanner.services.respond.actions.base import Action, ActionContext, ActionResult, Param
from lanner.services.respond.actions.kube import (
    MANAGED_BY,
    call,
    get_pod,
    label_value,
    object_name,
    owner_selector,
    pod_target,
    status_of,
)
from lanner.services.respond.template import render

QUARANTINE_LABEL = "lanner.dev/quarantine"
_PROTOCOLS = ("TCP", "UDP", "SCTP")


def _check_peers(value: Any) -> str | None:
    """Validate an allow-list: [{cidr, except, ports: [{port, protocol, end_port}]}]."""
    for i, entry in enumerate(value):
        where = f"allow-list entry {i + 1}"
        if not isinstance(entry, dict):
            return f"{where} must be a mapping with 'cidr' and/or 'ports'"
        unknown = set(entry) - {"cidr", "except", "ports"}
        if unknown:
            return f"{where} has unknown keys: {', '.join(sorted(unknown))}"
        if "cidr" not in entry and "ports" not in entry:
            return f"{where} needs 'cidr' or 'ports'"
        for cidr in [entry.get("cidr"), *(entry.get("except") or [])]:
            if cidr is None:
                continue
            try:
                ipaddress.ip_network(str(cidr), strict=False)
            except ValueError:
                return f"{where}: {cidr!r} is not a CIDR"
        for port in entry.get("ports") or []:
            if not isinstance(port, dict) or "port" not in port:
                return f"{where}: each port needs 'port' (and optional 'protocol')"
            if str(port.get("protocol", "TCP")).upper() not in _PROTOCOLS:
                return f"{where}: protocol must be one of {', '.join(_PROTOCOLS)}"
    return None


def _peer_rule(entry: dict[str, Any], direction: str) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    if entry.get("cidr"):
        block: dict[str, Any] = {"cidr": str(entry["cidr"])}
        if entry.get("except"):
            block["except"] = [str(c) for c in entry["except"]]
        rule["to" if direction == "egress" else "from"] = [{"ipBlock": block}]
    if entry.get("ports"):
        ports = []
        for port in entry["ports"]:
            item: dict[str, Any] = {
                "protocol": str(port.get("protocol", "TCP")).upper(),
                "port": port["port"],
            }
            if "end_port" in port:
                item["endPort"] = int(port["end_port"])
            ports.append(item)
        rule["ports"] = ports
    return rule


DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


class IsolatePod(Action):
    """Create a NetworkPolicy selecting the offending pod: by default through a label of its
    own added first (`quarantine-label`), so its replicas keep working; `workload` selects
    every pod of its owner, `pod-labels` the pod's current labels."""

    name = "kubernetes:isolate"
    summary = "deny a pod's egress and/or ingress with a NetworkPolicy"
    params = (
        Param(
            "deny",
            list,
            default=["egress", "ingress"],
            item=str,
            check=lambda v: (
                None
                if v and set(v) <= {"egress", "ingress"}
                else "parameter 'deny' must list 'egress' and/or 'ingress'"
            ),
        ),
        Param(
            "selector",
            str,
            default="quarantine-label",
            choices=("quarantine-label", "workload", "pod-labels"),
        ),
        Param("exclude_labels", list, default=[], item=str),
        Param("allow_dns", bool, default=False),
        Param("allow_egress", list, default=[], check=_check_peers),
        Param("allow_ingress", list, default=[], check=_check_peers),
        Param("policy_name", str),
        Param("namespace_field", str),
        Param("pod_field", str),
    )
    rbac: ClassVar[tuple[dict[str, Any], ...]] = (
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "patch"]},
        {
            "apiGroups": ["networking.k8s.io"],
            "resources": ["networkpolicies"],
            "verbs": ["create", "update", "get"],
        },
    )

    @classmethod
    def rbac_for(cls, params: dict[str, Any]) -> tuple[dict[str, Any], ...]:
        """Pods are only patched in quarantine-label mode (the default); workload mode
        reads the pod's owner."""
        if params.get("selector", "quarantine-label") == "quarantine-label":
            return cls.rbac
        rules: tuple[dict[str, Any], ...] = (
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
            cls.rbac[1],
        )
        if params.get("selector") == "workload":
            owners = ["replicasets", "daemonsets", "statefulsets"]
            rules += ({"apiGroups": ["apps"], "resources": owners, "verbs": ["get"]},)
        return rules

    def run(self, ctx: ActionContext) -> ActionResult:
        """Build the policy from the live pod, then create it (replace if it exists)."""
        p = ctx.params
        namespace, pod_name = pod_target(ctx)
        pod = get_pod(ctx, namespace, pod_name)
        labels = dict(pod.metadata.labels or {})
        for key in p["exclude_labels"]:
            labels.pop(key, None)
        changes: dict[str, Any] = {}
        if p["selector"] == "quarantine-label":
            value = label_value(pod.metadata.uid or pod_name) or "pod"
            selector = {QUARANTINE_LABEL: value}
            patch = {"metadata": {"labels": selector}}
            changes["pod_patch"] = patch
            if not ctx.dry_run:
                call(
                    f"label pod {namespace}/{pod_name}",
                    ctx.kube.core.patch_namespaced_pod,
                    pod_name,
                    namespace,
                    patch,
                )
        elif p["selector"] == "workload":
            _, selector, _ = owner_selector(ctx, pod)
            for key in p["exclude_labels"]:
                selector.pop(key, None)
        else:
            if not labels:
                raise ActionError(
                    f"pod {namespace}/{pod_name} has no labels: a policy selecting them would"
                    " isolate the whole namespace (use selector: quarantine-label)"
                )
            selector = labels

        # NetworkPolicy names are DNS subdomains: up to 253 characters.
        wanted = render(p["policy_name"], ctx.alert) if p.get("policy_name") else ""
        policy_name = object_name("", wanted, limit=253) or object_name(
            "lanner-isolate", pod_name, limit=253
        )
        body = self.policy(policy_name, namespace, selector, p, ctx)
        changes["networkpolicy"] = body
        target = f"pod {namespace}/{pod_name}"
        if ctx.dry_run:
            return ActionResult(target, f"would create NetworkPolicy {policy_name}", changes)
        api = ctx.kube.networking
        try:
            call(f"create NetworkPolicy {policy_name}", api.create_namespaced_network_policy,
                 namespace, body)  # fmt: skip
            verb = "created"
        except ActionError as exc:
            if status_of(exc) != 409:
                raise
            # isolated before (or by hand): make the policy say what this rule wants
            call(f"replace NetworkPolicy {policy_name}", api.replace_namespaced_network_policy,
                 policy_name, namespace, body)  # fmt: skip
            verb = "replaced"
        return ActionResult(target, f"{verb} NetworkPolicy {policy_name}", changes)

    @staticmethod
    def policy(
        name: str,
        namespace: str,
        selector: dict[str, str],
        p: dict[str, Any],
        ctx: ActionContext,
    ) -> dict[str, Any]:
        """The NetworkPolicy object for the given pod selector and parameters."""
        spec: dict[str, Any] = {"podSelector": {"matchLabels": dict(selector)}}
        types = []
        if "ingress" in p["deny"]:
            types.append("Ingress")
            spec["ingress"] = [_peer_rule(e, "ingress") for e in p["allow_ingress"]]
        if "egress" in p["deny"]:
            types.append("Egress")
            egress = [_peer_rule(e, "egress") for e in p["allow_egress"]]
            if p["allow_dns"]:
                egress.append({"ports": [dict(port) for port in DNS_PORTS]})
            spec["egress"] = egress
        spec["policyTypes"] = types
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": dict(MANAGED_BY),
                "annotations": {
                    "lanner.dev/response-rule": ctx.rule,
                    "lanner.dev/alert-rule": ctx.alert.rule,
                    "lanner.dev/alert-time": ctx.alert.time,
                },
            },
            "spec": spec,
        }
