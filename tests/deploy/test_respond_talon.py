"""Falco Talon's rules and actionners in `lanner respond`, acting on a real kube-apiserver
(tests/deploy/apiserver.py: etcd + kube-apiserver v1.20 on loopback, TLS, tokens, RBAC).

Talon's own example rules file (tests/services/respond/fixtures/talon) is loaded as is,
minus its forensic-capture rules (their artifacts need a kubelet and S3), and its rules act
on objects the API server stores. Calico and Cilium policies are checked
against their published schemas: Calico's CRD (projectcalico/calico) installed in the API
server, which validates what Lanner creates, and both projects' JSON schemas (datreeio's
CRDs-catalog, generated from the CRDs, with unknown fields refused).

Without a kubelet, nothing runs in a pod: exec, script, log and download can only be seen
failing cleanly here (the API server cannot reach a kubelet), which one test checks; the
captures (tcpdump, sysdig) show what they create and their start timeouts.
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from kubernetes import client

from lanner.services.respond.actions.kube import KubeClients, KubeConfig
from lanner.services.respond.dedup import Deduplicator
from lanner.services.respond.engine import Responder
from lanner.services.respond.notifiers import Notifications
from lanner.services.respond.rules import load_ruleset

from . import apiserver, kube_objects
from .helpers import ROOT, wait_until

TALON = ROOT / "tests" / "services" / "respond" / "fixtures" / "talon"
CRDS = Path(__file__).parent / "fixtures" / "crds"
NODE = "node-1"


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[apiserver.APIServer]:
    server = apiserver.start(tmp_path_factory.mktemp("kube"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api(kube: apiserver.APIServer) -> Any:
    api = kube_objects.admin_client(kube.kubeconfig())
    kube_objects.node(api, NODE)
    calico = yaml.safe_load(
        gzip.decompress((CRDS / "crd.projectcalico.org_networkpolicies.yaml.gz").read_bytes())
    )
    ext = client.ApiextensionsV1Api(api)
    ext.create_custom_resource_definition(calico)
    wait_until(lambda: _served(api, "crd.projectcalico.org", "v1"), 30, "Calico's CRD served")
    return api


def _served(api: Any, group: str, version: str) -> bool:
    groups = client.ApisApi(api).get_api_versions().groups
    return any(g.name == group and any(v.version == version for v in g.versions) for g in groups)


def _responder(kube: apiserver.APIServer, paths: list[Path], **kw: Any) -> Responder:
    rules = load_ruleset(paths).rules
    kube_clients = KubeClients(KubeConfig(kubeconfig=str(kube.kubeconfig())))
    return Responder(rules, kube=kube_clients, dedup=Deduplicator(0), sleep=lambda s: None, **kw)


def _alert(rule: str, **fields: Any) -> dict[str, Any]:
    return {
        "rule": rule,
        "priority": "Warning",
        "source": "syscall",
        "output": f"12:00:00.000000000: Warning {rule}",
        "time": "2026-12-07T12:00:00.000000000Z",
        "hostname": NODE,
        "tags": ["container"],
        "output_fields": fields,
    }


def _talon_example(tmp_path: Path) -> list[Path]:
    """Talon's rules.yaml without the forensic rules Lanner refuses, and its override file."""
    text = (TALON / "rules.yaml").read_text()
    path = tmp_path / "rules.yaml"
    path.write_text(text.split("- rule: Test download")[0])
    return [path, TALON / "rules_override.yaml"]


def _results(records: list[Any]) -> list[tuple[str, str]]:
    return [(r.action, r.result) for r in records]


