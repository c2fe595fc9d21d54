"""The sidekick's Policy Report output against the real kube-apiserver (tests/deploy's
`kube` fixture), with the wgpolicyk8s.io/v1alpha2 CRDs installed by the test."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from helpers import wait_until
from lanner.services.sidekick.alert import Alert
from lanner.services.sidekick.app import build_outputs
from lanner.services.sidekick.config import load_config
from lanner.services.sidekick.outputs import Output

from .apiserver import APIServer


def make_alert(rule: str, priority: str = "Warning", **fields: Any) -> dict[str, Any]:
    """An alert of the contract with these output fields (None: left out)."""
    output_fields = {"fd.name": "/etc/shadow", "proc.name": "cat", **fields}
    return {
        "output": f"16:14:13.012345678: {priority} file opened (file=/etc/shadow)",
        "priority": priority,
        "rule": rule,
        "source": "syscall",
        "time": "2023-11-14T16:14:13.012345678Z",
        "hostname": "node-1",
        "output_fields": {k: v for k, v in output_fields.items() if v is not None},
    }


def outputs_from_env(env: dict[str, str]) -> dict[str, Output]:
    config = load_config(None, {"PROMETHEUS_DISABLED": "true", **env})
    return {o.kind: o for o in build_outputs(config, CollectorRegistry())}


def send(output: Output, *alerts: dict[str, Any]) -> None:
    async def run() -> None:
        try:
            for data in alerts:
                await output.send(Alert.from_dict(data))
        finally:
            await output.close()

    asyncio.run(run())


def _crd(kind: str, plural: str, scope: str) -> dict[str, Any]:
    """A minimal CustomResourceDefinition for one wgpolicyk8s.io kind (schema left open:
    the test checks what the output writes, not the upstream schema's validation)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.wgpolicyk8s.io"},
        "spec": {
            "group": "wgpolicyk8s.io",
            "scope": scope,
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [
                {
                    "name": "v1alpha2",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


@pytest.fixture(scope="module")
def policy_crds(kube: APIServer) -> Path:
    from kubernetes import client, config

    kubeconfig = kube.kubeconfig("admin")
    api = config.new_client_from_config(config_file=str(kubeconfig))
    ext = client.ApiextensionsV1Api(api)
    for kind, plural, scope in [
        ("PolicyReport", "policyreports", "Namespaced"),
        ("ClusterPolicyReport", "clusterpolicyreports", "Cluster"),
    ]:
        try:
            ext.create_custom_resource_definition(_crd(kind, plural, scope))
        except client.exceptions.ApiException as exc:
            if exc.status != 409:
                raise
    custom = client.CustomObjectsApi(api)

    def served() -> bool:
        try:
            custom.list_cluster_custom_object("wgpolicyk8s.io", "v1alpha2", "clusterpolicyreports")
            return True
        except client.exceptions.ApiException:
            time.sleep(0.2)
            return False

    wait_until(served, 30, "the policy report CRDs served")
    core = client.CoreV1Api(api)
    try:
        core.create_namespace({"metadata": {"name": "team-a"}})
    except client.exceptions.ApiException as exc:
        if exc.status != 409:
            raise
    return kubeconfig


def _custom(kubeconfig: Path) -> Any:
    from kubernetes import client, config

    return client.CustomObjectsApi(config.new_client_from_config(config_file=str(kubeconfig)))


def test_policy_reports_in_namespace_and_cluster(policy_crds: Path) -> None:
    env = {
        "POLICYREPORT_ENABLED": "true",
        "POLICYREPORT_KUBECONFIG": str(policy_crds),
        "POLICYREPORT_MAXEVENTS": "2",
        "POLICYREPORT_FALCONAMESPACE": "default",
    }
    out = outputs_from_env(env)["policyreport"]
    send(
        out,
        make_alert(rule="r1", **{"k8s.ns.name": "team-a", "k8s.pod.name": "web-1"}),
        make_alert(rule="r2", priority="Critical", **{"k8s.ns.name": "team-a"}),
        make_alert(rule="r3", priority="Notice", **{"k8s.ns.name": "team-a"}),
        make_alert(rule="gone-ns", **{"k8s.ns.name": "no-such-ns", "k8s.pod.name": "x"}),
        make_alert(rule="host", **{"k8s.ns.name": None, "k8s.pod.name": None}),
    )
    custom = _custom(policy_crds)
    report = custom.get_namespaced_custom_object(
        "wgpolicyk8s.io", "v1alpha2", "team-a", "policyreports", "falco-policy-report"
    )
    assert report["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "falcosidekick"}
    assert [r["rule"] for r in report["results"]] == ["r2", "r3"]  # maxevents 2: oldest out
    critical, notice = report["results"]
    assert critical["severity"] == "critical" and critical["result"] == "fail"
    assert notice["severity"] == "low" and notice["result"] == "skip"
    assert critical["policy"] == "syscall" and critical["source"] == "Falco"
    assert critical["category"] == "SI - System and Information Integrity"
    assert critical["properties"]["fd.name"] == "/etc/shadow"
    assert critical["timestamp"] == {"seconds": 1699978453, "nanos": 12345678}
    assert report["summary"] == {"pass": 0, "fail": 1, "warn": 0, "error": 0, "skip": 1}
    moved = custom.get_namespaced_custom_object(
        "wgpolicyk8s.io", "v1alpha2", "default", "policyreports", "falco-policy-report"
    )
    (gone,) = moved["results"]
    assert gone["rule"] == "gone-ns" and gone["severity"] == "medium"
    assert gone["subjects"] == [
        {"namespace": "default", "name": "x", "kind": "Pod", "apiVersion": "v1"}
    ]
    cluster = custom.get_cluster_custom_object(
        "wgpolicyk8s.io", "v1alpha2", "clusterpolicyreports", "falco-cluster-policy-report"
    )
    assert [r["rule"] for r in cluster["results"]] == ["host"]


def test_policy_report_prune_by_priority(policy_crds: Path) -> None:
    env = {
        "POLICYREPORT_ENABLED": "true",
        "POLICYREPORT_KUBECONFIG": str(policy_crds),
        "POLICYREPORT_MAXEVENTS": "2",
        "POLICYREPORT_PRUNEBYPRIORITY": "true",
    }
    ns = {"k8s.ns.name": None, "k8s.pod.name": None}
    custom = _custom(policy_crds)
    from kubernetes.client.exceptions import ApiException

    with contextlib.suppress(ApiException):  # absent: nothing to clear
        custom.delete_cluster_custom_object(
            "wgpolicyk8s.io", "v1alpha2", "clusterpolicyreports", "falco-cluster-policy-report"
        )
    send(
        outputs_from_env(env)["policyreport"],
        make_alert(rule="crit", priority="Critical", **ns),
        make_alert(rule="info", priority="Informational", **ns),
        make_alert(rule="err", priority="Error", **ns),
    )
    cluster = custom.get_cluster_custom_object(
        "wgpolicyk8s.io", "v1alpha2", "clusterpolicyreports", "falco-cluster-policy-report"
    )
    assert [r["rule"] for r in cluster["results"]] == ["crit", "err"]  # the info one went
