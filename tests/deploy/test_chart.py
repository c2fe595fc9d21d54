"""deploy/helm/lanner: helm lint, helm template for the documented value combinations, every
object validated against Kubernetes' schema, the values Falco users set doing what they do
in Falco's chart, wrong values refused by values.schema.json, and the kustomize overlays
equal to what the chart renders (scripts/render_overlays.py --check).

helm and kubectl are the real binaries scripts/setup.sh installs into .cache/tools/bin."""

from __future__ import annotations

import functools
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from lanner.app.config import load_config

from .helpers import (
    CHART,
    DOCS,
    K8S_VERSION,
    KUBE,
    OVERLAYS,
    ROOT,
    WORKLOADS,
    chart,
    configmap_file,
    container,
    env_of,
    find,
    pod_spec,
    rendered,
    tool,
)
from .kustomize import key

# The combinations docs/getting-started.md and the chart's values.yaml document.
FALCO_STYLE = ("falcosidekick.enabled=true", "falcosidekick.webui.enabled=true")
COMBINATIONS: dict[str, tuple[str, ...]] = {
    "defaults": (),
    "sidekick": ("falcosidekick.enabled=true",),
    "sidekick+webui": FALCO_STYLE,
    "closed-loop": (*FALCO_STYLE, "responseActions.enabled=true"),
    "everything": (
        *FALCO_STYLE,
        "responseActions.enabled=true",
        "eventGenerator.enabled=true",
        "serviceMonitor.create=true",
        "namespace.create=true",
        "tty=true",
        "falcosidekick.spool.persistence.enabled=true",
        "collectors.kubernetes.enabled=true",
    ),
    "kubernetes-metadata": ("collectors.kubernetes.enabled=true",),
    "webui-postgresql": (
        *FALCO_STYLE,
        "falcosidekick.webui.storage=postgresql",
        "falcosidekick.webui.replicaCount=3",
    ),
    "webui-external-postgresql": (
        *FALCO_STYLE,
        "falcosidekick.webui.storage=postgresql",
        "falcosidekick.webui.postgresql.enabled=false",
        "falcosidekick.webui.postgresql.externalUrl=postgresql://l:$(LANNER_UI_DB_PASSWORD)@db/l",
    ),
    "artifacts": (
        "falcoctl.artifact.install.enabled=true",
        "falcoctl.artifact.follow.enabled=true",
    ),
    "no-driver": ("driver.enabled=false",),
    "no-collectors": ("collectors.enabled=false",),
    "no-network-policies": ("networkPolicy.enabled=false", "falcosidekick.enabled=true"),
}
# kinds that are not Kubernetes' own (their CRD's schema is not in kubernetes-validate)
CRD_KINDS = {"ServiceMonitor"}


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


def _helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("helm"), *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def test_helm_lint_passes_for_the_defaults_and_every_overlay() -> None:
    out = _helm("lint", "--strict", str(CHART))
    assert out.returncode == 0, out.stdout + out.stderr
    for overlay in OVERLAYS:
        values = KUBE / "overlays" / overlay / "values.yaml"
        out = _helm("lint", "--strict", str(CHART), "--values", str(values))
        assert out.returncode == 0, (overlay, out.stdout + out.stderr)


@pytest.mark.parametrize("name", COMBINATIONS)
def test_every_rendered_object_validates_against_the_kubernetes_schema(name: str) -> None:
    objs = chart(*COMBINATIONS[name])
    assert any(o["kind"] == "DaemonSet" for o in objs)
    for obj in objs:
        if obj["kind"] in CRD_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{name}: {key(obj)} at {where}: {exc.message}")
    names = {(o["kind"], o["metadata"]["name"]) for o in objs}
    assert len(names) == len(objs), f"{name}: an object rendered twice"


