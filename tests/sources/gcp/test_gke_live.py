"""The k8saudit-gke plugin in ``lanner run``: GKE audit log entries (Cloud Logging
``LogEntry`` with an AuditLog payload, as a logs routing sink publishes them) are read from
a Pub/Sub subscription through Google's subscriber client, against a DOUBLE of Pub/Sub
(tests/helpers/pubsub_double.py), rebuilt into Kubernetes audit events as the plugin does,
and the upstream k8s_audit_rules.yaml with its GKE extensions (k8s_audit_rules_gke.yaml,
both unmodified) fire on them: the GKE robot account and GKE's own images are allowed,
the same actions by others are not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from gcp_testutil import RULES, start_lanner, write_config

from helpers import free_port, wait_until
from helpers.lanner_process import metrics
from helpers.pubsub_double import PubSubDouble
from lanner.exceptions import NotAuditEvent
from lanner.sources.k8s_audit.gke import convert_log_entry

K8S_RULES = [RULES / "k8s_audit_rules.yaml", RULES / "k8s_audit_rules_gke.yaml"]
ROBOT = "service-1234@container-engine-robot.iam.gserviceaccount.com"
USER = "mallory@example.com"
D = "Disallowed K8s User"


def entry(n: int, method: str, resource: str, request: dict[str, Any] | None = None,
          user: str = USER) -> dict[str, Any]:  # fmt: skip
    """A GKE audit log entry (LogEntry JSON) as Cloud Logging routes it to Pub/Sub."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    payload: dict[str, Any] = {
        "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
        "authenticationInfo": {"principalEmail": user},
        "authorizationInfo": [{"granted": True, "permission": method, "resource": resource}],
        "methodName": method, "resourceName": resource, "serviceName": "k8s.io",
        "requestMetadata": {"callerIp": "198.51.100.9", "callerSuppliedUserAgent": "kubectl/v1.30"},
        "status": {},
    }  # fmt: skip
    if request is not None:
        payload["request"] = request
    return {
        "insertId": f"gke-{n}", "logName": "projects/test-project/logs/"
        "cloudaudit.googleapis.com%2Factivity", "protoPayload": payload,
        "labels": {"authorization.k8s.io/decision": "allow"},
        "resource": {"type": "k8s_cluster", "labels": {"cluster_name": "prod-eu",
                                                        "location": "europe-west1",
                                                        "project_id": "test-project"}},
        "timestamp": now, "receiveTimestamp": now, "operation": {"id": f"op-{n}"},
    }  # fmt: skip


def pod(image: str, ns: str = "default", **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": image}
    if spec.pop("privileged", False):
        container["securityContext"] = {"privileged": True}
    if spec.pop("etc_mount", False):
        spec["volumes"] = [{"name": "etc", "hostPath": {"path": "/etc"}}]
    return {"@type": "core.k8s.io/v1.Pod", "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": ns},
            "spec": {"containers": [container], **spec}}  # fmt: skip


POD = "io.k8s.core.v1.pods.create"
EVIL, GKE_NETD = "docker.io/evil/miner:1", "gke.gcr.io/netd:v1.2"
WILD = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "wild"},
        "rules": [{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}]}  # fmt: skip
BINDING = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
           "metadata": {"name": "pwn"},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                       "name": "cluster-admin"},
           "subjects": [{"kind": "User", "name": "mallory"}]}  # fmt: skip
RBAC = "rbac.authorization.k8s.io/v1"
NS = "core/v1/namespaces"