def test_talon_example_rules_act_on_the_api_server(
    kube: apiserver.APIServer, api: Any, tmp_path: Path
) -> None:
    core, net = client.CoreV1Api(api), client.NetworkingV1Api(api)
    kube_objects.namespace(api, "shop")
    web = kube_objects.deployed_pod(api, "shop", "web", NODE, "10.0.0.5")
    responder = _responder(kube, _talon_example(tmp_path))
    pod_fields = {"k8s.ns.name": "shop", "k8s.pod.name": web.name}

    # "Terminal shell in container" -> Terminate Pod (override: grace 2, standalone ignored)
    records = responder.handle(_alert("Terminal shell in container", **pod_fields))
    assert _results(records) == [("kubernetes:terminate", "ok")], records
    assert records[0].detail == "terminated the pod"
    pod = core.read_namespaced_pod(web.name, "shop")
    assert pod.metadata.deletion_timestamp is not None  # graceful: no kubelet to finish it
    assert pod.metadata.deletion_grace_period_seconds == 2
    # ... but not in the falco namespace (output_fields: k8s.ns.name!=falco)
    assert responder.handle(_alert("Terminal shell in container", **{"k8s.ns.name": "falco"})) == []

    # a standalone pod is ignored by that action (ignore_standalone_pods: true)
    core.create_namespaced_pod("shop", {
        "metadata": {"name": "loner", "labels": {"app": "loner"}},
        "spec": {"automountServiceAccountToken": False, "nodeName": NODE,
                 "containers": [{"name": "c", "image": "busybox"}]},
    })  # fmt: skip
    records = responder.handle(
        _alert("Terminal shell in container", **{"k8s.ns.name": "shop", "k8s.pod.name": "loner"})
    )
    assert records[0].detail == "ignored: the pod is a standalone pod"
    assert core.read_namespaced_pod("loner", "shop").metadata.deletion_timestamp is None

    # "Delete unknown namespace": kubernetes:delete of the audited object
    kube_objects.namespace(api, "todelete")
    records = responder.handle(_alert(
        "K8s Namespace Created",
        **{"ka.target.resource": "namespaces", "ka.target.name": "todelete",
           "ka.target.namespace": "todelete"},
    ))  # fmt: skip
    assert _results(records) == [("kubernetes:delete", "ok")], records
    assert core.read_namespace("todelete").status.phase == "Terminating"

    # "Suspicious outbound connection" (Cilium: not installed here) and "Calico netpol"
    # (kubernetes:networkpolicy, then calico:networkpolicy through Calico's CRD)
    db = kube_objects.deployed_pod(api, "shop", "db", NODE, "10.0.0.6")
    fields = {"k8s.ns.name": "shop", "k8s.pod.name": db.name, "fd.rip": "203.0.113.9"}
    records = responder.handle(_alert("Unexpected outbound connection destination", **fields))
    assert _results(records) == [
        ("cilium:networkpolicy", "failed"),
        ("kubernetes:networkpolicy", "ok"),
        ("calico:networkpolicy", "ok"),
    ], records
    assert "HTTP 404" in records[0].detail  # no Cilium CRD in this cluster
    policy = net.read_namespaced_network_policy(db.name, "shop")
    uid = core.read_namespaced_pod(db.name, "shop").metadata.uid
    assert policy.spec.pod_selector.match_labels == {"lanner.dev/quarantine": uid}
    assert policy.spec.policy_types == ["Egress"]
    peers = policy.spec.egress[0].to
    assert [p.ip_block.cidr for p in peers if p.ip_block] == [
        "192.168.1.0/24", "172.17.0.0/16", "192.168.1.0/24", "172.17.0.0/16",
    ]  # fmt: skip
    assert [p.namespace_selector.match_labels for p in peers if p.namespace_selector] == [
        {"kubernetes.io/metadata.name": "green-ns"},
        {"kubernetes.io/metadata.name": "blue-ns"},
    ]
    custom = client.CustomObjectsApi(api)
    calico = custom.get_namespaced_custom_object(
        "crd.projectcalico.org", "v1", "shop", "networkpolicies", db.name
    )
    assert calico["spec"]["order"] == 20
    assert calico["spec"]["selector"] == f"lanner.dev/quarantine == '{uid}'"
    assert calico["spec"]["egress"][0] == {
        "action": "Deny", "destination": {"nets": ["203.0.113.9/32"]},
    }  # fmt: skip
    # a second connection adds its address to the same policy's deny rule
    again = {**fields, "fd.rip": "198.51.100.4"}
    responder.handle(_alert("Unexpected outbound connection destination", **again))
    calico = custom.get_namespaced_custom_object(
        "crd.projectcalico.org", "v1", "shop", "networkpolicies", db.name
    )
    assert calico["spec"]["egress"][0]["destination"]["nets"] == [
        "203.0.113.9/32", "198.51.100.4/32",
    ]  # fmt: skip

    # "Test node drain" is in test_cordon_and_drain (its max_wait_period is 90 s)