def test_the_components_follow_falcos_switches() -> None:
    def kinds(*sets: str) -> set[tuple[str, str]]:
        return {(o["kind"], o["metadata"]["name"]) for o in chart(*sets)}

    sidekick, ui, respond = (
        ("Deployment", "lanner-sidekick"),
        ("Deployment", "lanner-ui"),
        ("Deployment", "lanner-respond"),
    )
    assert ("DaemonSet", "lanner") in kinds()
    assert not {sidekick, ui, respond} & kinds()
    assert sidekick in kinds("falcosidekick.enabled=true")
    assert {sidekick, ui} <= kinds(*FALCO_STYLE) and respond not in kinds(*FALCO_STYLE)
    loop = kinds(*COMBINATIONS["closed-loop"])
    assert {sidekick, ui, respond, ("ClusterRole", "lanner-respond")} <= loop
    everything = kinds(*COMBINATIONS["everything"])
    assert {("Deployment", "lanner-event-generator"), ("ServiceMonitor", "lanner")} <= everything
    assert ("Namespace", "lanner") in everything and ("Namespace", "lanner") not in kinds()
    assert ("NetworkPolicy", "lanner-default-deny") not in kinds("networkPolicy.enabled=false")


def _engine_config(*sets: str) -> dict[str, Any]:
    return yaml.safe_load(configmap_file(chart(*sets), "lanner-config", "lanner.yaml"))


def test_the_engine_sends_alerts_to_sidekick_only_when_it_is_deployed() -> None:
    assert _engine_config()["http_output"]["enabled"] is False
    out = _engine_config("falcosidekick.enabled=true")["http_output"]
    assert out["enabled"] is True and out["url"] == "http://lanner-sidekick.lanner.svc:2801/"
    sk = env_of(container(find(chart(*FALCO_STYLE), "Deployment", "lanner-sidekick")))
    assert sk["LANNERUI_ADDRESS"] == "http://lanner-ui.lanner.svc:2802"
    assert "LANNERRESPOND_ADDRESS" not in sk


def test_falco_keys_pass_through_into_lanner_yaml_and_load(tmp_path: Path) -> None:
    sets = (
        "falco.priority=warning",
        "falco.json_output=false",
        "falco.buffered_outputs=true",
        "falco.webserver.listen_port=8766",
        "falco.http_output.user_agent=lanner-test",
        "falcosidekick.enabled=true",
    )
    objs = chart(*sets)
    text = configmap_file(objs, "lanner-config", "lanner.yaml")
    (tmp_path / "lanner.yaml").write_text(text)
    cfg = load_config(tmp_path / "lanner.yaml")
    assert cfg.warnings == []
    assert cfg.get("priority") == "warning" and cfg.boolean("json_output") is False
    assert cfg.boolean("buffered_outputs") is True
    assert cfg.integer("webserver.listen_port") == 8766
    # a key given under falco wins over what the chart implies, the rest stays
    assert cfg.get("http_output.user_agent") == "lanner-test"
    assert cfg.boolean("http_output.enabled") is True
    # the pod's port and the network policy follow the web server's port
    ds = find(objs, "DaemonSet", "lanner")
    assert {p["name"]: p["containerPort"] for p in container(ds)["ports"]}["http"] == 8766
    engine_np = find(objs, "NetworkPolicy", "lanner-engine")
    assert {"protocol": "TCP", "port": 8766} in engine_np["spec"]["ingress"][1]["ports"]


@pytest.mark.parametrize(
    "sets", [(), ("driver.enabled=false",), ("collectors.kubernetes.enabled=true",)]
)
def test_every_rendering_of_the_engine_config_loads_without_warnings(
    tmp_path: Path, sets: tuple[str, ...]
) -> None:
    (tmp_path / "lanner.yaml").write_text(
        configmap_file(chart(*sets), "lanner-config", "lanner.yaml")
    )
    assert load_config(tmp_path / "lanner.yaml").warnings == []


