"""The upstream k8s_audit_rules.yaml against audit events built here: who fires, with what text."""

from __future__ import annotations

from typing import Any

import pytest
from k8s_audit_testutil import K8S_RULES, TS_NS, Harness, audit_event, pod, pod_create

from lanner.engine.engine import Engine
from lanner.sources.k8s_audit import k8s_audit_source, parse_payload

REASON = 'RBAC: allowed by ClusterRoleBinding "cluster-admin"'
OK = f"resp=200 decision=allow reason={REASON}"


@pytest.fixture(scope="module")
def harness() -> Harness:
    return Harness()


def priv(image: str, name: str = "c") -> dict[str, Any]:
    return {"name": name, "image": image, "securityContext": {"privileged": True}}


def role(kind: str, name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "kind": kind,
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "metadata": {"name": name},
        "rules": rules,
    }


def binding(kind: str, name: str, role_name: str, subjects: list[dict[str, Any]]) -> dict:
    return {
        "kind": kind,
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "metadata": {"name": name},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": role_name,
        },
        "subjects": subjects,
    }


USER_BOB = {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "bob"}
POD_READER = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
POD_READER_TEXT = '{"apiGroups":[""],"resources":["pods"],"verbs":["get","list"]}'

# (rule, event, expected message)
POSITIVE: list[tuple[str, dict[str, Any], str]] = [
    (
        "Disallowed K8s User",
        audit_event("get", "pods", "web", user="mallory"),
        "K8s Operation performed by user not in allowed list of users (user=mallory "
        "target=web/pods verb=get uri=/api/v1/namespaces/default/pods/web resp=200)",
    ),
    (
        "Create Privileged Pod",
        pod_create(pod(containers=[priv("docker.io/evil/miner:2.1")])),
        "Pod started with privileged container (user=minikube pod=web resource=pods ns=default "
        "images=(docker.io/evil/miner:2.1) init_images=<NA> ephemeral_images=<NA>)",
    ),
    (
        "Create Sensitive Mount Pod",
        pod_create(pod(volumes=[{"name": "sock", "hostPath": {"path": "/var/run/docker.sock"}}])),
        "Pod started with sensitive mount (user=minikube pod=web ns=default resource=pods "
        'images=(nginx:1.27) volumes=[{"name":"sock","hostPath":{"path":"/var/run/docker.sock"}}])',
    ),
    (
        "Create HostNetwork Pod",
        pod_create(pod(hostNetwork=True)),
        "Pod started using host network (user=minikube pod=web resource=pods ns=default "
        "images=(nginx:1.27))",
    ),
    (
        "Create HostPid Pod",
        pod_create(pod(hostPID=True)),
        "Pod started using host pid namespace (user=minikube pod=web resource=pods ns=default "
        "images=(nginx:1.27))",
    ),
    (
        "Create HostIPC Pod",
        pod_create(pod(hostIPC=True)),
        "Pod started using host ipc namespace (user=minikube pod=web resource=pods ns=default "
        "images=(nginx:1.27))",
    ),
    (
        "Create NodePort Service",
        audit_event(
            "create",
            "services",
            "web",
            code=201,
            request_object={
                "kind": "Service",
                "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]},
            },
        ),
        "NodePort Service Created (user=minikube service=web resource=services ns=default "
        'ports=({"port":80,"nodePort":30080}))',
    ),
    (
        "Create/Modify Configmap With Private Credentials",
        audit_event(
            "update",
            "configmaps",
            "app-config",
            request_object={"kind": "ConfigMap", "data": {"aws_access_key_id": "AKIAXXXX"}},
        ),
        "K8s configmap with private credential (user=minikube verb=update resource=configmaps "
        "configmap=app-config)",
    ),
    (
        "Anonymous Request Allowed",
        audit_event("get", "secrets", "db", user="system:anonymous", reason=""),
        "Request by anonymous user allowed (user=system:anonymous verb=get "
        "uri=/api/v1/namespaces/default/secrets/db reason=))",
    ),
    (
        "Attach/Exec Pod",
        audit_event(
            "create",
            "pods",
            "web",
            subresource="exec",
            stage="ResponseStarted",
            code=101,
            query="command=sh&command=-c&command=id&container=web&stdin=true&tty=true",
        ),
        "Attach/Exec to pod (user=minikube pod=web resource=pods ns=default action=exec "
        "command=sh)",
    ),
    (
        "port-forward",
        audit_event("create", "pods", "web", subresource="portforward", stage="ResponseStarted"),
        "Portforward to pod (user=minikube pod=web ns=default action=portforward )",
    ),
    (
        "EphemeralContainers Created",
        audit_event(
            "update",
            "pods",
            "web",
            subresource="ephemeralcontainers",
            request_object={
                "kind": "EphemeralContainers",
                "metadata": {"name": "web"},
                "ephemeralContainers": [{"name": "debugger", "image": "busybox:1.36"}],
            },
        ),
        "Ephemeral container is created in pod (user=minikube pod=web resource=pods ns=default "
        "ephemeral_container_name=debugger ephemeral_container_image=busybox:1.36)",
    ),
    (
        "Create Disallowed Namespace",
        audit_event("create", "namespaces", "crypto", code=201),
        "Disallowed namespace created (user=minikube ns=crypto resource=namespaces)",
    ),
    (
        "Pod Created in Kube Namespace",
        pod_create(pod(), namespace="kube-system"),
        "Pod created in kube namespace (user=minikube pod=web resource=pods ns=kube-system "
        "images=(nginx:1.27))",
    ),
    (
        "Service Account Created in Kube Namespace",
        audit_event("create", "serviceaccounts", "sneaky", namespace="kube-public", code=201),
        "Service account created in kube namespace (user=minikube serviceaccount=sneaky "
        "resource=serviceaccounts ns=kube-public)",
    ),
    (
        "System ClusterRole Modified/Deleted",
        audit_event("delete", "clusterroles", "system:node"),
        "System ClusterRole/Role modified or deleted (user=minikube role=system:node "
        "resource=clusterroles ns=<NA> action=delete)",
    ),
    (
        "Attach to cluster-admin Role",
        audit_event(
            "create",
            "clusterrolebindings",
            "bob-admin",
            code=201,
            request_object=binding("ClusterRoleBinding", "bob-admin", "cluster-admin", [USER_BOB]),
        ),
        "Cluster Role Binding to cluster-admin role (user=minikube "
        'subject=({"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"bob"}))',
    ),
    (
        "ClusterRole With Wildcard Created",
        audit_event(
            "create",
            "clusterroles",
            "godmode",
            code=201,
            request_object=role(
                "ClusterRole", "godmode", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
            ),
        ),
        "Created Role/ClusterRole with wildcard (user=minikube role=godmode resource=clusterroles "
        'rules=({"apiGroups":["*"],"resources":["*"],"verbs":["*"]}))',
    ),
    (
        "ClusterRole With Write Privileges Created",
        audit_event(
            "create",
            "roles",
            "deployer",
            code=201,
            request_object=role(
                "Role",
                "deployer",
                [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"]}],
            ),
        ),
        "Created Role/ClusterRole with write privileges (user=minikube role=deployer "
        'resource=roles rules=({"apiGroups":["apps"],"resources":["deployments"],'
        '"verbs":["get","patch"]}))',
    ),
    (
        "ClusterRole With Pod Exec Created",
        audit_event(
            "create",
            "clusterroles",
            "exec-er",
            code=201,
            request_object=role(
                "ClusterRole",
                "exec-er",
                [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["get"]}],
            ),
        ),
        "Created Role/ClusterRole with pod exec privileges (user=minikube role=exec-er "
        'resource=clusterroles rules=({"apiGroups":[""],"resources":["pods/exec"],'
        '"verbs":["get"]}))',
    ),
    (
        "K8s Deployment Created",
        audit_event("create", "deployments", "api", code=201),
        "K8s Deployment Created (user=minikube deployment=api ns=default resource=deployments "
        f"{OK.replace('resp=200', 'resp=201')})",
    ),
    (
        "K8s Deployment Deleted",
        audit_event("delete", "deployments", "api"),
        "K8s Deployment Deleted (user=minikube deployment=api ns=default resource=deployments "
        f"{OK})",
    ),
    (
        "K8s Service Created",
        audit_event("create", "services", "api", code=201, request_object={"spec": {}}),
        "K8s Service Created (user=minikube service=api ns=default resource=services "
        f"{OK.replace('resp=200', 'resp=201')})",
    ),
    (
        "K8s Service Deleted",
        audit_event("delete", "services", "api"),
        f"K8s Service Deleted (user=minikube service=api ns=default resource=services {OK})",
    ),
    (
        "K8s ConfigMap Created",
        audit_event(
            "create", "configmaps", "settings", code=201, request_object={"data": {"color": "blue"}}
        ),
        "K8s ConfigMap Created (user=minikube configmap=settings ns=default resource=configmaps "
        f"{OK.replace('resp=200', 'resp=201')})",
    ),
    (
        "K8s ConfigMap Deleted",
        audit_event("delete", "configmaps", "settings"),
        "K8s ConfigMap Deleted (user=minikube configmap=settings ns=default resource=configmaps "
        f"{OK})",
    ),
    (
        "K8s Namespace Created",
        audit_event("create", "namespaces", "default", code=201),
        "K8s Namespace Created (user=minikube namespace=default resource=namespaces "
        f"{OK.replace('resp=200', 'resp=201')})",
    ),
    (
        "K8s Namespace Deleted",
        audit_event("delete", "namespaces", "team-a"),
        f"K8s Namespace Deleted (user=minikube namespace=team-a resource=namespaces {OK})",
    ),
    (
        "K8s Serviceaccount Created",
        audit_event("create", "serviceaccounts", "builder", code=201),
        "K8s Serviceaccount Created (user=minikube serviceaccount=builder ns=default "
        f"resource=serviceaccounts {OK.replace('resp=200', 'resp=201')})",
    ),
    (
        "K8s Serviceaccount Deleted",
        audit_event("delete", "serviceaccounts", "builder"),
        "K8s Serviceaccount Deleted (user=minikube serviceaccount=builder ns=default "
        f"resource=serviceaccounts {OK})",
    ),
    (
        "K8s Role Created",
        audit_event(
            "create", "roles", "reader", code=201, request_object=role("Role", "reader", POD_READER)
        ),
        "K8s Role Created (user=minikube role=reader ns=default resource=roles "
        f"rules=({POD_READER_TEXT}) {OK.replace('resp=200', 'resp=201')})",
    ),
    (
        "K8s Role Deleted",
        audit_event("delete", "roles", "reader"),
        f"K8s Role Deleted (user=minikube role=reader ns=default resource=roles {OK})",
    ),
    (
        "K8s ClusterRole Created",
        audit_event(
            "create",
            "clusterroles",
            "reader",
            code=201,
            request_object=role("ClusterRole", "reader", POD_READER),
        ),
        "K8s ClusterRole Created (user=minikube role=reader resource=clusterroles "
        f"rules=({POD_READER_TEXT}) {OK.replace('resp=200', 'resp=201')})",
    ),
    (
        "K8s ClusterRole Deleted",
        audit_event("delete", "clusterroles", "reader"),
        f"K8s ClusterRole Deleted (user=minikube role=reader resource=clusterroles {OK})",
    ),
    (
        "K8s RoleBinding Created",
        audit_event(
            "create",
            "rolebindings",
            "read-pods",
            code=201,
            request_object=binding("RoleBinding", "read-pods", "reader", [USER_BOB]),
        ),
        "K8s RoleBinding Created (user=minikube binding=read-pods ns=default "
        'resource=rolebindings subjects=({"kind":"User","apiGroup":"rbac.authorization.k8s.io",'
        f'"name":"bob"}}) role=reader {OK.replace("resp=200", "resp=201")})',
    ),
    (
        "K8s RoleBinding Deleted",
        audit_event("delete", "rolebindings", "read-pods"),
        "K8s RoleBinding Deleted (user=minikube binding=read-pods ns=default "
        f"resource=rolebindings {OK})",
    ),
    (
        "K8s ClusterRoleBinding Created",
        audit_event(
            "create",
            "clusterrolebindings",
            "read-all",
            code=201,
            request_object=binding(
                "ClusterRoleBinding", "read-all", "view", [{"kind": "Group", "name": "devs"}]
            ),
        ),
        "K8s ClusterRoleBinding Created (user=minikube binding=read-all "
        'resource=clusterrolebindings subjects=({"kind":"Group","name":"devs"}) role=view '
        f"{OK.replace('resp=200', 'resp=201')})",
    ),
    (
        "K8s ClusterRoleBinding Deleted",
        audit_event("delete", "clusterrolebindings", "read-all"),
        "K8s ClusterRoleBinding Deleted (user=minikube binding=read-all "
        f"resource=clusterrolebindings {OK})",
    ),
    (
        "K8s Secret Created",
        audit_event("create", "secrets", "db-pass", code=201),
        "K8s Secret Created (user=minikube secret=db-pass ns=default resource=secrets "
        f"{OK.replace('resp=200', 'resp=201')})",
    ),
    (
        "K8s Secret Deleted",
        audit_event("delete", "secrets", "db-pass"),
        f"K8s Secret Deleted (user=minikube secret=db-pass ns=default resource=secrets {OK})",
    ),
    (
        "K8s Secret Get Successfully",
        audit_event("get", "secrets", "db-pass", namespace="prod"),
        f"K8s Secret Get Successfully (user=minikube secret=db-pass ns=prod resource=secrets {OK})",
    ),
    (
        "K8s Secret Get Unsuccessfully Tried",
        audit_event(
            "get",
            "secrets",
            "db-pass",
            code=403,
            status_reason="Forbidden",
            decision="forbid",
            reason="",
        ),
        "K8s Secret Get Unsuccessfully Tried (user=minikube secret=db-pass ns=default "
        "resource=secrets resp=403 decision=forbid reason=)",
    ),
    (
        "Ingress Object without TLS Certificate Created",
        audit_event(
            "create",
            "ingresses",
            "shop",
            code=201,
            request_object={"kind": "Ingress", "spec": {"rules": []}},
        ),
        "K8s Ingress Without TLS Cert Created (user=minikube ingress=shop namespace=default "
        "resource=ingresses)",
    ),
]