def test_cordon_and_drain(kube: apiserver.APIServer, api: Any, tmp_path: Path) -> None:
    """Talon's "Test node drain" actions: the node is cordoned, its pods evicted (policy/v1
    Eviction, v1beta1 on this 1.20 API server); without a kubelet they never go, which the
    drain reports as a failure after max_wait_period unless its ignore_errors is set."""
    core = client.CoreV1Api(api)
    kube_objects.node(api, "node-2")
    kube_objects.namespace(api, "drain")
    one = kube_objects.deployed_pod(api, "drain", "one", "node-2", "10.0.5.5")
    two = kube_objects.deployed_pod(api, "drain", "two", "node-2", "10.0.5.6")
    rules = tmp_path / "rules.yaml"
    text = (TALON / "rules.yaml").read_text()
    drain = text[text.index("- rule: Test node drain") : text.index("- rule: Delete namespace")]
    rules.write_text(drain.replace("max_wait_period: 90", "max_wait_period: 3"))
    responder = _responder(kube, [rules])
    fields = {"k8s.ns.name": "drain", "k8s.pod.name": one.name}
    records = responder.handle(_alert("Test node drain", **fields))
    assert _results(records) == [("kubernetes:cordon", "ok"), ("kubernetes:drain", "failed")]
    assert core.read_node("node-2").spec.unschedulable is True
    assert sorted(records[1].changes["evicted"]) == [f"drain/{one.name}", f"drain/{two.name}"]
    assert "2 not gone within max_wait_period" in records[1].detail
    for pod in (one, two):
        assert core.read_namespaced_pod(pod.name, "drain").metadata.deletion_timestamp


def test_label_and_annotation_on_pod_and_node(
    kube: apiserver.APIServer, api: Any, tmp_path: Path
) -> None:
    core = client.CoreV1Api(api)
    kube_objects.namespace(api, "labels")
    app = kube_objects.deployed_pod(api, "labels", "app", NODE, "10.0.1.5")
    core.patch_node(NODE, {"metadata": {"labels": {"stale": "yes"}}})
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "- action: Flag the node\n  actionner: kubernetes:label\n"
        "  parameters: {level: node, labels: {suspicious: 'true', stale: ''}}\n"
        "- action: Note on the pod\n  actionner: kubernetes:annotation\n"
        "  parameters: {annotations: {falco/rule: '${RULE}', falco/proc: '${PROC_NAME}'}}\n"
        "- rule: Mark\n  match: {rules: [Shell]}\n"
        "  actions: [{action: Flag the node}, {action: Note on the pod}]\n"
    )
    responder = _responder(kube, [rules])
    fields = {"k8s.ns.name": "labels", "k8s.pod.name": app.name, "proc.name": "bash"}
    records = responder.handle(_alert("Shell", **fields))
    assert _results(records) == [("kubernetes:label", "ok"), ("kubernetes:annotation", "ok")]
    node_labels = core.read_node(NODE).metadata.labels
    assert node_labels["suspicious"] == "true" and "stale" not in node_labels
    pod = core.read_namespaced_pod(app.name, "labels")
    assert pod.metadata.annotations == {"falco/rule": "Shell", "falco/proc": "bash"}


