"""Each Kubernetes action, driven through the official client against the fake API
server, with assertions on the resulting API objects and requests."""

from __future__ import annotations

import threading

import pytest
from respond_fake_k8s import MERGE, SMP, FakeKube
from respond_helpers import run_action

from lanner.exceptions import ActionError
from lanner.services.respond.actions.kube import KubeClients

WEB_LABELS = {"app": "web", "tier": "frontend", "pod-template-hash": "5d8f7c9b4"}


@pytest.fixture
def web(fake_kube: FakeKube) -> FakeKube:
    """Deployment default/web (3 replicas) whose pod web-1 runs on node-1."""
    _dep, rs = fake_kube.add_deployment("default", "web", 3, {"app": "web"})
    fake_kube.add_pod("default", "web-1", WEB_LABELS, owner=("ReplicaSet", rs["metadata"]["name"]))
    fake_kube.add_pod("default", "other", {"app": "other"})
    return fake_kube


# ---- isolate ------------------------------------------------------------------------


def test_isolate_selects_the_pods_own_labels(web: FakeKube, kube_clients: KubeClients) -> None:
    result = run_action(
        kube_clients,
        "kubernetes:isolate",
        {
            "selector": "pod-labels",
            "allow_dns": True,
            "allow_egress": [
                {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"], "ports": [{"port": 443}]}
            ],
            "allow_ingress": [{"cidr": "192.168.1.10/32"}],
        },
    )
    assert result.detail == "created NetworkPolicy lanner-isolate-web-1"
    np = web.get("networkpolicies", "default", "lanner-isolate-web-1")
    assert np is not None
    assert np["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "lanner-respond"}
    assert np["metadata"]["annotations"]["lanner.dev/alert-rule"] == (
        "Outbound Connection to C2 Servers"
    )
    assert np["spec"] == {
        "podSelector": {"matchLabels": WEB_LABELS},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [{"ipBlock": {"cidr": "192.168.1.10/32"}}]}],
        "egress": [
            {
                "to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                "ports": [{"protocol": "TCP", "port": 443}],
            },
            {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
        ],
    }
    # the pod itself was not modified in pod-labels mode
    assert not [r for r in web.writes() if "/pods/" in r.path]


def test_isolate_egress_only_denies_everything_else(
    web: FakeKube, kube_clients: KubeClients
) -> None:
    run_action(
        kube_clients,
        "kubernetes:isolate",
        {"deny": ["egress"], "exclude_labels": ["pod-template-hash"], "selector": "pod-labels"},
    )
    spec = web.get("networkpolicies", "default", "lanner-isolate-web-1")["spec"]
    assert spec == {
        "podSelector": {"matchLabels": {"app": "web", "tier": "frontend"}},
        "policyTypes": ["Egress"],
        "egress": [],
    }


def test_isolate_twice_replaces_the_policy(web: FakeKube, kube_clients: KubeClients) -> None:
    run_action(kube_clients, "kubernetes:isolate", {"deny": ["egress"]})
    first = web.get("networkpolicies", "default", "lanner-isolate-web-1")
    result = run_action(kube_clients, "kubernetes:isolate", {"deny": ["ingress"]})
    assert result.detail == "replaced NetworkPolicy lanner-isolate-web-1"
    second = web.get("networkpolicies", "default", "lanner-isolate-web-1")
    assert second["metadata"]["uid"] == first["metadata"]["uid"]
    assert second["spec"]["policyTypes"] == ["Ingress"]
    methods = [r.method for r in web.writes() if "networkpolicies" in r.path]
    assert methods == ["POST", "POST", "PUT"]  # create, create -> 409 AlreadyExists, replace


@pytest.mark.parametrize("params", [{}, {"selector": "quarantine-label"}])
def test_isolate_by_default_labels_and_selects_only_that_pod(
    web: FakeKube, kube_clients: KubeClients, params: dict[str, str]
) -> None:
    """Issue 24: the default isolates the one pod (a label of its own first), not every
    replica sharing its app labels."""
    run_action(kube_clients, "kubernetes:isolate", params)
    pod = web.get("pods", "default", "web-1")
    uid = pod["metadata"]["uid"]
    assert pod["metadata"]["labels"] == {**WEB_LABELS, "lanner.dev/quarantine": uid}
    np = web.get("networkpolicies", "default", "lanner-isolate-web-1")
    assert np["spec"]["podSelector"] == {"matchLabels": {"lanner.dev/quarantine": uid}}


def test_isolate_refuses_a_pod_without_labels(
    fake_kube: FakeKube, kube_clients: KubeClients
) -> None:
    fake_kube.add_pod("default", "web-1", {})
    with pytest.raises(ActionError, match="would isolate the whole namespace"):
        run_action(kube_clients, "kubernetes:isolate", {"selector": "pod-labels"})
    assert fake_kube.writes() == []


def test_isolate_missing_pod_is_a_permanent_404(
    fake_kube: FakeKube, kube_clients: KubeClients
) -> None:
    with pytest.raises(ActionError, match='HTTP 404 NotFound: pods "web-1" not found') as info:
        run_action(kube_clients, "kubernetes:isolate")
    assert info.value.transient is False


def test_isolate_from_k8s_audit_fields(web: FakeKube, kube_clients: KubeClients) -> None:
    """Audit alerts name the pod in ka.target.*: the field names are parameters."""
    result = run_action(
        kube_clients,
        "kubernetes:isolate",
        {"namespace_field": "ka.target.namespace", "pod_field": "ka.target.name"},
        source="k8s_audit",
        output_fields={"ka.target.namespace": "default", "ka.target.name": "web-1"},
    )
    assert result.detail == "created NetworkPolicy lanner-isolate-web-1"


def test_isolate_policy_name_template(web: FakeKube, kube_clients: KubeClients) -> None:
    run_action(kube_clients, "kubernetes:isolate", {"policy_name": "quarantine-${k8s.pod.name}"})
    assert web.get("networkpolicies", "default", "quarantine-web-1") is not None


def test_isolate_alert_without_pod_fields(web: FakeKube, kube_clients: KubeClients) -> None:
    with pytest.raises(ActionError, match=r"alert carries no 'k8s\.pod\.name'"):
        run_action(kube_clients, "kubernetes:isolate", output_fields={"proc.name": "curl"})


# ---- delete -------------------------------------------------------------------------


def test_delete_with_grace_period(web: FakeKube, kube_clients: KubeClients) -> None:
    run_action(kube_clients, "kubernetes:delete", {"grace_period_seconds": 5})
    pod = web.get("pods", "default", "web-1")
    assert pod["metadata"]["deletionGracePeriodSeconds"] == 5
    assert "deletionTimestamp" in pod["metadata"]
    [delete] = [r for r in web.writes() if r.method == "DELETE"]
    assert delete.path == "/api/v1/namespaces/default/pods/web-1"
    assert delete.query["gracePeriodSeconds"] == ["5"]


def test_delete_now_removes_the_pod(web: FakeKube, kube_clients: KubeClients) -> None:
    run_action(kube_clients, "kubernetes:delete", {"grace_period_seconds": 0})
    assert web.get("pods", "default", "web-1") is None
    assert web.get("pods", "default", "other") is not None


def test_delete_default_grace_is_the_pods_own(web: FakeKube, kube_clients: KubeClients) -> None:
    run_action(kube_clients, "kubernetes:delete")
    assert web.get("pods", "default", "web-1")["metadata"]["deletionGracePeriodSeconds"] == 30
    [delete] = [r for r in web.writes() if r.method == "DELETE"]
    assert "gracePeriodSeconds" not in delete.query


@pytest.mark.parametrize("kind", ["DaemonSet", "StatefulSet"])
def test_delete_refuses_daemonset_and_statefulset_pods(
    fake_kube: FakeKube, kube_clients: KubeClients, kind: str
) -> None:
    fake_kube.add_pod("default", "web-1", {"app": "agent"}, owner=(kind, "agent"))
    with pytest.raises(ActionError, match=f"refusing to delete pod default/web-1 owned by {kind}"):
        run_action(kube_clients, "kubernetes:delete", {"grace_period_seconds": 0})
    assert fake_kube.get("pods", "default", "web-1") is not None
    assert fake_kube.writes() == []
    # ... unless allowed
    run_action(
        kube_clients,
        "kubernetes:delete",
        {"grace_period_seconds": 0, "allow_owner_kinds": [kind]},
    )
    assert fake_kube.get("pods", "default", "web-1") is None


def test_evict_posts_an_eviction(web: FakeKube, kube_clients: KubeClients) -> None:
    run_action(kube_clients, "kubernetes:delete", {"evict": True, "grace_period_seconds": 0})
    assert web.get("pods", "default", "web-1") is None
    [post] = web.writes()
    assert post.path == "/api/v1/namespaces/default/pods/web-1/eviction"
    assert post.body == {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": "web-1", "namespace": "default"},
        "deleteOptions": {"gracePeriodSeconds": 0},
    }


def test_eviction_blocked_by_disruption_budget_is_transient(
    web: FakeKube, kube_clients: KubeClients
) -> None:
    web.pdb_blocked.add(("default", "web-1"))
    with pytest.raises(ActionError, match="429 TooManyRequests") as info:
        run_action(kube_clients, "kubernetes:delete", {"evict": True})
    assert info.value.transient is True
    assert web.get("pods", "default", "web-1") is not None


# ---- label / annotate ---------------------------------------------------------------


def test_label_pod_with_placeholders(web: FakeKube, kube_clients: KubeClients) -> None:
    run_action(
        kube_clients,
        "kubernetes:label",
        {"labels": {"lanner.dev/isolated": "true", "lanner.dev/rule": "${rule}"}},
    )
    labels = web.get("pods", "default", "web-1")["metadata"]["labels"]
    assert labels == {
        **WEB_LABELS,
        "lanner.dev/isolated": "true",
        "lanner.dev/rule": "Outbound_Connection_to_C2_Servers",  # made label-safe
    }
    [patch] = web.writes()
    assert patch.method == "PATCH" and patch.content_type == SMP


def test_annotate_pod_keeps_free_text(web: FakeKube, kube_clients: KubeClients) -> None:
    run_action(
        kube_clients,
        "kubernetes:annotate",
        {"annotations": {"lanner.dev/why": "${rule} from ${fd.sip} (${priority})"}},
    )
    annotations = web.get("pods", "default", "web-1")["metadata"]["annotations"]
    assert annotations == {
        "lanner.dev/why": "Outbound Connection to C2 Servers from 203.0.113.7 (Critical)"
    }


# ---- nodes --------------------------------------------------------------------------


def test_cordon_the_pods_node(web: FakeKube, kube_clients: KubeClients) -> None:
    web.add_node("node-2")
    web.add_pod("default", "web-1", WEB_LABELS, node="node-2")
    result = run_action(
        kube_clients,
        "kubernetes:cordon",
        output_fields={"k8s.ns.name": "default", "k8s.pod.name": "web-1"},
    )
    assert result.target == "node node-2"
    assert web.get("nodes", "", "node-2")["spec"]["unschedulable"] is True
    assert "unschedulable" not in web.get("nodes", "", "node-1")["spec"]
    [patch] = web.writes()
    assert (patch.path, patch.content_type, patch.body) == (
        "/api/v1/nodes/node-2",
        SMP,
        {"spec": {"unschedulable": True}},
    )


def test_cordon_falls_back_to_hostname(fake_kube: FakeKube, kube_clients: KubeClients) -> None:
    run_action(kube_clients, "kubernetes:cordon", output_fields={"proc.name": "xmrig"})
    assert fake_kube.get("nodes", "", "node-1")["spec"]["unschedulable"] is True


def test_taint_keeps_existing_taints(fake_kube: FakeKube, kube_clients: KubeClients) -> None:
    existing = {"key": "gpu", "value": "true", "effect": "NoSchedule"}
    fake_kube.add_node("node-1", taints=[existing])
    run_action(
        kube_clients,
        "kubernetes:taint",
        {"key": "lanner.dev/compromised", "value": "c2", "effect": "NoExecute"},
    )
    assert fake_kube.get("nodes", "", "node-1")["spec"]["taints"] == [
        existing,
        {"key": "lanner.dev/compromised", "value": "c2", "effect": "NoExecute"},
    ]
    [patch] = fake_kube.writes()
    assert patch.content_type == MERGE
    assert "resourceVersion" in patch.body["metadata"]
    # the same taint again changes nothing
    result = run_action(
        kube_clients,
        "kubernetes:taint",
        {"key": "lanner.dev/compromised", "value": "c2", "effect": "NoExecute"},
    )
    assert result.detail == "taint already present"
    assert len(fake_kube.writes()) == 1


def test_taint_rereads_the_node_after_a_conflict(
    fake_kube: FakeKube, kube_clients: KubeClients
) -> None:
    fake_kube.fail_next.append(("PATCH", r"/nodes/node-1$", 409))
    run_action(kube_clients, "kubernetes:taint", {"key": "k"})
    assert fake_kube.get("nodes", "", "node-1")["spec"]["taints"] == [
        {"key": "k", "value": "", "effect": "NoSchedule"}
    ]
    reads = [r for r in fake_kube.requests if r.method == "GET" and r.path.endswith("node-1")]
    assert len(reads) == 2 and len(fake_kube.writes()) == 2


def test_taint_conflict_is_detected_by_the_fake(
    fake_kube: FakeKube, kube_clients: KubeClients
) -> None:
    """The optimistic-concurrency guard is real: a stale resourceVersion gets a 409."""
    from kubernetes.client.exceptions import ApiException

    stale = fake_kube.get("nodes", "", "node-1")["metadata"]["resourceVersion"]
    kube_clients.core.patch_node("node-1", {"metadata": {"labels": {"x": "y"}}})
    with pytest.raises(ApiException) as info:
        kube_clients.core.patch_node(
            "node-1",
            {"metadata": {"resourceVersion": stale}, "spec": {"taints": []}},
            _content_type=MERGE,
        )
    assert info.value.status == 409


# ---- scale --------------------------------------------------------------------------


def test_scale_the_pods_deployment_to_zero(web: FakeKube, kube_clients: KubeClients) -> None:
    result = run_action(kube_clients, "kubernetes:scale-to-zero")
    assert result.target == "deployment default/web"
    dep = web.get("deployments", "default", "web")
    assert dep["spec"]["replicas"] == 0
    assert dep["metadata"]["annotations"] == {"lanner.dev/replicas-before-response": "3"}
    scale_patch = [r for r in web.writes() if r.path.endswith("/scale")]
    assert [(r.method, r.body) for r in scale_patch] == [("PATCH", {"spec": {"replicas": 0}})]


def test_scale_refuses_a_pod_without_deployment(web: FakeKube, kube_clients: KubeClients) -> None:
    with pytest.raises(ActionError, match="not run by a Deployment"):
        run_action(
            kube_clients,
            "kubernetes:scale-to-zero",
            output_fields={"k8s.ns.name": "default", "k8s.pod.name": "other"},
        )
    assert web.writes() == []


def test_scale_named_deployment(web: FakeKube, kube_clients: KubeClients) -> None:
    run_action(
        kube_clients,
        "kubernetes:scale-to-zero",
        {"deployment": "web", "remember_replicas": False},
        output_fields={"k8s.ns.name": "default", "k8s.pod.name": "gone"},
    )
    dep = web.get("deployments", "default", "web")
    assert dep["spec"]["replicas"] == 0 and "annotations" not in dep["metadata"]


# ---- exec ---------------------------------------------------------------------------


def test_exec_argv_is_passed_verbatim(web: FakeKube, kube_clients: KubeClients) -> None:
    web.exec_handler = lambda ns, pod, container, argv: ("killed\n", "", 0)
    hostile = {"proc.pid": "1; rm -rf /"}
    fields = {"k8s.ns.name": "default", "k8s.pod.name": "web-1", **hostile}
    result = run_action(
        kube_clients,
        "kubernetes:exec",
        {"command": ["kill", "-9", "${proc.pid}"]},
        output_fields=fields,
    )
    assert web.execs == [
        {
            "namespace": "default",
            "pod": "web-1",
            "container": "app",
            "argv": ["kill", "-9", "1; rm -rf /"],
        }
    ]
    assert result.changes["stdout"] == "killed\n" and result.changes["exit_code"] == 0


def test_exec_non_zero_exit_fails(web: FakeKube, kube_clients: KubeClients) -> None:
    web.exec_handler = lambda ns, pod, container, argv: ("", "no such process\n", 1)
    with pytest.raises(ActionError, match="exit code 1: no such process") as info:
        run_action(kube_clients, "kubernetes:exec", {"command": ["kill", "1"], "container": "app"})
    # what the command said is kept for the audit record
    assert info.value.changes == {
        "command": ["kill", "1"],
        "exit_code": 1,
        "stdout": "",
        "stderr": "no such process\n",
    }


def test_exec_without_exit_status_in_time_fails(web: FakeKube, kube_clients: KubeClients) -> None:
    release = threading.Event()

    def hang(ns: str, pod: str, container: str, argv: list[str]) -> tuple[str, str, int]:
        release.wait(1.5)  # longer than the action waits, then answer
        return "", "", 0

    web.exec_handler = hang
    try:
        with pytest.raises(ActionError, match="no exit status within the timeout"):
            run_action(kube_clients, "kubernetes:exec", {"command": ["sleep", "99"], "timeout": 1})
    finally:
        release.set()


def test_exec_needs_a_container_when_the_pod_has_several(
    fake_kube: FakeKube, kube_clients: KubeClients
) -> None:
    fake_kube.add_pod("default", "web-1", {"app": "web"}, containers=("app", "sidecar"))
    with pytest.raises(ActionError):
        run_action(kube_clients, "kubernetes:exec", {"command": ["true"]})
    run_action(kube_clients, "kubernetes:exec", {"command": ["true"], "container": "sidecar"})
    assert fake_kube.execs[-1]["container"] == "sidecar"


# ---- dry-run ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("kubernetes:isolate", {}),
        ("kubernetes:isolate", {"selector": "quarantine-label"}),
        ("kubernetes:delete", {"grace_period_seconds": 0}),
        ("kubernetes:label", {"labels": {"a": "b"}}),
        ("kubernetes:annotate", {"annotations": {"a": "b"}}),
        ("kubernetes:cordon", {}),
        ("kubernetes:taint", {"key": "k"}),
        ("kubernetes:scale-to-zero", {}),
        ("kubernetes:exec", {"command": ["true"]}),
    ],
)
def test_dry_run_changes_nothing(
    web: FakeKube, kube_clients: KubeClients, name: str, params: dict
) -> None:
    before = {kind: dict(objs) for kind, objs in web.objects.items()}
    result = run_action(kube_clients, name, params, dry_run=True)
    assert result.detail.startswith("would ")
    assert web.writes() == []
    assert web.execs == []
    assert {kind: dict(objs) for kind, objs in web.objects.items()} == before
