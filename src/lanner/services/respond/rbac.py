"""Least-privilege RBAC for the actions a rules set actually uses."""

from __future__ import annotations

from typing import Any

from lanner.services.respond.actions import action_class
from lanner.services.respond.rules import ResponseRule


def policy_rules(rules: list[ResponseRule]) -> list[dict[str, Any]]:
    """Merged PolicyRules (one per API group and resource) needed by the rules' actions."""
    verbs: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        for spec in rule.actions:
            for policy in action_class(spec).rbac_for(spec.parameters):
                for group in policy["apiGroups"]:
                    for resource in policy["resources"]:
                        verbs.setdefault((group, resource), set()).update(policy["verbs"])
    return [
        {"apiGroups": [group], "resources": [resource], "verbs": sorted(v)}
        for (group, resource), v in sorted(verbs.items())
    ]


def manifests(
    rules: list[ResponseRule], name: str = "lanner-respond", namespace: str = "lanner"
) -> list[dict[str, Any]]:
    """ServiceAccount, ClusterRole and ClusterRoleBinding for `lanner respond`."""
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "lanner"}
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name, "labels": labels},
            "rules": policy_rules(rules),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": labels},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": name,
            },
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    ]