def test_delete_handles_talons_resources_and_refuses_others(
    kube: apiserver.APIServer, api: Any, tmp_path: Path
) -> None:
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    kube_objects.namespace(api, "del")
    core.create_namespaced_config_map("del", {"metadata": {"name": "leak"}, "data": {"a": "b"}})
    rbac.create_cluster_role({"metadata": {"name": "too-much"}, "rules": []})
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "- rule: Delete\n  description: delete the audited object\n"
        "  actions: [{action: Delete it, actionner: kubernetes:delete}]\n"
    )
    responder = _responder(kube, [rules])

    def delete(resource: str, name: str, namespace: str = "") -> Any:
        fields = {"ka.target.resource": resource, "ka.target.name": name}
        if namespace:
            fields["ka.target.namespace"] = namespace
        (record,) = responder.handle(_alert("Audit", **fields))
        return record

    assert delete("configmaps", "leak", "del").result == "ok"
    assert [c.metadata.name for c in core.list_namespaced_config_map("del").items] == []
    assert delete("clusterroles", "too-much").result == "ok"
    assert "too-much" not in [r.metadata.name for r in rbac.list_cluster_role().items]
    gone = delete("configmaps", "leak", "del")
    assert gone.result == "failed" and "HTTP 404" in gone.detail
    pods = delete("pods", "x", "del")
    assert pods.result == "failed" and "cannot delete pods" in pods.detail


def _schema(name: str) -> dict[str, Any]:
    return json.loads(gzip.decompress((CRDS / name).read_bytes()))


_FORMATS = jsonschema.FormatChecker()


@_FORMATS.checks("cidr", raises=ValueError)
def _cidr(value: object) -> bool:
    ipaddress.ip_network(str(value), strict=False)
    return True


def _validate(body: dict[str, Any], schema: dict[str, Any]) -> None:
    """Validate as the API server would: the CRD's patterns are Go regular expressions
    (Python's `re` reads the ones in play here), `format: cidr` is checked."""
    jsonschema.Draft7Validator(schema, format_checker=_FORMATS).validate(body)


def test_calico_and_cilium_policies_match_their_schemas(
    kube: apiserver.APIServer, api: Any, tmp_path: Path
) -> None:
    """What Lanner writes validates against each project's schema (unknown fields refused);
    a broken body does not (the check can fail)."""
    kube_objects.namespace(api, "schemas")
    pod = kube_objects.deployed_pod(api, "schemas", "api", NODE, "10.0.2.5")
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "- rule: Policies\n  description: both\n  dry_run: true\n  actions:\n"
        "    - action: Calico\n      actionner: calico:networkpolicy\n"
        "      parameters: {order: 5, allow_cidr: [10.0.0.0/8], allow_namespaces: [dns]}\n"
        "    - action: Cilium\n      actionner: cilium:networkpolicy\n"
        "      parameters: {allow_cidr: [10.0.0.0/8], allow_namespaces: [dns]}\n"
    )
    responder = _responder(kube, [rules])
    fields = {"k8s.ns.name": "schemas", "k8s.pod.name": pod.name, "fd.rip": "203.0.113.7"}
    calico, cilium = responder.handle(_alert("Egress", **fields))
    assert (calico.result, cilium.result) == ("dry_run", "dry_run"), (calico, cilium)
    calico_body, cilium_body = calico.changes["policy"], cilium.changes["policy"]
    calico_body["apiVersion"] = "projectcalico.org/v3"  # the v3 schema's object
    calico_schema = _schema("projectcalico.org_networkpolicy_v3.json.gz")
    _validate(calico_body, calico_schema)
    with pytest.raises(jsonschema.ValidationError):
        _validate({**calico_body, "spec": {**calico_body["spec"], "egres": []}}, calico_schema)
    cilium_schema = _schema("cilium.io_ciliumnetworkpolicy_v2.json.gz")
    _validate(cilium_body, cilium_schema)
    assert cilium_body["spec"]["egressDeny"] == [{"toCIDR": ["203.0.113.7/32"]}]
    broken = json.loads(json.dumps(cilium_body))
    broken["spec"]["egressDeny"] = [{"toCidr": ["203.0.113.7/32"]}]
    with pytest.raises(jsonschema.ValidationError):
        _validate(broken, cilium_schema)
    broken["spec"]["egressDeny"] = [{"toCIDR": ["not-a-cidr"]}]
    with pytest.raises(jsonschema.ValidationError):
        _validate(broken, cilium_schema)


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.got.append((self.path, dict(self.headers), json.loads(body)))  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[Any]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.got = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server.got  # type: ignore[attr-defined]
    server.shutdown()