def test_driver_kind_and_no_driver() -> None:
    assert _engine_config()["engine"]["kind"] == "modern_ebpf"
    assert _engine_config("driver.kind=auto")["engine"]["kind"] == "modern_ebpf"
    objs = chart("driver.enabled=false")
    assert yaml.safe_load(configmap_file(objs, "lanner-config", "lanner.yaml"))["engine"] == {
        "kind": "nodriver"
    }
    ds = find(objs, "DaemonSet", "lanner")
    caps = set(container(ds)["securityContext"]["capabilities"]["add"])
    # no probe to load: no BPF, PERFMON or SYS_RESOURCE, and no BTF mount
    assert caps == {"SYS_PTRACE", "DAC_READ_SEARCH"}
    assert "btf" not in {v["name"] for v in pod_spec(ds)["volumes"]}


def test_tty_collectors_resources_and_tolerations() -> None:
    assert "tty" not in container(find(chart(), "DaemonSet", "lanner"))
    assert container(find(chart("tty=true"), "DaemonSet", "lanner"))["tty"] is True
    # one collector off: its socket is neither mounted nor asked
    objs = chart(
        "collectors.containerd.enabled=false", "collectors.crio.socket=/run/crio/crio.sock"
    )
    ds = find(objs, "DaemonSet", "lanner")
    mounts = {m["mountPath"] for m in container(ds)["volumeMounts"]}
    assert "/run/containerd/containerd.sock" not in mounts
    assert {"/run/crio/crio.sock", "/var/run/docker.sock"} <= mounts
    cfg = yaml.safe_load(configmap_file(objs, "lanner-config", "lanner.yaml"))
    assert cfg["container_engines"]["cri"]["sockets"] == ["/run/crio/crio.sock"]
    # all off
    ds = find(chart("collectors.enabled=false"), "DaemonSet", "lanner")
    assert not any(m["mountPath"].endswith(".sock") for m in container(ds)["volumeMounts"])
    cfg = _engine_config("collectors.enabled=false")["container_engines"]
    assert cfg["docker"]["enabled"] is False and cfg["cri"]["enabled"] is False
    # resources and tolerations as given
    ds = find(
        chart(
            "resources.limits.memory=2Gi",
            "tolerations[0].key=dedicated",
            "tolerations[0].operator=Exists",
        ),
        "DaemonSet",
        "lanner",
    )
    assert container(ds)["resources"]["limits"]["memory"] == "2Gi"
    assert pod_spec(ds)["tolerations"] == [{"key": "dedicated", "operator": "Exists"}]


def test_kubernetes_metadata_is_k8smeta_with_a_read_only_role() -> None:
    objs = chart("collectors.kubernetes.enabled=true")
    cfg = yaml.safe_load(configmap_file(objs, "lanner-config", "lanner.yaml"))
    assert "k8smeta" in cfg["load_plugins"]
    assert {"name": "k8smeta", "init_config": {"nodeName": "${LANNER_HOSTNAME}",
            "inCluster": True, "resyncPeriodS": 300}} in cfg["plugins"]  # fmt: skip
    role = find(objs, "ClusterRole", "lanner-engine-k8smeta")
    assert {v for r in role["rules"] for v in r["verbs"]} == {"get", "list", "watch"}
    assert pod_spec(find(objs, "DaemonSet", "lanner"))["automountServiceAccountToken"] is True
    # off by default: no role, no token
    objs = chart()
    assert not [o for o in objs if o["metadata"]["name"] == "lanner-engine-k8smeta"]
    assert pod_spec(find(objs, "DaemonSet", "lanner"))["automountServiceAccountToken"] is False


