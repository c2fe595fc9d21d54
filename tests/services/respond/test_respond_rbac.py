"""RBAC follows the parameters: only the verbs the configured actions use."""

from __future__ import annotations

from pathlib import Path

import pytest
from respond_helpers import rules_from

from lanner.services.respond.rbac import policy_rules


def _rules(tmp_path: Path, action: str, params: str = "{}") -> dict[tuple[str, str], list[str]]:
    rules = rules_from(
        tmp_path, f"- rule: r\n  actions:\n    - action: {action}\n      parameters: {params}\n"
    )
    return {(r["apiGroups"][0], r["resources"][0]): r["verbs"] for r in policy_rules(rules)}


@pytest.mark.parametrize(
    ("action", "params", "expected"),
    [
        ("kubernetes:delete", "{}", {("", "pods"): ["delete", "get"]}),
        (
            "kubernetes:delete",
            "{evict: true}",
            {("", "pods"): ["get"], ("", "pods/eviction"): ["create"]},
        ),
        (
            "kubernetes:isolate",
            "{selector: pod-labels}",
            {
                ("", "pods"): ["get"],
                ("networking.k8s.io", "networkpolicies"): ["create", "get", "update"],
            },
        ),
        (
            "kubernetes:isolate",
            "{}",
            {
                ("", "pods"): ["get", "patch"],
                ("networking.k8s.io", "networkpolicies"): ["create", "get", "update"],
            },
        ),
        (
            "kubernetes:isolate",
            "{selector: quarantine-label}",
            {
                ("", "pods"): ["get", "patch"],
                ("networking.k8s.io", "networkpolicies"): ["create", "get", "update"],
            },
        ),
        ("kubernetes:cordon", "{node: node-9}", {("", "nodes"): ["get", "patch"]}),
        ("kubernetes:taint", "{key: k}", {("", "nodes"): ["get", "patch"], ("", "pods"): ["get"]}),
        (
            "kubernetes:scale-to-zero",
            "{deployment: web, remember_replicas: false}",
            {("apps", "deployments/scale"): ["get", "patch"]},
        ),
        (
            "kubernetes:scale-to-zero",
            "{}",
            {
                ("", "pods"): ["get"],
                ("apps", "replicasets"): ["get"],
                ("apps", "deployments"): ["get", "patch"],
                ("apps", "deployments/scale"): ["get", "patch"],
            },
        ),
        ("notify:webhook", "{url: 'http://h/'}", {}),
    ],
)
def test_policy_rules(tmp_path: Path, action: str, params: str, expected: dict) -> None:
    assert _rules(tmp_path, action, params) == expected