def test_notifiers_report_each_action(
    kube: apiserver.APIServer, api: Any, tmp_path: Path, receiver: tuple[str, list[Any]]
) -> None:
    """Talon's notifiers from its config: webhook, Slack-like and Loki to a local
    receiver (doubles speaking those APIs), Kubernetes Events in the real API server."""
    url, got = receiver
    kube_objects.namespace(api, "notify")
    pod = kube_objects.deployed_pod(api, "notify", "shop", NODE, "10.0.3.5")
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "- rule: Label and tell\n  match: {rules: [Shell]}\n  notifiers: [webhook, slack, loki]\n"
        "  actions:\n    - action: Label\n      actionner: kubernetes:label\n"
        "      parameters: {labels: {seen: 'yes'}}\n"
    )
    notifications = Notifications(
        {
            "webhook": {"url": f"{url}/hook", "custom_headers": {"Authorization": "Bearer t"}},
            "slack": {"webhook_url": f"{url}/slack"},
            "loki": {"url": url, "tenant": "team-a"},
        },
        defaults=("k8sevents",),
        kube=KubeClients(KubeConfig(kubeconfig=str(kube.kubeconfig()))),
    )
    responder = _responder(kube, [rules], notifications=notifications)
    fields = {"k8s.ns.name": "notify", "k8s.pod.name": pod.name}
    assert _results(responder.handle(_alert("Shell", **fields))) == [("kubernetes:label", "ok")]
    by_path = {path: (headers, body) for path, headers, body in got}
    headers, hook = by_path["/hook"]
    assert headers["Authorization"] == "Bearer t"
    assert (hook["status"], hook["rule"], hook["actionner"]) == (
        "success", "Label and tell", "kubernetes:label",
    )  # fmt: skip
    assert hook["target"] == f"pod notify/{pod.name}"
    _, slack = by_path["/slack"]
    assert slack["attachments"][0]["color"] == "#23ba47"
    assert {f["title"] for f in slack["attachments"][0]["fields"]} >= {"Rule", "Status"}
    headers, loki = by_path["/loki/api/v1/push"]
    assert headers["X-Scope-OrgID"] == "team-a"
    (stream,) = loki["streams"]
    assert stream["stream"]["rule"] == "label_and_tell" and stream["stream"]["pod"] == pod.name
    events = client.CoreV1Api(api).list_namespaced_event("notify").items
    mine = [e for e in events if e.source.component == "lanner-respond"]
    assert len(mine) == 1 and mine[0].involved_object.name == pod.name
    assert mine[0].reason == "lanner-respond:action:kubernetes:label:success"