# (method, resourceName, request, user) -> exactly the rules that fire
CASES: list[tuple[str, str, dict[str, Any] | None, str, set[str]]] = [
    # the GKE extensions: the robot account and GKE's images are allowed ...
    ("io.k8s.core.v1.configmaps.get", f"{NS}/kube-system/configmaps/c", None, ROBOT, set()),
    (POD, f"{NS}/default/pods/p", pod(GKE_NETD, privileged=True), USER, {D}),
    (POD, f"{NS}/default/pods/p", pod("gke.gcr.io/fluent-bit:v2", hostNetwork=True), USER, {D}),
    (POD, f"{NS}/default/pods/p", pod("gke.gcr.io/csi-node-driver-registrar:v2",
                                      etc_mount=True), USER, {D}),
    (POD, f"{NS}/kube-system/pods/p", pod("gke.gcr.io/kube-proxy-amd64:v1", "kube-system"),
     USER, {D}),
    # ... and the same actions by others fire
    ("io.k8s.core.v1.configmaps.get", f"{NS}/kube-system/configmaps/c", None, USER, {D}),
    (POD, f"{NS}/default/pods/p", pod(EVIL, privileged=True), USER, {D, "Create Privileged Pod"}),
    (POD, f"{NS}/default/pods/p", pod(EVIL, hostNetwork=True), USER,
     {D, "Create HostNetwork Pod"}),
    (POD, f"{NS}/default/pods/p", pod(EVIL, etc_mount=True), USER,
     {D, "Create Sensitive Mount Pod"}),
    (POD, f"{NS}/kube-system/pods/p", pod(EVIL, "kube-system"), USER,
     {D, "Pod Created in Kube Namespace"}),
    (POD, f"{NS}/default/pods/p", pod(EVIL, hostPID=True), USER, {D, "Create HostPid Pod"}),
    # the k8s_audit rules on rebuilt events
    ("io.k8s.core.v1.pods.exec.create", f"{NS}/default/pods/web/exec", None, USER,
     {"Attach/Exec Pod"}),  # stage ResponseStarted: not a completed request
    ("io.k8s.core.v1.pods.portforward.create", f"{NS}/default/pods/web/portforward", None,
     USER, {D, "port-forward"}),
    ("io.k8s.core.v1.services.create", f"{NS}/default/services/web",
     {"kind": "Service", "spec": {"type": "NodePort", "ports": [{"port": 80}]}}, USER,
     {D, "Create NodePort Service", "K8s Service Created"}),
    ("io.k8s.core.v1.configmaps.create", f"{NS}/default/configmaps/creds",
     {"kind": "ConfigMap", "data": {"aws_access_key_id": "AKIAEXAMPLE"}}, USER,
     {D, "Create/Modify Configmap With Private Credentials", "K8s ConfigMap Created"}),
    ("io.k8s.authorization.rbac.v1.clusterrolebindings.create",
     f"{RBAC}/clusterrolebindings/pwn", BINDING, USER,
     {D, "Attach to cluster-admin Role", "K8s ClusterRoleBinding Created"}),
    ("io.k8s.authorization.rbac.v1.clusterroles.create", f"{RBAC}/clusterroles/wild", WILD,
     USER, {D, "ClusterRole With Wildcard Created", "K8s ClusterRole Created"}),
    ("io.k8s.authorization.rbac.v1.clusterroles.patch", f"{RBAC}/clusterroles/system:node",
     None, USER, {D, "System ClusterRole Modified/Deleted"}),
    ("io.k8s.core.v1.namespaces.create", "core/v1/namespaces/bitcoin", None, USER,
     {D, "Create Disallowed Namespace", "K8s Namespace Created"}),
    ("io.k8s.core.v1.secrets.get", f"{NS}/default/secrets/db", None, USER,
     {D, "K8s Secret Get Successfully"}),
    ("io.k8s.apps.v1.deployments.delete", "apps/v1/namespaces/default/deployments/web", None,
     USER, {D, "K8s Deployment Deleted"}),
    ("io.k8s.core.v1.serviceaccounts.create", f"{NS}/kube-system/serviceaccounts/backdoor",
     None, USER,
     {D, "Service Account Created in Kube Namespace", "K8s Serviceaccount Created"}),
    # quiet: a system user's routine update
    ("io.k8s.coordination.v1.leases.update", f"{NS}/kube-system/leases/kube-scheduler", None,
     "system:kube-scheduler", set()),
]  # fmt: skip


@pytest.fixture
def pubsub() -> Iterator[PubSubDouble]:
    double = PubSubDouble()
    double.create_subscription("falco-gke-audit-sub", topic="falco-gke-audit-topic")
    try:
        yield double
    finally:
        double.stop()


def test_upstream_k8s_rules_with_gke_extensions_fire_on_gke_entries(
    tmp_path: Path, pubsub: PubSubDouble
) -> None:
    web = free_port()
    init = {"project_id": "test-project", "max_event_size": 8000000}
    sub = "falco-gke-audit-sub"
    cfg = write_config(tmp_path, "k8saudit-gke", init, sub, web, extra_fields=["ka.auditid"])
    for n, (method, resource, request, user, _rules) in enumerate(CASES):
        data = entry(n, method, resource, request, user)
        pubsub.publish("falco-gke-audit-topic", json.dumps(data).encode())
    other = entry(99, "v1.compute.instances.insert", "projects/p/zones/z/instances/i")
    other["resource"]["type"] = "gce_instance"  # not GKE: dropped, as the plugin does
    pubsub.publish("falco-gke-audit-topic", json.dumps(other).encode())
    lanner = start_lanner(cfg, K8S_RULES, tmp_path / "lanner.err", pubsub)
    try:
        alerts = lanner.take(sum(len(c[-1]) for c in CASES), settle=2.0, timeout=90)
        metric = 'lanner_input_errors_total{kind="skipped",source="k8saudit-gke"} 1.0'
        wait_until(lambda: metric in metrics(web), timeout=30, what="the skipped entry metric")
        wait_until(lambda: pubsub.pending("falco-gke-audit-sub") == 0, 30, "every ack")
    finally:
        code = lanner.stop(timeout=60)
    log = lanner.log()
    assert code == 0, log
    got: dict[int, set[str]] = {}
    for a in alerts:
        assert a["source"] == "k8s_audit"
        n = int(a["output_fields"]["ka.auditid"].removeprefix("gke-"))  # the insertId
        got.setdefault(n, set()).add(a["rule"])
    assert {n: got.get(n, set()) for n in range(len(CASES))} == {
        n: c[-1] for n, c in enumerate(CASES)}  # fmt: skip
    priv = next(a for a in alerts if a["rule"] == "Create Privileged Pod")
    assert priv["output_fields"]["ka.user.name"] == USER
    assert priv["output_fields"]["ka.req.pod.containers.image"] == [EVIL]
    assert "not a GKE audit log entry (resource.type 'gce_instance')" in log, log
    assert "has no effect" not in log, log