@pytest.mark.parametrize(("rule", "event", "message"), POSITIVE, ids=[c[0] for c in POSITIVE])
def test_rule_fires_with_its_output(
    harness: Harness, rule: str, event: dict[str, Any], message: str
) -> None:
    fired = harness.fired(event)
    assert rule in fired, sorted(fired)
    assert fired[rule] == message


def test_at_least_thirty_rules_are_covered() -> None:
    assert len({rule for rule, _e, _m in POSITIVE}) >= 30


# (rule, event): the rule must stay quiet
NEGATIVE: list[tuple[str, dict[str, Any]]] = [
    ("Disallowed K8s User", audit_event("get", "pods", "web", user="kubelet")),
    ("Disallowed K8s User", audit_event("get", "pods", "web", user="system:kube-scheduler")),
    ("Disallowed K8s User", audit_event("get", "pods", "web", user="eks:node-manager")),
    (
        "Disallowed K8s User",
        audit_event("get", "pods", "web", user="mallory", stage="RequestReceived"),
    ),
    ("Create Privileged Pod", pod_create(pod())),
    (
        "Create Privileged Pod",
        pod_create(pod(containers=[priv("docker.io/falcosecurity/falco:0.39.0")])),
    ),
    (
        "Create Privileged Pod",
        pod_create(
            pod(
                containers=[
                    {"name": "c", "image": "nginx", "securityContext": {"privileged": False}}
                ]
            )
        ),
    ),
    (
        "Create Sensitive Mount Pod",
        pod_create(pod(volumes=[{"name": "data", "hostPath": {"path": "/srv/data"}}])),
    ),
    (
        "Create Sensitive Mount Pod",
        pod_create(
            pod(
                containers=[{"name": "n", "image": "prom/node-exporter:v1"}],
                volumes=[{"name": "proc", "hostPath": {"path": "/proc"}}],
            )
        ),
    ),
    ("Create HostNetwork Pod", pod_create(pod(hostNetwork=False))),
    (
        "Create HostNetwork Pod",
        pod_create(
            pod(
                containers=[{"name": "p", "image": "registry.k8s.io/prometheus-to-sd:v1"}],
                hostNetwork=True,
            )
        ),
    ),
    ("Create HostPid Pod", pod_create(pod())),
    ("Create HostIPC Pod", pod_create(pod(hostIPC=False))),
    (
        "Create NodePort Service",
        audit_event("create", "services", "web", request_object={"spec": {"type": "ClusterIP"}}),
    ),
    (
        "Create/Modify Configmap With Private Credentials",
        audit_event("create", "configmaps", "c", request_object={"data": {"color": "blue"}}),
    ),
    (
        "Create/Modify Configmap With Private Credentials",
        audit_event("get", "configmaps", "c", response_object={"data": {"password": "x"}}),
    ),
    (
        "Anonymous Request Allowed",
        audit_event("get", "pods", "web", user="system:anonymous", decision="forbid"),
    ),
    (
        "Anonymous Request Allowed",
        audit_event("get", "pods", None, user="system:anonymous", requestURI="/healthz?verbose"),
    ),
    ("Attach/Exec Pod", audit_event("create", "pods", "web", subresource="exec")),
    (
        "Attach/Exec Pod",
        audit_event("get", "pods", "web", subresource="log", stage="ResponseStarted"),
    ),
    ("port-forward", audit_event("create", "pods", "web", subresource="exec")),
    ("Create Disallowed Namespace", audit_event("create", "namespaces", "kube-public")),
    ("Pod Created in Kube Namespace", pod_create(pod(), namespace="team-a")),
    (
        "Pod Created in Kube Namespace",
        pod_create(
            pod(containers=[{"name": "k", "image": "gke.gcr.io/kube-proxy:v1.30"}]),
            namespace="kube-system",
        ),
    ),
    (
        "Service Account Created in Kube Namespace",
        audit_event("create", "serviceaccounts", "coredns", namespace="kube-system"),
    ),
    (
        "System ClusterRole Modified/Deleted",
        audit_event("delete", "clusterroles", "system:coredns"),
    ),
    ("System ClusterRole Modified/Deleted", audit_event("get", "clusterroles", "system:node")),
    (
        "Attach to cluster-admin Role",
        audit_event(
            "create",
            "clusterrolebindings",
            "b",
            request_object=binding("ClusterRoleBinding", "b", "view", [USER_BOB]),
        ),
    ),
    (
        "ClusterRole With Wildcard Created",
        audit_event(
            "create",
            "clusterroles",
            "reader",
            request_object=role("ClusterRole", "reader", POD_READER),
        ),
    ),
    (
        "ClusterRole With Write Privileges Created",
        audit_event(
            "create",
            "clusterroles",
            "reader",
            request_object=role("ClusterRole", "reader", POD_READER),
        ),
    ),
    (
        "ClusterRole With Pod Exec Created",
        audit_event(
            "create",
            "clusterroles",
            "reader",
            request_object=role("ClusterRole", "reader", POD_READER),
        ),
    ),
    ("K8s Deployment Created", audit_event("create", "deployments", "api", code=409)),
    (
        "K8s Namespace Deleted",
        audit_event("delete", "namespaces", "x", user="system:serviceaccount:kube-system:ns-ctl"),
    ),
    ("K8s Secret Created", audit_event("create", "secrets", "tok", namespace="kube-system")),
    ("K8s Secret Get Successfully", audit_event("get", "secrets", "db", code=404)),
    ("K8s Secret Get Unsuccessfully Tried", audit_event("get", "secrets", "db")),
    (
        "Ingress Object without TLS Certificate Created",
        audit_event(
            "create",
            "ingresses",
            "shop",
            code=201,
            request_object={"spec": {"tls": [{"hosts": ["shop.example"]}]}},
        ),
    ),
    ("Create Disallowed Pod", pod_create(pod(containers=[{"name": "x", "image": "evil/x"}]))),
    ("All K8s Audit Events", audit_event("get", "pods", "web")),
    ("Full K8s Administrative Access", audit_event("get", "pods", "web", user="admin")),
    ("Untrusted Node Successfully Joined the Cluster", audit_event("create", "nodes", "n1")),
]