def test_actions_needing_a_kubelet_fail_cleanly(
    kube: apiserver.APIServer, api: Any, tmp_path: Path
) -> None:
    """exec/log need the pod's kubelet, which this API server does not have: each fails
    with the API server's reason, and the rule stops at the failure (ignore_errors off)."""
    kube_objects.namespace(api, "nokubelet")
    pod = kube_objects.deployed_pod(api, "nokubelet", "box", NODE, "10.0.4.5")
    rules = tmp_path / "rules.yaml"
    out = tmp_path / "artifacts"
    rules.write_text(
        "- rule: Forensics\n  match: {rules: [Shell]}\n  actions:\n"
        "    - action: Logs\n      actionner: kubernetes:log\n      ignore_errors: true\n"
        f"      output: {{target: 'local:file', parameters: {{destination: '{out}'}}}}\n"
        "    - action: Run\n      actionner: kubernetes:exec\n"
        "      parameters: {command: 'cat \"$FD_NAME\"'}\n"
        "    - action: Label\n      actionner: kubernetes:label\n"
        "      parameters: {labels: {seen: 'yes'}}\n"
    )
    responder = _responder(kube, [rules], retries=0)
    fields = {"k8s.ns.name": "nokubelet", "k8s.pod.name": pod.name, "fd.name": "/etc/x; rm -rf /"}
    records = responder.handle(_alert("Shell", **fields))
    assert _results(records) == [
        ("kubernetes:log", "failed"),
        ("kubernetes:exec", "failed"),
        ("kubernetes:label", "skipped"),
    ], records
    assert records[1].changes["command"] == [
        "/bin/sh", "-c", 'FD_NAME="${1}"; cat "$FD_NAME"', "lanner-respond", "/etc/x; rm -rf /",
    ]  # fmt: skip
    assert not out.exists() or not list(out.iterdir())


def test_the_printed_rbac_is_enough_for_talons_rules(
    kube: apiserver.APIServer, api: Any, tmp_path: Path
) -> None:
    """`lanner respond --rbac` for Talon's example rules, bound to a user that has nothing
    else: the rules act under it (least privilege that works)."""
    from lanner.services.respond.rbac import manifests

    paths = _talon_example(tmp_path)
    role = next(m for m in manifests(load_ruleset(paths).rules) if m["kind"] == "ClusterRole")
    role["metadata"]["name"] = "talon-rules"
    rbac = client.RbacAuthorizationV1Api(api)
    rbac.create_cluster_role(role)
    rbac.create_cluster_role_binding({
        "metadata": {"name": "talon-rules"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "talon-rules"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "nobody"}],
    })  # fmt: skip
    kube_objects.namespace(api, "least")
    pod = kube_objects.deployed_pod(api, "least", "api", NODE, "10.0.6.5")
    rules = load_ruleset(paths).rules
    as_nobody = KubeClients(KubeConfig(kubeconfig=str(kube.kubeconfig("nobody"))))
    responder = Responder(rules, kube=as_nobody, dedup=Deduplicator(0), sleep=lambda s: None)
    fields = {"k8s.ns.name": "least", "k8s.pod.name": pod.name, "fd.rip": "203.0.113.1"}
    records = wait_until(
        lambda: (r := responder.handle(_alert("Unexpected outbound connection destination",
                                              **fields)))[1].result == "ok" and r,
        30, "the binding to take effect",
    )  # fmt: skip
    assert _results(records)[1:] == [
        ("kubernetes:networkpolicy", "ok"),
        ("calico:networkpolicy", "ok"),
    ], records
    records = responder.handle(_alert("Terminal shell in container", **fields))
    assert _results(records) == [("kubernetes:terminate", "ok")], records
    # and a user without the binding is refused by the API server
    bare = KubeClients(KubeConfig(kubeconfig=str(kube.kubeconfig("nobody"))))
    rbac.delete_cluster_role_binding("talon-rules")
    denied = wait_until(
        lambda: (r := Responder(rules, kube=bare, dedup=Deduplicator(0), retries=0,
                                sleep=lambda s: None).handle(
            _alert("Terminal shell in container", **fields)))[0].result == "failed" and r,
        30, "the binding to be gone",
    )  # fmt: skip
    assert "HTTP 403" in denied[0].detail


