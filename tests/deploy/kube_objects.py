"""Objects the Kubernetes tests create in the real API server (tests/deploy/apiserver.py)
with the official client, as a cluster's controllers and kubelet would have left them: a
Deployment, its ReplicaSet, a running pod of that ReplicaSet on a node (status written
through the status subresource, as the kubelet does), Services and a Node."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config


def admin_client(kubeconfig: Path) -> Any:
    """An ApiClient for a kubeconfig."""
    return config.new_client_from_config(config_file=str(kubeconfig))


@dataclass
class PodInCluster:
    namespace: str
    name: str
    uid: str
    container_id: str  # 64 hex, as containerd reports it
    deployment: str
    replicaset: str
    node: str
    ip: str


def namespace(api: Any, name: str, labels: dict[str, str] | None = None) -> None:
    """A namespace and its default ServiceAccount (no controller-manager makes it)."""
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": name, "labels": labels or {}}})
    core.create_namespaced_service_account(name, {"metadata": {"name": "default"}})


def node(api: Any, name: str) -> None:
    """A Node object (no kubelet behind it)."""
    client.CoreV1Api(api).create_node({"metadata": {"name": name, "labels": {"role": "test"}}})


def deployed_pod(
    api: Any,
    ns: str,
    app: str,
    node_name: str,
    ip: str,
    spec: dict[str, Any] | None = None,
) -> PodInCluster:
    """Deployment ``app`` -> ReplicaSet ``app-5d4f`` -> running pod ``app-5d4f-x7k2p``."""
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    labels = {"app": app, "tier": "front"}
    # no token volume: 1.20 waits for the token controller, which does not run here
    pod_spec = {
        "automountServiceAccountToken": False,
        **(spec or {"containers": [{"name": app, "image": "nginx:1.25"}]}),
    }
    template = {"metadata": {"labels": labels}, "spec": pod_spec}
    dep = apps.create_namespaced_deployment(
        ns,
        {
            "metadata": {"name": app, "labels": {"app": app, "owner": "shop-team"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template},
        },
    )
    rs_name = f"{app}-5d4f"
    rs = apps.create_namespaced_replica_set(
        ns,
        {
            "metadata": {
                "name": rs_name,
                "labels": {**labels, "pod-template-hash": "5d4f"},
                "ownerReferences": [_owner("apps/v1", "Deployment", dep)],
            },
            "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template},
        },
    )
    pod = core.create_namespaced_pod(
        ns,
        {
            "metadata": {
                "name": f"{rs_name}-x7k2p",
                "labels": {**labels, "pod-template-hash": "5d4f"},
                "ownerReferences": [_owner("apps/v1", "ReplicaSet", rs)],
            },
            "spec": {**pod_spec, "nodeName": node_name},
        },
    )
    cid = uuid.uuid4().hex + uuid.uuid4().hex
    container = pod_spec["containers"][0]
    core.patch_namespaced_pod_status(
        pod.metadata.name,
        ns,
        {
            "status": {
                "phase": "Running",
                "podIP": ip,
                "podIPs": [{"ip": ip}],
                "containerStatuses": [
                    {
                        "name": container["name"],
                        "image": container["image"],
                        "imageID": "",
                        "containerID": f"containerd://{cid}",
                        "ready": True,
                        "restartCount": 0,
                        "state": {"running": {"startedAt": "2026-12-07T20:00:00Z"}},
                    }
                ],
            }
        },
    )
    return PodInCluster(ns, pod.metadata.name, pod.metadata.uid, cid, app, rs_name, node_name, ip)


def service(api: Any, ns: str, name: str, selector: dict[str, str]) -> None:
    """A ClusterIP Service selecting pods by labels."""
    client.CoreV1Api(api).create_namespaced_service(
        ns,
        {
            "metadata": {"name": name, "labels": {"exposes": name}},
            "spec": {"selector": selector, "ports": [{"port": 80}]},
        },
    )


def _owner(api_version: str, kind: str, obj: Any) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": obj.metadata.name,
        "uid": obj.metadata.uid,
        "controller": True,
    }