def test_custom_rules_reach_the_rules_directory(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    rule = (
        "- rule: Chart test rule\n  desc: d\n  condition: evt.type = open\n"
        "  output: x %proc.name\n  priority: NOTICE\n"
    )
    values.write_text(yaml.safe_dump({"customRules": {"60-mine.yaml": rule}}))
    objs = chart(values=values)
    assert find(objs, "ConfigMap", "lanner-rules")["data"] == {"60-mine.yaml": rule}
    ds = find(objs, "DaemonSet", "lanner")
    mount = next(m for m in container(ds)["volumeMounts"] if m["name"] == "rules")
    assert mount["mountPath"] in _engine_config()["rules_files"]
    assert find(chart(), "ConfigMap", "lanner-rules")["data"] == {}


def test_artifact_install_and_follow_run_beside_the_engine_as_falcoctl(tmp_path: Path) -> None:
    from lanner.services.artifact.config import load_config as load_falcoctl

    objs = chart("falcoctl.artifact.install.enabled=true", "falcoctl.artifact.follow.enabled=true")
    ds = find(objs, "DaemonSet", "lanner")
    spec = pod_spec(ds)
    (init,) = spec["initContainers"]
    follow = next(c for c in spec["containers"] if c["name"] == "lanner-artifact-follow")
    config = "/etc/lanner/falcoctl/falcoctl.yaml"
    assert init["args"] == ["artifact", "install", "--config", config]
    assert follow["args"] == ["artifact", "follow", "--config", config]
    for c in (init, follow):
        assert c["securityContext"]["runAsNonRoot"] is True
        assert {m["mountPath"] for m in c["volumeMounts"]} >= {"/rulesfiles", "/tmp"}
    engine = container(ds)
    mount = next(m for m in engine["volumeMounts"] if m["mountPath"] == "/rulesfiles")
    assert mount["readOnly"] is True
    files = yaml.safe_load(configmap_file(objs, "lanner-config", "lanner.yaml"))["rules_files"]
    assert files.index("/rulesfiles") < files.index("/etc/lanner/rules.d")
    # the falcoctl.yaml it writes is one lanner artifact reads without an unknown key
    path = tmp_path / "falcoctl.yaml"
    path.write_text(configmap_file(objs, "lanner-falcoctl", "falcoctl.yaml"))
    cfg = load_falcoctl(str(path))
    assert cfg.install_refs == ["falco-rules:3"] and cfg.rulesfiles_dir == "/rulesfiles"
    # HTTPS out of the engine pod for the registries, only with artifacts on
    policy = find(objs, "NetworkPolicy", "lanner-engine-artifacts")
    assert policy["spec"]["egress"] == [{"ports": [{"protocol": "TCP", "port": 443}]}]
    assert not [o for o in chart() if o["metadata"]["name"] == "lanner-engine-artifacts"]
    # off by default: no init container, no sidecar, no ConfigMap
    default = find(chart(), "DaemonSet", "lanner")
    assert "initContainers" not in pod_spec(default) and len(pod_spec(default)["containers"]) == 1


def test_sidekick_config_existing_secret_and_spool(tmp_path: Path) -> None:
    objs = chart(
        "falcosidekick.enabled=true",
        "falcosidekick.config.slack.minimumpriority=warning",
        "falcosidekick.config.existingSecret=my-outputs",
        "falcosidekick.spool.persistence.enabled=true",
    )
    conf = yaml.safe_load(configmap_file(objs, "lanner-sidekick", "sidekick.yaml"))
    assert conf["slack"] == {"minimumpriority": "warning"}
    assert conf["listenport"] == 2801 and "existingSecret" not in conf
    assert conf["loki"]["extralabels"] == ["k8s.ns.name", "k8s.pod.name"]
    c = container(find(objs, "Deployment", "lanner-sidekick"))
    assert c["envFrom"] == [{"secretRef": {"name": "my-outputs"}}]
    spool = next(v for v in pod_spec(find(objs, "Deployment", "lanner-sidekick"))["volumes"]
                 if v["name"] == "spool")  # fmt: skip
    assert spool["persistentVolumeClaim"]["claimName"] == "lanner-sidekick-spool"
    assert ("PersistentVolumeClaim", "lanner-sidekick-spool") in {
        (o["kind"], o["metadata"]["name"]) for o in objs
    }
    mount = next(m for m in c["volumeMounts"] if m["name"] == "spool")
    assert mount["mountPath"] == "/var/lib/lanner/sidekick"
    # sidekick accepts what the chart writes
    path = tmp_path / "sidekick.yaml"
    path.write_text(configmap_file(objs, "lanner-sidekick", "sidekick.yaml"))
    out = subprocess.run(
        [sys.executable, "-c", "from lanner.cli import main; main()", "sidekick", "-c", str(path),
         "--check"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_tokens_come_from_secrets_in_every_combination() -> None:
    objs = chart(*COMBINATIONS["closed-loop"])
    respond = env_of(container(find(objs, "Deployment", "lanner-respond")))
    ref = respond["LANNER_RESPOND_TOKEN"]["secretKeyRef"]
    # respond refuses to run without its token: the key is not optional
    assert (ref["name"], ref["key"], ref.get("optional")) == (
        "lanner-tokens",
        "respond-token",
        None,
    )
    engine = env_of(container(find(objs, "DaemonSet", "lanner")))
    for name in ("LANNER_WEBSERVER_TOKEN", "LANNER_K8SAUDIT_TOKEN"):
        assert engine[name]["secretKeyRef"]["name"] == "lanner-engine-tokens"
    ui = env_of(container(find(objs, "Deployment", "lanner-ui")))
    assert ui["LANNER_UI_TOKENS"]["secretKeyRef"]["key"] == "ui-token"
    for w in (o for o in objs if o["kind"] in WORKLOADS):
        for e in container(w).get("env") or []:
            assert "token" not in e["name"].lower() or "valueFrom" in e, (w["kind"], e)


def test_service_monitor_scrapes_the_metrics_services() -> None:
    objs = chart("falcosidekick.enabled=true", "serviceMonitor.create=true")
    sm = find(objs, "ServiceMonitor", "lanner")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    (expr,) = sm["spec"]["selector"]["matchExpressions"]
    ports = {ep["port"] for ep in sm["spec"]["endpoints"]}
    scraped = {
        o["metadata"]["name"]
        for o in objs
        if o["kind"] == "Service"
        and o["metadata"]["labels"]["app.kubernetes.io/name"] in expr["values"]
        and ports & {p["name"] for p in o["spec"]["ports"]}
    }
    assert scraped == {"lanner-engine-metrics", "lanner-sidekick"}


def test_event_generator_runs_lanner_generate_unprivileged() -> None:
    gen = find(chart("eventGenerator.enabled=true"), "Deployment", "lanner-event-generator")
    c = container(gen)
    assert c["args"] == ["generate", "run", "--source=syscall", "--loop", "--sleep=1s"]
    assert pod_spec(gen)["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    out = subprocess.run(
        [sys.executable, "-c", "from lanner.cli import main; main()", *c["args"][:2],
         "--help"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    for opt in ("--source", "--loop", "--sleep"):
        assert opt in out.stdout


# (--set, what the schema error names)
WRONG_VALUES = [
    ("driver.kind=kmod", "/driver/kind"),
    ("driver.kind=ebpf", "/driver/kind"),
    ("tty=yes", "/tty"),
    ("falcosidekick.enable=true", "'enable' not allowed"),
    ("falcosidekick.webui.enabled=true", "/falcosidekick/enabled"),
    ("responseActions.enabled=true", "/falcosidekick/enabled"),
    ("collectors.docker.socket=docker.sock", "/collectors/docker/socket"),
    ("customRules.rules=x", "'rules' does not match pattern"),
    ("falco.webserver.listen_port=70000", "/falco/webserver/listen_port"),
    ("falco.priority=loud", "/falco/priority"),
    ("falco.engine.kind=gvisor", "/falco/engine/kind"),
    ("falcosidekick.webui.replicaCount=2", "/falcosidekick/webui/replicaCount"),
    ("falcosidekick.webui.storage=s3", "/falcosidekick/webui/storage"),
    ("responseActions.rbac[0].verbs[0]=*", "/responseActions/rbac/0/verbs/0"),
    ("resources.limits.memory=lots", "/resources/limits/memory"),
    ("serviceMonitor.interval=often", "/serviceMonitor/interval"),
    ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
    (
        "falcosidekick.spool.persistence.enabled=true,falcosidekick.replicaCount=2",
        "/falcosidekick/replicaCount",
    ),
]


@pytest.mark.parametrize(("wrong", "named"), WRONG_VALUES)
def test_wrong_values_are_refused_by_the_schema(wrong: str, named: str) -> None:
    out = _helm("template", "x", str(CHART), "--set", wrong)
    assert out.returncode != 0, f"{wrong} was accepted"
    assert "don't meet the specifications of the schema" in out.stderr, out.stderr
    assert named in out.stderr, out.stderr


def test_respond_rbac_default_is_what_lanner_respond_prints(tmp_path: Path) -> None:
    """The chart's default responseActions.rbac equals `lanner respond --rbac` for its
    default rules (the overlays' test checks the whole rendered RBAC objects)."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())["responseActions"]
    rules = tmp_path / "rules.yaml"
    rules.write_text(values["rules"])
    out = subprocess.run(
        [sys.executable, "-c", "from lanner.cli import main; main()", "respond", "-r",
         str(rules), "--rbac"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    role = next(d for d in yaml.safe_load_all(out.stdout) if d and d["kind"] == "ClusterRole")
    assert role["rules"] == values["rbac"]


def test_the_overlays_are_what_the_chart_renders() -> None:
    """One source: deploy/kubernetes/overlays/*/lanner.yaml are generated from the chart."""
    out = subprocess.run(
        [sys.executable, "scripts/render_overlays.py", "--check"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={"HELM": tool("helm"), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    for overlay in OVERLAYS:
        assert (
            (KUBE / "overlays" / overlay / "lanner.yaml")
            .read_text()
            .startswith("# Generated by scripts/render_overlays.py")
        )
        values = KUBE / "overlays" / overlay / "values.yaml"
        ours = {key(o): o for o in rendered(f"overlays/{overlay}")}
        helms = {key(o): o for o in chart(values=values)}
        assert ours == helms, overlay


def test_getting_started_opens_with_a_helm_install_that_renders() -> None:
    """The guide's first section installs the chart; its helm install renders, and the
    Secrets the rendered workloads need are the ones the section creates."""
    text = (DOCS / "getting-started.md").read_text()
    first = text.index("\n## ")
    assert text[first:].startswith("\n## On Kubernetes with Helm")
    section = text[first : text.index("\n## ", first + 1)]
    (block,) = re.findall(r"```sh\n(.*?)```", section, re.S)
    (install,) = [ln for ln in block.splitlines() if ln.startswith("helm install ")]
    words = shlex.split(install)
    assert words[2:4] == ["lanner", "deploy/helm/lanner"]
    sets = tuple(words[i + 1] for i, w in enumerate(words) if w == "--set")
    assert set(FALCO_STYLE) <= set(sets)
    objs = chart(*sets)
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objs}
    assert {("Deployment", "lanner-ui"), ("Deployment", "lanner-respond")} <= kinds
    needed = {
        (ref["name"], ref["key"])
        for w in objs
        if w["kind"] in WORKLOADS
        for e in container(w).get("env") or []
        if (ref := (e.get("valueFrom") or {}).get("secretKeyRef")) and not ref.get("optional")
    }
    assert ("lanner-tokens", "respond-token") in needed
    for name, secret_key in needed:
        line = next((ln for ln in block.splitlines() if f"secret generic {name} " in ln), "")
        assert f"--from-literal={secret_key}=" in line, (name, secret_key)


def test_apparmor_by_field_from_kubernetes_1_30_and_by_annotation_before() -> None:
    """securityContext.appArmorProfile is a 1.30 field; older API servers take the
    annotation (a 1.20 server would drop the field, leaving the default profile)."""
    new = find(chart(kube_version="1.30.0"), "DaemonSet", "lanner")
    assert container(new)["securityContext"]["appArmorProfile"] == {"type": "Unconfined"}
    assert "annotations" not in new["spec"]["template"]["metadata"]
    old = find(chart(kube_version="1.20.2"), "DaemonSet", "lanner")
    assert "appArmorProfile" not in container(old)["securityContext"]
    annotations = old["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"container.apparmor.security.beta.kubernetes.io/lanner": "unconfined"}