def test_captures_start_what_the_api_server_stores_then_time_out_without_a_kubelet(
    kube: apiserver.APIServer, api: Any, tmp_path: Path
) -> None:
    """Talon's capture actionners under the RBAC `lanner respond --rbac` prints for them
    (user `respond`, bound to nothing else): the API server stores the ephemeral container
    (1.20: the `EphemeralContainers` body) and the Job as sent; with no kubelet neither runs,
    so each action fails after its start timeout saying so, and the Job is deleted."""
    from kubernetes import watch

    from lanner.services.respond.rbac import manifests

    out = tmp_path / "captures"
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(
        "- rule: Capture\n  match: {rules: [Shell]}\n  actions:\n"
        "    - action: Packets\n      actionner: kubernetes:tcpdump\n"
        "      parameters: {duration: 5, snaplen: 512, start_timeout: 2}\n"
        "      ignore_errors: true\n      continue: true\n"
        f"      output: {{target: 'local:file', parameters: {{destination: '{out}'}}}}\n"
        "    - action: Syscalls\n      actionner: kubernetes:sysdig\n"
        "      parameters: {duration: 5, scope: pod, buffer_size: 4096, start_timeout: 2}\n"
        f"      output: {{target: 'local:file', parameters: {{destination: '{out}'}}}}\n"
    )
    rules = load_ruleset([rules_file]).rules
    role = next(m for m in manifests(rules) if m["kind"] == "ClusterRole")
    role["metadata"]["name"] = "captures"
    rbac = client.RbacAuthorizationV1Api(api)
    rbac.create_cluster_role(role)
    rbac.create_cluster_role_binding({
        "metadata": {"name": "captures"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "captures"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "respond"}],
    })  # fmt: skip
    kube_objects.namespace(api, "forensics")
    pod = kube_objects.deployed_pod(api, "forensics", "shop", NODE, "10.0.7.5")
    jobs: list[tuple[str, Any]] = []

    def watch_jobs() -> None:
        stream = watch.Watch().stream(client.BatchV1Api(api).list_namespaced_job, "forensics",
                                      timeout_seconds=60)  # fmt: skip
        for event in stream:
            jobs.append((event["type"], event["object"]))
            if event["type"] == "DELETED":
                return

    watcher = threading.Thread(target=watch_jobs, daemon=True)
    watcher.start()
    as_respond = KubeClients(KubeConfig(kubeconfig=str(kube.kubeconfig("respond"))))
    responder = Responder(rules, kube=as_respond, dedup=Deduplicator(0), retries=0,
                          sleep=lambda s: None)  # fmt: skip
    fields = {"k8s.ns.name": "forensics", "k8s.pod.name": pod.name}
    records = wait_until(
        lambda: (r := responder.handle(_alert("Shell", **fields)))
        and "HTTP 403" not in r[0].detail and r,
        30, "the binding to take effect",
    )  # fmt: skip
    assert _results(records) == [
        ("kubernetes:tcpdump", "failed"),
        ("kubernetes:sysdig", "failed"),
    ], records
    assert "did not start within 2s (no status yet: is a kubelet running the pod?)" in (
        records[0].detail
    )
    assert "did not start within 2s (no pod created: is the Job controller running" in (
        records[1].detail
    )
    # what the API server stored: the ephemeral container as sent
    stored = client.CoreV1Api(api).read_namespaced_pod(pod.name, "forensics")
    (ec,) = stored.spec.ephemeral_containers
    assert ec.name.startswith("lanner-tcpdump-") and ec.image == "issif/tcpdump:latest"
    assert ec.target_container_name == "shop"
    assert ec.command == ["sleep", str(5 + 2 + 60)]
    # 1.20 refuses a securityContext on an ephemeral container (allowed from 1.23): the
    # older body is sent without it, and the audit record says so
    assert ec.security_context is None
    assert "without securityContext" in records[0].changes["note"]
    # and the Job: created on the pod's node, then deleted once it did not start
    watcher.join(30)
    assert jobs and jobs[0][0] == "ADDED" and jobs[-1][0] == "DELETED", jobs
    job = jobs[0][1]
    spec = job.spec.template.spec
    assert spec.node_name == NODE and spec.host_pid is True
    assert spec.containers[0].image == "issif/sysdig:latest"
    assert spec.containers[0].security_context.privileged is True
    assert spec.volumes[0].host_path.path == "/"
    argv = records[1].changes["command"]
    assert argv[-1] == f"container.id in ({pod.container_id[:12]})"
    assert client.BatchV1Api(api).list_namespaced_job("forensics").items == []
    assert not out.exists()