@pytest.mark.parametrize(
    ("rule", "event"), NEGATIVE, ids=[f"{r}-{i}" for i, (r, _e) in enumerate(NEGATIVE)]
)
def test_rule_stays_quiet(harness: Harness, rule: str, event: dict[str, Any]) -> None:
    assert rule not in harness.fired(event)


def test_privileged_init_and_ephemeral_containers(harness: Harness) -> None:
    ev = pod_create(
        pod(
            init_containers=[priv("busybox:1.36", "init")],
            ephemeral_containers=[{"name": "dbg", "image": "alpine:3"}],
        )
    )
    assert harness.fired(ev)["Create Privileged Pod"] == (
        "Pod started with privileged container (user=minikube pod=web resource=pods ns=default "
        "images=(nginx:1.27) init_images=(busybox:1.36) ephemeral_images=(alpine:3))"
    )


def test_first_match_only_by_default() -> None:
    first = Harness(match_all=False)
    alerts = first.alerts(audit_event("get", "secrets", "db", user="mallory"))
    assert [a.rule for a in alerts] == ["Disallowed K8s User"]
    assert alerts[0].time_ns == TS_NS
    assert alerts[0].priority.label == "Warning"
    assert alerts[0].source == "k8s_audit"


def test_alert_json_has_the_output_fields(harness: Harness) -> None:
    import orjson

    alert = next(
        a
        for a in harness.alerts(audit_event("delete", "secrets", "s"))
        if a.rule == "K8s Secret Deleted"
    )
    doc = orjson.loads(alert.to_json())
    assert doc["rule"] == "K8s Secret Deleted"
    assert doc["priority"] == "Informational"
    assert doc["source"] == "k8s_audit"
    assert doc["time"] == "2026-11-25T10:00:00.123456789Z"
    assert doc["output_fields"]["ka.target.name"] == "s"
    assert doc["output_fields"]["ka.response.code"] == "200"
    assert doc["output_fields"]["ka.user.name"] == "minikube"


