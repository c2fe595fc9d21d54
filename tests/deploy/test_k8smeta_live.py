"""k8s.* fields in a live ``lanner run`` (eBPF probe) from the real kube-apiserver
(tests/deploy/apiserver.py): a process in a containerd-looking cgroup of a pod that
exists in the API server raises upstream's "Terminal shell in container" with the pod,
namespace, deployment and service of that pod, read by the k8smeta watch. The container
runtime here (the CRI double of tests/e2e) knows nothing of the container: every k8s.*
value comes from the API server.

Skipped, with the reason, where live capture cannot run (not root, no BTF, no probe).
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from kubernetes import client

from . import apiserver, kube_objects
from .helpers import ROOT, lanner

sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(ROOT / "tests" / "sources" / "syscall" / "containers"))

from runtime_doubles import CriDouble, DockerDouble
from test_container_metadata_live import (
    Live,
    fields_of,
    run_container,
    skip_reason,
    start_live,
    stop_live,
)

NODE = "node-live"
SHOW = """\
- rule: Terminal shell in container
  output: >-
    deployment=%k8s.deployment.name rs=%k8s.rs.name svc=%k8s.svc.name
    ns_team=%k8s.ns.label[team] node=%k8s.node.name pod_ip=%k8s.pod.ip
    meta_pod=%k8smeta.pod.name
  override:
    output: append
"""


@pytest.fixture(scope="module")
def live_k8s(
    kube: apiserver.APIServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Live, kube_objects.PodInCluster]]:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("k8smeta-live")
    api = kube_objects.admin_client(kube.kubeconfig("admin"))
    kube_objects.namespace(api, "live-shop", {"team": "checkout"})
    pod = kube_objects.deployed_pod(api, "live-shop", "cart", NODE, "10.244.3.4")
    kube_objects.service(api, "live-shop", "cart", {"app": "cart"})
    show = tmp / "show-k8s.yaml"
    show.write_text(SHOW)
    config = {
        "load_plugins": ["k8smeta"],
        "plugins": [{"name": "k8smeta", "init_config": {
            "nodeName": NODE, "kubeconfig": str(kube.kubeconfig("admin"))}}],
    }  # fmt: skip
    # runtimes that know no container: the pod's metadata can only come from the API server
    run = start_live(tmp, DockerDouble(str(tmp / "docker.sock"), {}),
                     CriDouble(str(tmp / "containerd.sock"), {}, {}),
                     extra_rules=(show,), config=config)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while "k8smeta: in sync" not in run.log_text():
            assert time.monotonic() < deadline, run.log_text()[-3000:]
            time.sleep(0.1)
        yield run, pod
    finally:
        stop_live(run)


def test_shell_in_a_pods_container_has_the_api_servers_metadata(
    live_k8s: tuple[Live, kube_objects.PodInCluster],
) -> None:
    live, pod = live_k8s
    started = run_container(live, pod.container_id, "cri", None, pod_uid=pod.uid)
    assert started.returncode == 0 and started.marker.encode() in started.output
    alert = live.wait_alert("Terminal shell in container", started.marker)
    assert alert, live.log_text()[-3000:]
    f: dict[str, Any] = fields_of(alert)
    assert f["container.id"] == pod.container_id[:12]
    assert f["k8s.pod.name"] == pod.name
    assert f["k8s.ns.name"] == "live-shop"
    assert f["k8s.deployment.name"] == "cart"
    assert f["k8s.rs.name"] == "cart-5d4f"
    assert f["k8s.svc.name"] == ["cart"]
    assert f["k8s.ns.label[team]"] == "checkout"
    assert f["k8s.node.name"] == NODE
    assert f["k8s.pod.ip"] == "10.244.3.4"
    assert f["k8smeta.pod.name"] == pod.name
    assert "deployment=cart rs=cart-5d4f" in alert["output"]
    # the container name comes from the runtime, which does not know it
    assert f["container.name"] in (None, "<NA>")


def test_a_shell_in_an_unknown_pods_cgroup_has_no_pod_fields(
    live_k8s: tuple[Live, kube_objects.PodInCluster],
) -> None:
    live, _ = live_k8s
    cid = uuid.uuid4().hex + uuid.uuid4().hex
    started = run_container(live, cid, "cri", None, pod_uid=str(uuid.uuid4()))
    alert = live.wait_alert("Terminal shell in container", started.marker)
    assert alert, live.log_text()[-3000:]
    f = fields_of(alert)
    assert f["container.id"] == cid[:12]
    assert f["k8s.pod.name"] in (None, "<NA>") and f["k8s.deployment.name"] in (None, "<NA>")


def test_the_talks_kubeless_function_isolates_that_pod_through_respond(
    live_k8s: tuple[Live, kube_objects.PodInCluster], kube: apiserver.APIServer
) -> None:
    """The engine's alert above, replayed to ``lanner respond`` whose ``python`` action runs
    the talk's function unchanged (``load_incluster_config()`` only) with ``in_cluster``:
    the function gets respond's API server and token as a pod's environment and creates
    its NetworkPolicy, read back. respond's token may create NetworkPolicies in that
    namespace and nothing else."""
    live, pod = live_k8s
    alert = next(a for a in live.alert_list() if a.get("rule") == "Terminal shell in container"
                 and (a.get("output_fields") or {}).get("k8s.pod.name") == pod.name)  # fmt: skip
    api = kube_objects.admin_client(kube.kubeconfig("admin"))
    rbac = client.RbacAuthorizationV1Api(api)
    rbac.create_namespaced_role("live-shop", {
        "metadata": {"name": "kubeless-fn"},
        "rules": [{"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"],
                   "verbs": ["create"]}],
    })  # fmt: skip
    rbac.create_namespaced_role_binding("live-shop", {
        "metadata": {"name": "kubeless-fn"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "kubeless-fn"},
        "subjects": [{"kind": "User", "name": "respond", "apiGroup": "rbac.authorization.k8s.io"}],
    })  # fmt: skip
    tmp = live.tmp
    (tmp / "alert.jsonl").write_text(json.dumps(alert) + "\n")
    (tmp / "fn-rules.yaml").write_text(yaml.safe_dump([{
        "rule": "Kubeless isolation",
        "match": {"rules": ["Terminal shell in container"]},
        "actions": [{"action": "python", "parameters": {
            "file": str(ROOT / "examples/respond/isolate_pod_kubeless.py"),
            "in_cluster": True}}],
    }]))  # fmt: skip
    trail = tmp / "fn-trail.jsonl"
    out = lanner("respond", "-r", str(tmp / "fn-rules.yaml"), "--kubeconfig",
                 str(kube.kubeconfig("respond")), "--replay", str(tmp / "alert.jsonl"),
                 "--audit-log", str(trail), env={"KUBECONFIG": "/nonexistent"})  # fmt: skip
    records = [json.loads(x) for x in trail.read_text().splitlines()] if trail.exists() else []
    assert records and records[0]["result"] == "ok", (out.stdout, out.stderr, records)
    policy = client.NetworkingV1Api(api).read_namespaced_network_policy(
        "default-deny-egress", "live-shop"
    )
    assert policy.spec.pod_selector.match_labels == {"statefulset.kubernetes.io/pod-name": pod.name}
    assert policy.spec.policy_types == ["Egress"]
