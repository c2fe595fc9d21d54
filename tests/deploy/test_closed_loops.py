"""The talks' closed loops against a real kube-apiserver (tests/deploy/apiserver.py).

Real: etcd + kube-apiserver v1.20.2 with RBAC and tokens, its audit policy (the one
shipped in deploy/kubernetes/apiserver/) and its audit webhook sending batches over HTTPS
with a bearer token to ``lanner run``'s k8s audit endpoint; the upstream
k8s_audit_rules.yaml unmodified; ``lanner sidekick``; two ``lanner respond`` (one fed
over HTTP by sidekick, one subscribed to sidekick's NATS subjects on a real nats-server)
acting through a token that holds exactly the ClusterRole ``lanner respond --rbac``
prints. No kubelet or controller runs: pods are stored, never run.

1. audit: objects created with kubectl -> the API server's audit events -> the upstream
   rules' alerts on the engine's stdout (and the audit endpoint refuses a wrong token);
2. response over HTTP: a privileged pod -> "Create Privileged Pod" -> sidekick ->
   respond -> NetworkPolicy ``lanner-isolate-<pod>`` and a label, read back;
3. the other actions (annotate, cordon, scale-to-zero, exec refused for want of a kubelet)
   from a real alert replayed by ``lanner respond --replay``;
4. response over NATS: a privileged pod -> sidekick's ``falco.warning.*`` subjects (the
   rule's priority) -> respond -> the pod deleted and its node tainted, read back.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client

from helpers import shared_fixture

from . import apiserver, kube_objects
from .helpers import Service, free_port, lanner, tool, wait_until

UPSTREAM_RULES = shared_fixture("rules", "k8s_audit_rules.yaml")
SIDEKICK_TOKEN = "sidekick-token-0123456789"
RESPOND_TOKEN = "respond-http-token-0123456789"
NATS_TOKEN = "nats-token-0123456789"
NODE = "node-7"
NODE_FIELD = "jevt.value[/requestObject/spec/nodeName]"
# as a Falco user adds fields to an upstream rule's output: the pod's node, for respond
APPEND = f"""\
- rule: Create Privileged Pod
  output: node={"%"}{NODE_FIELD}
  override:
    output: append
"""
TARGET = {"namespace_field": "ka.target.namespace", "pod_field": "ka.resp.name"}
HTTP_RULES = [
    {
        "rule": "Isolate privileged pods",
        "match": {
            "rules": ["Create Privileged Pod"],
            "output_fields": {"ka.target.namespace": "loop-http"},
        },
        "actions": [
            {"action": "kubernetes:isolate", "parameters": {**TARGET, "allow_dns": True}},
            {
                "action": "kubernetes:label",
                "parameters": {**TARGET, "labels": {"lanner.dev/flagged": "${rule}"}},
            },
        ],
    }
]
NATS_RULES = [
    {
        "rule": "Remove privileged pods and taint their node",
        "match": {
            "rules": ["Create Privileged Pod"],
            "output_fields": {"ka.target.namespace": "loop-nats"},
        },
        "actions": [
            {
                "action": "kubernetes:taint",
                "parameters": {
                    "key": "lanner.dev/compromised",
                    "value": "true",
                    "effect": "NoSchedule",
                    "node_field": NODE_FIELD,
                },
            },
            {"action": "kubernetes:delete", "parameters": {**TARGET, "grace_period_seconds": 0}},
        ],
    }
]


@dataclass
class Loop:
    tmp: Path
    engine: Service
    sidekick: Service
    respond_http: Service
    respond_nats: Service
    api: Any  # admin ApiClient
    admin: Path  # admin kubeconfig

    def alerts(self) -> list[dict[str, Any]]:
        return [json.loads(ln) for ln in self.engine.out.snapshot() if ln.startswith("{")]

    def wait_alert(self, rule: str, **fields: str) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            self.engine.alive()
            for a in self.alerts():
                of = a.get("output_fields") or {}
                if a["rule"] == rule and all(of.get(k) == v for k, v in fields.items()):
                    return a
            return None

        try:
            return wait_until(found, 60, f"alert {rule!r} {fields}")  # type: ignore[no-any-return]
        except AssertionError as exc:
            seen = [(a["rule"], a.get("output_fields")) for a in self.alerts()[-10:]]
            raise AssertionError(
                f"{exc}\nalerts: {seen}\nengine: " + "\n".join(self.engine.err.snapshot()[-20:])
            ) from None

    def diagnostics(self) -> str:
        """What the services logged and respond's audit trails, for failure messages."""
        parts = []
        for name in ("sidekick", "respond_http", "respond_nats"):
            parts.append(f"--- {name}\n" + "\n".join(getattr(self, name).err.snapshot()[-15:]))
        for trail in ("respond-http.jsonl", "respond-nats.jsonl"):
            path = self.tmp / trail
            parts.append(f"--- {trail}\n" + (path.read_text()[-3000:] if path.exists() else ""))
        return "\n".join(parts)

    def kubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            [tool("kubectl"), "--kubeconfig", str(self.admin), *args],
            input=stdin, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.returncode == 0, f"kubectl {' '.join(args)}: {out.stderr}"
        return out


