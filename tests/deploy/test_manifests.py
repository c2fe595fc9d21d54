"""deploy/kubernetes: the overlays (generated from the Helm chart) render, every object
validates against Kubernetes' schema, and the manifests agree with what Lanner's code does
(ports, paths, RBAC, capabilities)."""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from lanner.app.config import load_config
from lanner.sources.syscall.containers.cri.client import CRI_SOCKETS
from lanner.sources.syscall.containers.docker import DEFAULT_SOCKET

from .helpers import (
    DOCS,
    K8S_VERSION,
    KUBE,
    KUSTOMIZATIONS,
    OVERLAYS,
    WORKLOADS,
    configmap_file,
    container,
    env_of,
    find,
    lanner,
    pod_spec,
    rendered,
    tool,
)
from .kustomize import KustomizeError, json_patch, key, render

ENGINE_CAPS = {"BPF", "PERFMON", "SYS_RESOURCE", "SYS_PTRACE", "DAC_READ_SEARCH"}


@pytest.fixture(scope="module", autouse=True)
def _schemas_read_once() -> Iterator[None]:
    """kubernetes-validate parses its 2 MB definitions file for every object: keep it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            kubernetes_validate.utils,
            "schema_contents",
            functools.cache(kubernetes_validate.utils.schema_contents),
        )
        yield


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_every_object_validates_against_the_kubernetes_schema(name: str) -> None:
    objs = rendered(name)
    assert objs
    for obj in objs:
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{name}: {key(obj)} at {where}: {exc.message}")


def test_the_schema_check_is_real() -> None:
    """A misspelt field or a wrong type in any workload is refused (strict mode)."""
    for obj in rendered("overlays/full"):
        if obj["kind"] not in WORKLOADS:
            continue
        container(obj)["imagePullPolicie"] = "Always"
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        del container(obj)["imagePullPolicie"]
        container(obj)["ports"][0]["containerPort"] = "http"
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def _kubectl_kustomize(path: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        [tool("kubectl"), "kustomize", str(path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


@pytest.mark.parametrize("name", KUSTOMIZATIONS)
def test_renderer_agrees_with_kubectl_kustomize(name: str) -> None:
    ours = {key(o): o for o in rendered(name)}
    theirs = {key(o): o for o in _kubectl_kustomize(KUBE / name)}
    assert ours.keys() == theirs.keys()
    for k, obj in ours.items():
        assert obj == theirs[k], k


def test_renderer_refuses_what_it_does_not_implement(tmp_path: Path) -> None:
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    k = tmp_path / "kustomization.yaml"
    k.write_text("resources: [cm.yaml]\nconfigMapGenerator: [{name: b, literals: [x=y]}]\n")
    with pytest.raises(KustomizeError, match="unsupported keys"):
        render(tmp_path)
    k.write_text("resources: [cm.yaml]\npatches: [{target: {kind: ConfigMap}, path: ../p.yaml}]\n")
    (tmp_path.parent / "p.yaml").write_text("[]\n")
    with pytest.raises(KustomizeError, match="load restrictor"):
        render(tmp_path)
    k.write_text("resources: [cm.yaml]\npatches: [{target: {kind: Secret}, patch: '[]'}]\n")
    with pytest.raises(KustomizeError, match="matches nothing"):
        render(tmp_path)


def test_json_patch_follows_rfc_6902() -> None:
    doc = {"a": {"b": [1, 2]}, "c": 1}
    assert json_patch(doc, [{"op": "add", "path": "/a/b/-", "value": 3}])["a"]["b"] == [1, 2, 3]
    assert json_patch(doc, [{"op": "add", "path": "/a/b/0", "value": 0}])["a"]["b"] == [0, 1, 2]
    assert json_patch(doc, [{"op": "replace", "path": "/a/b/1", "value": 9}])["a"]["b"] == [1, 9]
    assert json_patch(doc, [{"op": "remove", "path": "/c"}]) == {"a": {"b": [1, 2]}}
    assert doc == {"a": {"b": [1, 2]}, "c": 1}  # the input is untouched
    for bad in (
        {"op": "replace", "path": "/a/x", "value": 1},
        {"op": "replace", "path": "/a/b/2", "value": 1},
        {"op": "add", "path": "/x/y", "value": 1},
        {"op": "test", "path": "/c", "value": 2},
        {"op": "move", "from": "/c", "path": "/d"},
    ):
        with pytest.raises(KustomizeError):
            json_patch(doc, [bad])


def test_overlays_hold_what_they_promise() -> None:
    kinds = {
        o: {(r["kind"], r["metadata"]["name"]) for r in rendered(f"overlays/{o}")} for o in OVERLAYS
    }
    core = {("DaemonSet", "lanner"), ("Deployment", "lanner-sidekick")}
    ui_respond = {("Deployment", "lanner-ui"), ("Deployment", "lanner-respond")}
    assert core <= kinds["minimal"] and not ui_respond & kinds["minimal"]
    assert core | ui_respond | {("PersistentVolumeClaim", "lanner-ui-data")} <= kinds["standard"]
    assert ("StatefulSet", "lanner-postgres") in kinds["full"]
    assert ("PersistentVolumeClaim", "lanner-ui-data") not in kinds["full"]

    standard_ui = find(rendered("overlays/standard"), "Deployment", "lanner-ui")
    data = next(v for v in pod_spec(standard_ui)["volumes"] if v["name"] == "data")
    assert data["persistentVolumeClaim"]["claimName"] == "lanner-ui-data"
    assert standard_ui["spec"]["replicas"] == 1
    assert standard_ui["spec"]["strategy"]["type"] == "Recreate"

    full_ui = find(rendered("overlays/full"), "Deployment", "lanner-ui")
    assert full_ui["spec"]["replicas"] == 2
    names = [e["name"] for e in container(full_ui)["env"]]
    # Kubernetes expands $(VAR) only from variables defined before
    assert names.index("LANNER_UI_DB_PASSWORD") < names.index("LANNER_UI_DB")
    db = env_of(container(full_ui))["LANNER_UI_DB"]
    assert db.startswith("postgresql://lanner:$(LANNER_UI_DB_PASSWORD)@lanner-postgres.lanner.svc")
    postgres = find(rendered("overlays/full"), "StatefulSet", "lanner-postgres")
    assert env_of(container(postgres))["POSTGRES_USER"] in db

    for overlay in ("standard", "full"):
        sidekick = env_of(
            container(find(rendered(f"overlays/{overlay}"), "Deployment", "lanner-sidekick"))
        )
        assert sidekick["LANNERUI_ADDRESS"] == "http://lanner-ui.lanner.svc:2802"
        assert sidekick["LANNERRESPOND_ADDRESS"] == "http://lanner-respond.lanner.svc:2804"


def test_engine_runs_with_least_privilege() -> None:
    objs = rendered("overlays/minimal")
    ds = find(objs, "DaemonSet", "lanner")
    spec, c = pod_spec(ds), container(ds)
    sc = c["securityContext"]
    assert spec["hostPID"] is True
    assert not spec.get("hostNetwork") and not spec.get("hostIPC")
    assert sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert set(sc["capabilities"]["add"]) == ENGINE_CAPS
    assert spec["automountServiceAccountToken"] is False
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    for path, mount in mounts.items():
        if "hostPath" in volumes[mount["name"]]:
            assert mount.get("readOnly") is True, path
            assert volumes[mount["name"]]["hostPath"]["path"] == path
    # the BTF that CO-RE relocations and the loader's check read
    assert "/sys/kernel/btf" in mounts
    # every runtime socket Lanner asks, at the path the code looks at
    for sock in (*CRI_SOCKETS, DEFAULT_SOCKET):
        assert sock in mounts, sock
    assert {"/etc/lanner/config", "/etc/lanner/rules.d"} <= mounts.keys()
    assert c["args"] == ["run", "-c", "/etc/lanner/config/lanner.yaml"]
    assert env_of(c)["LANNER_HOSTNAME"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    for kind in ("Deployment", "StatefulSet"):
        for obj in rendered("overlays/full"):
            if obj["kind"] == kind:
                psc = pod_spec(obj)["securityContext"]
                assert psc["runAsNonRoot"] is True and psc["runAsUser"] != 0
                assert container(obj)["securityContext"]["capabilities"]["drop"] == ["ALL"]
                assert container(obj)["securityContext"]["readOnlyRootFilesystem"] is True


def test_engine_configuration_loads_without_warnings(tmp_path: Path) -> None:
    text = configmap_file(rendered("overlays/minimal"), "lanner-config", "lanner.yaml")
    (tmp_path / "lanner.yaml").write_text(text)
    cfg = load_config(tmp_path / "lanner.yaml")
    assert cfg.warnings == []
    assert "k8saudit" in cfg.string_list("load_plugins")
    assert cfg.boolean("webserver.enabled") and cfg.integer("webserver.listen_port") == 8765
    assert cfg.get("http_output.url") == "http://lanner-sidekick.lanner.svc:2801/"
    assert cfg.string_list("rules_files")[-1] == "/etc/lanner/rules.d"


def test_audit_webhook_service_port_and_path_agree_everywhere() -> None:
    objs = rendered("overlays/minimal")
    svc = find(objs, "Service", "lanner-k8s-audit")
    (port,) = svc["spec"]["ports"]
    assert port["port"] == 9765
    c = container(find(objs, "DaemonSet", "lanner"))
    target = next(p for p in c["ports"] if p["name"] == port["targetPort"])
    cfg = yaml.safe_load(configmap_file(objs, "lanner-config", "lanner.yaml"))
    (plugin,) = [p for p in cfg["plugins"] if p["name"] == "k8saudit"]
    assert plugin["open_params"] == f"http://0.0.0.0:{target['containerPort']}/k8s-audit"
    assert target["containerPort"] == 9765
    kubeconfig = yaml.safe_load((KUBE / "apiserver/audit-webhook-kubeconfig.yaml").read_text())
    server = kubeconfig["clusters"][0]["cluster"]["server"]
    assert server == "http://lanner-k8s-audit.lanner.svc:9765/k8s-audit"
    assert kubeconfig["current-context"] == kubeconfig["contexts"][0]["name"]


def test_engine_endpoints_bind_explicitly_and_take_their_tokens_from_a_secret() -> None:
    """Lanner's endpoints default to loopback: the pod must bind its interfaces on purpose
    (the kubelet probes and the API server connect to the pod's address), with tokens."""
    objs = rendered("overlays/minimal")
    cfg = yaml.safe_load(configmap_file(objs, "lanner-config", "lanner.yaml"))
    assert cfg["webserver"]["listen_address"] == "0.0.0.0"
    (plugin,) = [p for p in cfg["plugins"] if p["name"] == "k8saudit"]
    assert plugin["open_params"].startswith("http://0.0.0.0:")
    env = env_of(container(find(objs, "DaemonSet", "lanner")))
    for name, key_ in (("LANNER_WEBSERVER_TOKEN", "webserver-token"),
                       ("LANNER_K8SAUDIT_TOKEN", "k8saudit-token")):  # fmt: skip
        ref = env[name]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == ("lanner-engine-tokens", key_)
    # the probes use /healthz, which needs no token
    c = container(find(objs, "DaemonSet", "lanner"))
    assert c["livenessProbe"]["httpGet"]["path"] == cfg["webserver"]["k8s_healthz_endpoint"]
    guide = (DOCS / "getting-started.md").read_text()
    wanted = "create secret generic lanner-engine-tokens"
    line = next(ln for ln in guide.splitlines() if wanted in ln)
    assert "--from-literal=webserver-token=" in line and "--from-literal=k8saudit-token=" in line
    kubeconfig = yaml.safe_load((KUBE / "apiserver/audit-webhook-kubeconfig.yaml").read_text())
    assert kubeconfig["users"][0]["user"]["tokenFile"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_reach_pods_and_references_resolve(overlay: str) -> None:
    objs = rendered(overlay_path := f"overlays/{overlay}")
    workloads = [o for o in objs if o["kind"] in WORKLOADS]
    names = {(o["kind"], o["metadata"]["name"]) for o in objs}
    for svc in (o for o in objs if o["kind"] == "Service"):
        selector = svc["spec"]["selector"]
        backing = [
            w
            for w in workloads
            if selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert backing, f"{overlay_path}: Service {svc['metadata']['name']} selects no pod"
        for port in svc["spec"]["ports"]:
            for w in backing:
                ports = {p["name"]: p["containerPort"] for p in container(w)["ports"]}
                assert port["targetPort"] in ports or port["targetPort"] in ports.values()
    for w in workloads:
        spec = pod_spec(w)
        # selectors match their own template
        assert w["spec"]["selector"]["matchLabels"].items() <= (
            w["spec"]["template"]["metadata"]["labels"].items()
        )
        if "serviceAccountName" in spec:
            assert ("ServiceAccount", spec["serviceAccountName"]) in names
        for vol in spec.get("volumes") or []:
            if "configMap" in vol:
                assert ("ConfigMap", vol["configMap"]["name"]) in names
            if "persistentVolumeClaim" in vol:
                assert ("PersistentVolumeClaim", vol["persistentVolumeClaim"]["claimName"]) in names
        mounts = {m["name"] for c in spec["containers"] for m in c.get("volumeMounts") or []}
        declared = {v["name"] for v in spec.get("volumes") or []}
        declared |= {t["metadata"]["name"] for t in w["spec"].get("volumeClaimTemplates") or []}
        assert mounts <= declared


def _secret_refs(objs: list[dict[str, Any]]) -> set[tuple[str, str]]:
    refs = set()
    for w in (o for o in objs if o["kind"] in WORKLOADS):
        for c in pod_spec(w)["containers"]:
            for e in c.get("env") or []:
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref and not ref.get("optional"):
                    refs.add((ref["name"], ref["key"]))
    return refs


def test_the_secrets_the_overlays_need_are_created_in_the_docs() -> None:
    guide = (DOCS / "getting-started.md").read_text()
    assert _secret_refs(rendered("overlays/minimal")) == set()
    for overlay in ("standard", "full"):
        for name, secret_key in _secret_refs(rendered(f"overlays/{overlay}")):
            line = next(
                (ln for ln in guide.splitlines() if f"create secret generic {name}" in ln), ""
            )
            assert f"--from-literal={secret_key}=" in line, (overlay, name, secret_key)


def _policy_allows(policy: dict[str, Any], pod_labels: dict[str, str], port: int) -> bool:
    if "Ingress" not in policy["spec"]["policyTypes"]:
        return False
    if not policy["spec"]["podSelector"].get("matchLabels", {}).items() <= pod_labels.items():
        return False
    for rule in policy["spec"].get("ingress") or []:
        ports = rule.get("ports")
        if ports is None or any(p.get("port") == port for p in ports):
            return True
    return False


def _egress_allows(
    policy: dict[str, Any], src: dict[str, str], dst: dict[str, str], port: int
) -> bool:
    if "Egress" not in policy["spec"]["policyTypes"]:
        return False
    if not policy["spec"]["podSelector"].get("matchLabels", {}).items() <= src.items():
        return False
    for rule in policy["spec"].get("egress") or []:
        if rule.get("ports") and not any(p.get("port") == port for p in rule["ports"]):
            continue
        for peer in rule.get("to") or []:
            sel = peer.get("podSelector")
            if (
                sel is not None
                and "namespaceSelector" not in peer
                and (sel.get("matchLabels", {}).items() <= dst.items())
            ):
                return True
    return False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_deny_by_default_and_allow_lanners_own_flows(overlay: str) -> None:
    objs = rendered(f"overlays/{overlay}")
    policies = [o for o in objs if o["kind"] == "NetworkPolicy"]
    deny = find(policies, "NetworkPolicy", "lanner-default-deny")["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    workloads = {o["metadata"]["name"]: o for o in objs if o["kind"] in WORKLOADS}
    labels = {n: w["spec"]["template"]["metadata"]["labels"] for n, w in workloads.items()}
    # every Service port is reachable on its pods
    for svc in (o for o in objs if o["kind"] == "Service"):
        for w, pod_labels in labels.items():
            if svc["spec"]["selector"].items() <= pod_labels.items():
                ports = {p["name"]: p["containerPort"] for p in container(workloads[w])["ports"]}
                for port in svc["spec"]["ports"]:
                    number = ports.get(port["targetPort"], port["targetPort"])
                    assert any(_policy_allows(p, pod_labels, number) for p in policies), (
                        svc["metadata"]["name"],
                        number,
                    )
    # the flows between Lanner's parts
    flows = [("lanner", "lanner-sidekick", 2801)]
    if "lanner-ui" in labels:
        flows += [
            ("lanner-sidekick", "lanner-ui", 2802),
            ("lanner-sidekick", "lanner-respond", 2804),
        ]
    if "lanner-postgres" in labels:
        flows.append(("lanner-ui", "lanner-postgres", 5432))
    for src, dst, port in flows:
        assert any(_egress_allows(p, labels[src], labels[dst], port) for p in policies), (src, dst)
        assert any(_policy_allows(p, labels[dst], port) for p in policies), (src, dst)


def test_respond_rbac_is_what_lanner_respond_prints_for_its_rules(tmp_path: Path) -> None:
    objs = rendered("overlays/standard")
    rules = tmp_path / "rules.yaml"
    rules.write_text(configmap_file(objs, "lanner-respond-rules", "rules.yaml"))
    check = lanner("respond", "-r", str(rules), "--check")
    assert check.returncode == 0, check.stderr
    assert "3 rules, 5 actions: OK" in check.stdout
    out = lanner("respond", "-r", str(rules), "--rbac", "--rbac-namespace", "lanner")
    assert out.returncode == 0, out.stderr
    generated = {key(d): d for d in yaml.safe_load_all(out.stdout) if d}
    shipped = {key(d): d for d in objs if key(d) in generated}
    assert shipped == generated
    role = find(shipped.values(), "ClusterRole", "lanner-respond")
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]
    deploy = find(objs, "Deployment", "lanner-respond")
    assert pod_spec(deploy)["serviceAccountName"] == "lanner-respond"
    assert "--rules=/etc/lanner/respond/rules.yaml" in container(deploy)["args"]
    mount = next(m for m in container(deploy)["volumeMounts"] if m["name"] == "rules")
    assert mount["mountPath"] == "/etc/lanner/respond"


# --- the API server's audit policy -------------------------------------------------------

POLICY_KEYS = {"level", "users", "userGroups", "verbs", "resources", "namespaces",
               "nonResourceURLs", "omitStages", "omitManagedFields"}  # fmt: skip
LEVELS = ["None", "Metadata", "Request", "RequestResponse"]


def _level(policy: dict[str, Any], user: str, verb: str, group: str, resource: str) -> str:
    """The level kube-apiserver gives a request: the first rule that matches."""
    for rule in policy["rules"]:
        if rule.get("users") and user not in rule["users"]:
            continue
        if rule.get("userGroups") and "system:authenticated" not in rule["userGroups"]:
            continue
        if rule.get("verbs") and verb not in rule["verbs"]:
            continue
        if "nonResourceURLs" in rule:
            continue
        if rule.get("resources") and not any(
            r.get("group", "") == group and (not r.get("resources") or resource in r["resources"])
            for r in rule["resources"]
        ):
            continue
        return rule["level"]
    return "None"


def test_audit_policy_logs_what_the_k8s_audit_rules_read() -> None:
    policy = yaml.safe_load((KUBE / "apiserver/audit-policy.yaml").read_text())
    assert policy["apiVersion"] == "audit.k8s.io/v1" and policy["kind"] == "Policy"
    for rule in policy["rules"]:
        assert set(rule) <= POLICY_KEYS and rule["level"] in LEVELS
    assert "ResponseComplete" not in policy.get("omitStages", [])
    user = "alice"
    need = [  # (verb, group, resource, the least level the rules need)
        ("create", "", "pods", "RequestResponse"),
        ("create", "", "pods/exec", "Metadata"),
        ("create", "", "pods/attach", "Metadata"),
        ("create", "", "pods/portforward", "Metadata"),
        ("create", "", "configmaps", "Request"),
        ("update", "", "configmaps", "Request"),
        ("create", "", "services", "Request"),
        ("create", "", "serviceaccounts", "Request"),
        ("create", "", "serviceaccounts/token", "Metadata"),
        ("get", "", "secrets", "Metadata"),
        ("list", "", "secrets", "Metadata"),
        ("create", "rbac.authorization.k8s.io", "clusterrolebindings", "Request"),
        ("create", "rbac.authorization.k8s.io", "rolebindings", "Request"),
        ("patch", "rbac.authorization.k8s.io", "clusterroles", "Request"),
        ("create", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", "Request"),
        ("update", "certificates.k8s.io", "certificatesigningrequests/approval", "Request"),
        ("delete", "", "namespaces", "Metadata"),
        ("delete", "", "events", "Metadata"),
    ]
    for verb, group, resource, least in need:
        got = _level(policy, user, verb, group, resource)
        assert LEVELS.index(got) >= LEVELS.index(least), (verb, resource, got)
    # never the content of secrets or tokens
    for verb, resource in (
        ("get", "secrets"),
        ("create", "secrets"),
        ("create", "serviceaccounts/token"),
    ):
        assert _level(policy, user, verb, "", resource) == "Metadata"


def test_audit_rules_are_the_ones_the_engine_loads() -> None:
    """The policy serves lanner_k8s_audit_rules.yaml, which the engine's config loads."""
    cfg = yaml.safe_load(
        configmap_file(rendered("overlays/minimal"), "lanner-config", "lanner.yaml")
    )
    assert "/etc/lanner/lanner_k8s_audit_rules.yaml" in cfg["rules_files"]
    text = (KUBE / "apiserver/audit-policy.yaml").read_text()
    assert "--audit-webhook-config-file" in text and "--audit-policy-file" in text