OVERRIDES = """
- macro: allowed_k8s_containers
  condition: (ka.req.pod.containers.image.repository in (nginx, docker.io/library/nginx))
- macro: consider_all_events
  condition: (k8s_audit_always_true)
- macro: allowed_full_admin_users
  condition: (k8s_audit_never_true)
- macro: allow_all_k8s_nodes
  condition: (k8s_audit_never_true)
- list: allowed_k8s_nodes
  items: [node-1]
"""


@pytest.fixture(scope="module")
def customised() -> Engine:
    engine = Engine([k8s_audit_source()], hostname="test-host")
    outcome = engine.load_rules([K8S_RULES], contents=[("local_rules.yaml", OVERRIDES)])
    assert outcome.successful
    engine.ruleset.match_all = True
    return engine


def fired_with(engine: Engine, event: dict[str, Any]) -> dict[str, str]:
    ev = parse_payload(event).events[0]
    return {a.rule: a.message for a in engine.process(ev, "k8s_audit")}


def test_rules_switched_on_by_local_overrides(customised: Engine) -> None:
    evil = pod_create(pod(containers=[{"name": "x", "image": "evil/miner:1"}]))
    assert fired_with(customised, evil)["Create Disallowed Pod"] == (
        "Pod started with container not in allowed list (user=minikube pod=web ns=default "
        "images=(evil/miner:1))"
    )
    assert "Create Disallowed Pod" not in fired_with(customised, pod_create(pod()))

    got = fired_with(customised, audit_event("get", "pods", "web", user="admin"))
    assert got["Full K8s Administrative Access"] == (
        "K8s Operation performed by full admin user (user=admin target=web/pods verb=get "
        "uri=/api/v1/namespaces/default/pods/web resp=200)"
    )
    assert got["All K8s Audit Events"].startswith(
        "K8s Audit Event received (user=admin verb=get uri=/api/v1/namespaces/default/pods/web "
        'obj={\n  "kind": "Event",\n  "apiVersion": "audit.k8s.io/v1",'
    )

    joined = fired_with(customised, audit_event("create", "nodes", "rogue", code=201))
    assert joined["Untrusted Node Successfully Joined the Cluster"] == (
        "Node not in allowed list successfully joined the cluster (user=minikube node=rogue "
        "resource=nodes)"
    )
    refused = fired_with(
        customised,
        audit_event("create", "nodes", "rogue", code=403, status_reason="Forbidden"),
    )
    assert refused["Untrusted Node Unsuccessfully Tried to Join the Cluster"] == (
        "Node not in allowed list tried unsuccessfully to join the cluster  (user=minikube "
        "node=rogue reason=Forbidden resource=nodes)"
    )
    trusted = fired_with(customised, audit_event("create", "nodes", "node-1", code=201))
    assert "Untrusted Node Successfully Joined the Cluster" not in trusted