def _nats_server(tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    exe = shutil.which("nats-server")
    assert exe, "nats-server is not installed (scripts/setup.sh installs it)"
    port = free_port()
    conf = tmp / "nats.conf"
    conf.write_text(f'listen: "127.0.0.1:{port}"\nauthorization {{ token: "{NATS_TOKEN}" }}\n')
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    wait_until(lambda: proc.poll() is None and _connects(port), 20, "nats-server")
    return proc, port


def _connects(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def loop(kube: apiserver.APIServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    assert UPSTREAM_RULES.is_file(), f"{UPSTREAM_RULES} is missing"
    assert kube.audit is not None
    tmp = tmp_path_factory.mktemp("loops")
    admin = kube.kubeconfig("admin")
    api = kube_objects.admin_client(admin)
    # respond's rights: exactly what `lanner respond --rbac` prints for its rules, bound
    # to the token it uses
    (tmp / "http-rules.yaml").write_text(yaml.safe_dump(HTTP_RULES, sort_keys=False))
    (tmp / "nats-rules.yaml").write_text(yaml.safe_dump(NATS_RULES, sort_keys=False))
    rules = ["-r", str(tmp / "http-rules.yaml"), "-r", str(tmp / "nats-rules.yaml")]
    kube_objects.node(api, NODE)
    for ns in ("loop-http", "loop-nats", "loop-audit"):
        kube_objects.namespace(api, ns)
    rbac = lanner("respond", *rules, "--rbac", "--rbac-namespace", "loop-http")
    assert rbac.returncode == 0, rbac.stderr
    docs = [d for d in yaml.safe_load_all(rbac.stdout) if d]
    for d in docs:  # named apart from the chart's (test_helm_install installs it)
        d["metadata"]["name"] = "loop-respond"
        if d["kind"] == "ClusterRoleBinding":
            d["roleRef"]["name"] = "loop-respond"
            d["subjects"][0]["name"] = "loop-respond"
            d["subjects"].append(
                {"kind": "User", "name": "respond", "apiGroup": "rbac.authorization.k8s.io"}
            )
    applied = subprocess.run(
        [tool("kubectl"), "--kubeconfig", str(admin), "apply", "-f", "-"],
        input=yaml.safe_dump_all(docs), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    respond_kube = kube.kubeconfig("respond")

    nats, nats_port = _nats_server(tmp)
    started: list[Service] = []
    try:
        ports = {n: free_port() for n in ("sidekick", "http", "engine")}
        respond_http = Service(
            "respond", "-r", str(tmp / "http-rules.yaml"), "--kubeconfig", str(respond_kube),
            "--listen", f"127.0.0.1:{ports['http']}", "--token", RESPOND_TOKEN,
            "--dedup-window", "0",
            "--audit-log", str(tmp / "respond-http.jsonl"),
        )  # fmt: skip
        started.append(respond_http)
        respond_nats = Service(
            "respond", "-r", str(tmp / "nats-rules.yaml"), "--kubeconfig", str(respond_kube),
            "--no-http", "--nats-url", f"nats://127.0.0.1:{nats_port}",
            "--nats-subject", "falco.warning.>", "--nats-token", NATS_TOKEN,
            "--dedup-window", "0", "--audit-log", str(tmp / "respond-nats.jsonl"),
        )  # fmt: skip
        started.append(respond_nats)
        sk_conf = tmp / "sidekick.yaml"
        sk_conf.write_text(yaml.safe_dump({
            "listenaddress": "127.0.0.1",
            "listenport": ports["sidekick"],
            "auth": {"token": SIDEKICK_TOKEN},
            "delivery": {"spooldir": str(tmp / "spool"), "retries": 3},
            "lannerrespond": {"address": f"http://127.0.0.1:{ports['http']}",
                              "token": RESPOND_TOKEN},
            "nats": {"hostport": f"nats://127.0.0.1:{nats_port}", "token": NATS_TOKEN},
        }))  # fmt: skip
        sidekick = Service("sidekick", "-c", str(sk_conf))
        started.append(sidekick)
        (tmp / "append.yaml").write_text(APPEND)
        conf = tmp / "lanner.yaml"
        conf.write_text(yaml.safe_dump({
            "engine": {"kind": "nodriver"},
            "rules_files": [str(UPSTREAM_RULES), str(tmp / "append.yaml")],
            "load_plugins": ["k8saudit"],
            "plugins": [
                {"name": "k8saudit", "open_params": kube.audit.url,
                 "init_config": {"sslCertificate": str(kube.audit.pem),
                                 "authToken": kube.audit.token}},
            ],
            "json_output": True,
            "json_include_output_fields_property": True,
            "stdout_output": {"enabled": True},
            "http_output": {"enabled": True, "url": f"http://127.0.0.1:{ports['sidekick']}/",
                            "headers": {"Authorization": f"Bearer {SIDEKICK_TOKEN}"}},
            "webserver": {"enabled": True, "listen_port": ports["engine"],
                          "listen_address": "127.0.0.1"},
        }))  # fmt: skip
        engine = Service("run", "-c", str(conf))
        started.append(engine)
        wait_until(
            lambda: (
                all(s.alive() for s in started)
                and httpx.get(f"http://127.0.0.1:{ports['engine']}/healthz").status_code == 200
                and httpx.get(f"http://127.0.0.1:{ports['http']}/healthz").status_code == 200
                and httpx.get(f"http://127.0.0.1:{ports['sidekick']}/ping").status_code == 200
                and any("subscribed" in ln for ln in respond_nats.err.snapshot())
            ),
            60,
            "the engine, sidekick and both responders",
        )
        yield Loop(tmp, engine, sidekick, respond_http, respond_nats, api, admin)
    finally:
        for svc in reversed(started):
            svc.stop()
        nats.terminate()
        nats.wait(10)


def _privileged_pod(name: str) -> str:
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "nodeName": NODE,
            "automountServiceAccountToken": False,
            "containers": [{"name": "c", "image": "busybox:1.36",
                            "securityContext": {"privileged": True}}],
        },
    })  # fmt: skip


def test_audit_events_of_the_real_api_server_raise_the_upstream_rules(
    loop: Loop, kube: apiserver.APIServer
) -> None:
    loop.kubectl("-n", "loop-audit", "create", "configmap", "app-creds",
                 "--from-literal=aws_access_key_id=AKIAEXAMPLE")  # fmt: skip
    loop.kubectl("-n", "loop-audit", "apply", "-f", "-", stdin=_privileged_pod("priv-1"))
    loop.kubectl("create", "clusterrolebinding", "oops", "--clusterrole=cluster-admin",
                 "--user=mallory")  # fmt: skip
    cm = loop.wait_alert(
        "Create/Modify Configmap With Private Credentials",
        **{"ka.req.configmap.name": "app-creds", "ka.verb": "create"},
    )
    assert cm["source"] == "k8s_audit" and cm["output_fields"]["ka.user.name"] == "admin"
    priv = loop.wait_alert("Create Privileged Pod", **{"ka.target.namespace": "loop-audit"})
    assert priv["output_fields"]["ka.resp.name"] == "priv-1"
    assert priv["output_fields"][NODE_FIELD] == NODE
    crb = loop.wait_alert("Attach to cluster-admin Role", **{"ka.user.name": "admin"})
    assert "mallory" in crb["output_fields"]["ka.req.binding.subjects"][0]
    # a request without the webhook's token is refused (the API server's carry it)
    tls = ssl.create_default_context(cafile=str(kube.dir / "ca.crt"))
    wrong = httpx.post(kube.audit.url, verify=tls, json={"kind": "EventList", "items": []},
                       headers={"Authorization": "Bearer wrong"})  # fmt: skip
    assert wrong.status_code == 401


def test_privileged_pod_is_isolated_through_sidekick_and_respond(loop: Loop) -> None:
    loop.kubectl("-n", "loop-http", "apply", "-f", "-", stdin=_privileged_pod("miner"))
    loop.wait_alert("Create Privileged Pod", **{"ka.target.namespace": "loop-http"})
    net = client.NetworkingV1Api(loop.api)
    try:
        policy = wait_until(
            lambda: _read(net.read_namespaced_network_policy, "lanner-isolate-miner", "loop-http"),
            60, "NetworkPolicy lanner-isolate-miner",
        )  # fmt: skip
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{loop.diagnostics()}") from None
    # the one pod, through a label of its own (issue 24), not every pod labelled app=miner
    core = client.CoreV1Api(loop.api)
    uid = core.read_namespaced_pod("miner", "loop-http").metadata.uid
    assert policy.spec.pod_selector.match_labels == {"lanner.dev/quarantine": uid}
    assert sorted(policy.spec.policy_types) == ["Egress", "Ingress"]
    assert [p.port for rule in policy.spec.egress for p in rule.ports] == [53, 53]
    assert not policy.spec.ingress
    pod = wait_until(
        lambda: (p := core.read_namespaced_pod("miner", "loop-http")).metadata.labels.get(
            "lanner.dev/flagged") and p, 30, "the pod's label",
    )  # fmt: skip
    assert pod.metadata.labels["lanner.dev/flagged"] == "Create_Privileged_Pod"
    records = [json.loads(x) for x in (loop.tmp / "respond-http.jsonl").read_text().splitlines()]
    assert [r["action"] for r in records if r["result"] == "ok"][:2] == [
        "kubernetes:isolate",
        "kubernetes:label",
    ], records


def test_privileged_pod_is_deleted_and_its_node_tainted_through_nats(loop: Loop) -> None:
    loop.kubectl("-n", "loop-nats", "apply", "-f", "-", stdin=_privileged_pod("backdoor"))
    loop.wait_alert("Create Privileged Pod", **{"ka.target.namespace": "loop-nats"})
    core = client.CoreV1Api(loop.api)
    try:
        wait_until(lambda: _read(core.read_namespaced_pod, "backdoor", "loop-nats") is False,
                   60, "the pod deleted")  # fmt: skip
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{loop.diagnostics()}") from None
    node = core.read_node(NODE)
    taints = [(t.key, t.value, t.effect) for t in node.spec.taints or []]
    assert ("lanner.dev/compromised", "true", "NoSchedule") in taints
    # the HTTP responder saw the same alert and left it alone (another namespace)
    assert _read(client.NetworkingV1Api(loop.api).read_namespaced_network_policy,
                 "lanner-isolate-backdoor", "loop-nats") is False  # fmt: skip


def _read(fn: Any, name: str, ns: str) -> Any:
    """The object, or False when the API server answers 404."""
    try:
        return fn(name, ns)
    except client.exceptions.ApiException as exc:
        if exc.status == 404:
            return False
        raise


def test_respond_without_the_permission_fails_with_the_api_servers_reason(
    loop: Loop, kube: apiserver.APIServer
) -> None:
    """The same alert replayed by ``lanner respond`` under a token with no bindings: the
    real API server refuses, and the audit trail says what was refused and why."""
    alert = loop.wait_alert("Create Privileged Pod", **{"ka.target.namespace": "loop-audit"})
    alerts = loop.tmp / "replay.jsonl"
    alerts.write_text(json.dumps(alert) + "\n")
    rules = [{**HTTP_RULES[0], "match": {"rules": ["Create Privileged Pod"]}}]
    (loop.tmp / "nobody-rules.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
    trail = loop.tmp / "respond-nobody.jsonl"
    out = lanner("respond", "-r", str(loop.tmp / "nobody-rules.yaml"), "--kubeconfig",
                 str(kube.kubeconfig("nobody")), "--replay", str(alerts), "--retries", "0",
                 "--audit-log", str(trail))  # fmt: skip
    records = [json.loads(x) for x in trail.read_text().splitlines()]
    assert records and records[0]["action"] == "kubernetes:isolate", (out.stderr, records)
    assert records[0]["result"] == "failed"
    assert "HTTP 403" in records[0]["detail"] and "forbidden" in records[0]["detail"].lower()
    assert 'User "nobody" cannot get resource "pods"' in records[0]["detail"], records[0]
    # the failed action skips the rule's next one
    assert [(r["action"], r["result"]) for r in records[1:]] == [("kubernetes:label", "skipped")]
    net = client.NetworkingV1Api(loop.api)
    assert _read(net.read_namespaced_network_policy, "lanner-isolate-priv-1", "loop-audit") is False


def test_the_other_actions_on_real_objects_with_the_rbac_respond_prints(
    loop: Loop, kube: apiserver.APIServer
) -> None:
    """annotate, cordon, scale-to-zero and exec, from a real alert about a Deployment's
    privileged pod, replayed by ``lanner respond`` under a token bound to what
    ``lanner respond --rbac`` prints for these rules; exec is refused cleanly (no kubelet)."""
    spec = {"containers": [{"name": "shop", "image": "nginx:1.25",
                            "securityContext": {"privileged": True}}]}  # fmt: skip
    kube_objects.namespace(loop.api, "loop-actions")
    pod = kube_objects.deployed_pod(loop.api, "loop-actions", "shop", NODE, "10.244.7.7", spec)
    alert = loop.wait_alert("Create Privileged Pod", **{"ka.target.namespace": "loop-actions"})
    assert alert["output_fields"]["ka.resp.name"] == pod.name
    rules = [{
        "rule": "Contain a privileged workload",
        "match": {"rules": ["Create Privileged Pod"]},
        "actions": [
            {"action": "kubernetes:annotate",
             "parameters": {**TARGET, "annotations": {"lanner.dev/alert": "${rule}"}}},
            {"action": "kubernetes:cordon", "parameters": {"node_field": NODE_FIELD}},
            {"action": "kubernetes:scale-to-zero", "parameters": TARGET},
            {"action": "kubernetes:exec", "parameters": {**TARGET, "command": ["true"]}},
        ],
    }]  # fmt: skip
    rules_file = loop.tmp / "actions-rules.yaml"
    rules_file.write_text(yaml.safe_dump(rules, sort_keys=False))
    rbac = lanner("respond", "-r", str(rules_file), "--rbac", "--rbac-namespace", "loop-actions")
    assert rbac.returncode == 0, rbac.stderr
    docs = [d for d in yaml.safe_load_all(rbac.stdout) if d]
    for d in docs:
        d["metadata"]["name"] = "actions-respond"
        if d["kind"] == "ClusterRoleBinding":
            d["roleRef"]["name"] = "actions-respond"
            d["subjects"] = [{"kind": "User", "name": "respond",
                              "apiGroup": "rbac.authorization.k8s.io"}]  # fmt: skip
    loop.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(docs))
    (loop.tmp / "actions-alert.jsonl").write_text(json.dumps(alert) + "\n")
    trail = loop.tmp / "respond-actions.jsonl"
    out = lanner("respond", "-r", str(rules_file), "--kubeconfig", str(kube.kubeconfig("respond")),
                 "--replay", str(loop.tmp / "actions-alert.jsonl"), "--retries", "0",
                 "--audit-log", str(trail), timeout=120)  # fmt: skip
    records = {r["action"]: r for r in map(json.loads, trail.read_text().splitlines())}
    results = {a: r["result"] for a, r in records.items()}
    assert results == {"kubernetes:annotate": "ok", "kubernetes:cordon": "ok",
                       "kubernetes:scale-to-zero": "ok", "kubernetes:exec": "failed"}, (
        out.stderr, records)  # fmt: skip
    core, apps = client.CoreV1Api(loop.api), client.AppsV1Api(loop.api)
    stored = core.read_namespaced_pod(pod.name, "loop-actions")
    assert stored.metadata.annotations["lanner.dev/alert"] == "Create Privileged Pod"
    assert core.read_node(NODE).spec.unschedulable is True
    dep = apps.read_namespaced_deployment("shop", "loop-actions")
    assert dep.spec.replicas == 0
    assert dep.metadata.annotations["lanner.dev/replicas-before-response"] == "1"
    # RBAC let the exec through; the API server has no kubelet address to reach
    detail = records["kubernetes:exec"]["detail"]
    assert pod.name in detail and "no preferred addresses found" in detail, detail
