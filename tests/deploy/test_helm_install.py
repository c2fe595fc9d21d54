"""`helm install` of deploy/helm/lanner into a real kube-apiserver (tests/deploy/apiserver.py),
the objects read back with kubectl, and respond's ClusterRole enforced by the API server's
RBAC. No kubelet runs there: the test checks what the API server accepts and stores, not
running pods."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from . import apiserver
from .helpers import CHART, ROOT, chart, tool, wait_until

CLOSED_LOOP = (
    "falcosidekick.enabled=true",
    "falcosidekick.webui.enabled=true",
    "responseActions.enabled=true",
)
# kinds kubectl reads back, by the name `kubectl get` takes
KINDS = {
    "DaemonSet": "daemonsets.apps",
    "Deployment": "deployments.apps",
    "Service": "services",
    "ConfigMap": "configmaps",
    "ServiceAccount": "serviceaccounts",
    "NetworkPolicy": "networkpolicies.networking.k8s.io",
    "PersistentVolumeClaim": "persistentvolumeclaims",
    "ClusterRole": "clusterroles.rbac.authorization.k8s.io",
    "ClusterRoleBinding": "clusterrolebindings.rbac.authorization.k8s.io",
}


def _run(tool_name: str, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool(tool_name), "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(kubeconfig.parent)},
    )


def _missing(want: Any, got: Any, path: str = "") -> list[str]:
    """Where ``got`` (the stored object) lacks or changed something ``want`` (rendered) set;
    fields the API server adds (defaults, status, metadata) are not differences."""
    if want in ({}, []) and got is None:
        return []  # the API server stores an empty map or list as absent
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return [f"{path}: {got!r}"]
        return [m for k, v in want.items() for m in _missing(v, got.get(k), f"{path}.{k}")]
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return [f"{path}: {got!r}"]
        return [m for i, (w, g) in enumerate(zip(want, got, strict=True))
                for m in _missing(w, g, f"{path}[{i}]")]  # fmt: skip
    return [] if want == got or str(want) == str(got) else [f"{path}: {want!r} -> {got!r}"]


def test_helm_install_into_a_real_api_server_stores_every_object(
    kube: apiserver.APIServer,
) -> None:
    admin = kube.kubeconfig("admin")
    sets = [a for s in CLOSED_LOOP for a in ("--set", s)]
    out = _run("helm", admin, "install", "lanner", str(CHART), "--namespace", "lanner",
               "--create-namespace", *sets)  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr + kube.log_tail()
    status = _run("helm", admin, "status", "lanner", "--namespace", "lanner", "-o", "json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["info"]["status"] == "deployed"

    # what helm sent is what the chart renders for this API server's version
    manifest = _run("helm", admin, "get", "manifest", "lanner", "--namespace", "lanner")
    assert manifest.returncode == 0, manifest.stderr
    rendered = chart(*CLOSED_LOOP, kube_version="1.20.2")
    assert rendered, "nothing rendered"
    for obj in rendered:
        kind, name = obj["kind"], obj["metadata"]["name"]
        args = ["get", KINDS[kind], name, "-o", "json"]
        if kind not in ("ClusterRole", "ClusterRoleBinding"):
            args += ["--namespace", "lanner"]
        got = _run("kubectl", admin, *args)
        assert got.returncode == 0, (kind, name, got.stderr)
        stored = json.loads(got.stdout)
        assert stored["metadata"]["annotations"]["meta.helm.sh/release-name"] == "lanner"
        diff = _missing(obj, stored)
        assert not diff, (kind, name, diff[:10])

    # the engine's least privilege survived the API server's validation and defaulting
    ds = json.loads(
        _run("kubectl", admin, "get", "daemonsets.apps", "lanner", "-n", "lanner",
             "-o", "json").stdout
    )  # fmt: skip
    sc = ds["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    assert sc["capabilities"] == {
        "drop": ["ALL"],
        "add": ["BPF", "PERFMON", "SYS_RESOURCE", "SYS_PTRACE", "DAC_READ_SEARCH"],
    }
    assert sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False


def test_respond_gets_exactly_its_clusterrole_from_the_api_server(
    kube: apiserver.APIServer,
) -> None:
    """The API server's RBAC answers for respond's ServiceAccount as the chart's default
    responseActions.rbac says (installed by the test above)."""
    admin = kube.kubeconfig("admin")
    sa = "system:serviceaccount:lanner:lanner-respond"
    allowed = [("patch", "pods"), ("delete", "pods"), ("create", "networkpolicies"),
               ("patch", "nodes"), ("patch", "deployments.apps")]  # fmt: skip
    denied = [("delete", "deployments.apps"), ("get", "secrets"), ("create", "pods"),
              ("delete", "nodes"), ("create", "clusterrolebindings")]  # fmt: skip
    for verb, resource in allowed + denied:
        out = _run("kubectl", admin, "auth", "can-i", verb, resource, "--as", sa, "-A")
        expected = "yes" if (verb, resource) in allowed else "no"
        assert out.stdout.strip() == expected, (verb, resource, out.stdout, out.stderr)
    # and a token without bindings is refused by the real API server
    nobody = _run("kubectl", kube.kubeconfig("nobody"), "get", "pods", "-n", "lanner")
    assert nobody.returncode != 0 and "forbidden" in nobody.stderr.lower(), nobody.stderr


def test_helm_install_with_wrong_values_creates_nothing(kube: apiserver.APIServer) -> None:
    admin = kube.kubeconfig("admin")
    out = _run("helm", admin, "install", "wrong", str(CHART), "--namespace", "wrong",
               "--create-namespace", "--set", "driver.kind=kmod")  # fmt: skip
    assert out.returncode != 0 and "/driver/kind" in out.stderr, out.stderr
    listed = _run("helm", admin, "list", "--all-namespaces", "-o", "json")
    assert "wrong" not in {r["name"] for r in json.loads(listed.stdout)}
    ns = _run("kubectl", admin, "get", "namespace", "wrong")
    assert ns.returncode != 0 and "NotFound" in ns.stderr


def test_the_engines_k8smeta_role_is_enough_to_watch_and_no_more(
    kube: apiserver.APIServer, tmp_path: Path
) -> None:
    """``collectors.kubernetes.enabled=true`` upgraded into the release installed above:
    with a token of the engine's ServiceAccount (TokenRequest), the k8smeta watch lists
    and watches every kind it needs, and the API server refuses a write."""
    admin = kube.kubeconfig("admin")
    sets = [a for s in (*CLOSED_LOOP, "collectors.kubernetes.enabled=true") for a in ("--set", s)]
    out = _run("helm", admin, "upgrade", "lanner", str(CHART), "--namespace", "lanner", *sets)
    assert out.returncode == 0, out.stdout + out.stderr
    token = _run("kubectl", admin, "create", "token", "lanner-engine", "-n", "lanner")
    assert token.returncode == 0, token.stderr
    engine = tmp_path / "kubeconfig-engine"
    engine.write_text(admin.read_text().replace(apiserver.TOKENS["admin"], token.stdout.strip()))
    from lanner.sources.k8smeta import K8sMetaCache, K8sMetaConfig, K8sMetaWatcher

    cache = K8sMetaCache()
    watcher = K8sMetaWatcher(cache, K8sMetaConfig(node="node-1", kubeconfig=str(engine)))
    watcher.start()
    try:
        wait_until(lambda: cache.available, 30, "the watch with the engine's role")
        assert watcher.errors == 0
    finally:
        watcher.stop()
    sa = "system:serviceaccount:lanner:lanner-engine"
    checks = [("watch", "pods", "yes"), ("list", "deployments.apps", "yes"),
              ("patch", "pods", "no"), ("get", "secrets", "no")]  # fmt: skip
    for verb, resource, expected in checks:
        got = _run("kubectl", admin, "auth", "can-i", verb, resource, "--as", sa, "-A")
        assert got.stdout.strip() == expected, (verb, resource, got.stdout, got.stderr)