def test_rebuilt_event_as_the_plugin_builds_it() -> None:
    doc = entry(7, "io.k8s.core.v1.pods.exec.create", f"{NS}/default/pods/web/exec")
    event = convert_log_entry(doc)
    assert event["objectRef"] == {"apiGroup": "core", "apiVersion": "v1",
                                  "namespace": "default", "resource": "pods", "name": "web",
                                  "subresource": "exec"}  # fmt: skip
    assert (event["verb"], event["stage"], event["level"]) == ("create", "ResponseStarted",
                                                               "Request")  # fmt: skip
    assert event["responseStatus"]["code"] == 101
    assert event["requestURI"] == f"/{NS}/default/pods/web/exec"
    assert event["user"] == {"username": USER} and event["sourceIPs"] == ["198.51.100.9"]
    assert event["annotations"]["cluster_name"] == "prod-eu"
    assert event["annotations"]["authorization.k8s.io/decision"] == "allow"
    assert event["auditID"] == "gke-7" and event["stageTimestamp"] == doc["receiveTimestamp"]
    ns = convert_log_entry(entry(1, "io.k8s.core.v1.namespaces.create", "core/v1/namespaces/x"))
    assert ns["objectRef"] == {"apiGroup": "core", "apiVersion": "v1", "resource": "namespaces",
                               "name": "x"}  # fmt: skip
    assert ns["responseStatus"]["code"] == 201
    listing = convert_log_entry(entry(2, "io.k8s.core.v1.pods.list", f"{NS}/default/pods"))
    assert listing["objectRef"] == {"apiGroup": "core", "apiVersion": "v1",
                                    "namespace": "default", "resource": "pods"}  # fmt: skip
    bad = entry(3, "io.k8s.core.v1.pods.get", f"{NS}/default/pods/p")
    bad["protoPayload"]["serviceName"] = "compute.googleapis.com"
    with pytest.raises(NotAuditEvent, match=r"service 'compute\.googleapis\.com' is not k8s\.io"):
        convert_log_entry(bad)
    bad = entry(4, "io.k8s.core.v1.pods.get", f"{NS}/default/pods/p")
    bad["logName"] = "projects/p/logs/stdout"
    with pytest.raises(NotAuditEvent, match="not an audit log entry"):
        convert_log_entry(bad)


@pytest.mark.parametrize(
    ("plugin", "init", "params", "message"),
    [
        ("k8saudit-gke", {"project_id": "p"}, "file:///tmp/entry.json",
         "k8saudit-gke open_params file://: not supported by Lanner"),
        ("k8saudit-gke", {"project_id": "p"}, "",
         "k8saudit-gke open_params: the Pub/Sub subscription ID is required"),
        ("k8saudit-gke", {"project_id": "p", "maxEventSize": 1}, "sub",
         "k8saudit-gke init_config: unknown key(s) ['maxEventSize']"),
        ("gcpaudit", {}, "sub", "gcpaudit init_config.project_id: required with the "
         "subscription ID 'sub'"),
        ("gcpaudit", {"project_id": "p", "credentials_file": "/nonexistent/key.json"}, "sub",
         "gcpaudit init_config.credentials_file '/nonexistent/key.json': no such file"),
    ],
)  # fmt: skip
def test_unusable_plugin_configuration_stops_the_start(
    tmp_path: Path, plugin: str, init: dict[str, Any], params: str, message: str
) -> None:
    import subprocess
    import sys

    cfg = write_config(tmp_path, plugin, init, params)
    args = [sys.executable, "-c", "from lanner.cli import main; main()", "run", "-c", str(cfg),
            "--disable-source", "syscall", "--dry-run"]  # fmt: skip
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    assert message in r.stderr, r.stderr


def test_an_event_larger_than_max_event_size_is_dropped() -> None:
    from lanner.app.gcp_input import gke_entry_events
    from lanner.exceptions import InputError

    doc = entry(1, POD, f"{NS}/default/pods/p", pod(EVIL))
    data = json.dumps(doc).encode()
    assert gke_entry_events(262144)(data, 1)[0].data["auditID"] == "gke-1"
    with pytest.raises(InputError, match=r"event larger than max_event_size \(\d+ > 200 bytes"):
        gke_entry_events(200)(data, 1)
