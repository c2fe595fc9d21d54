"""The container.* fields added for libsinsp parity: full_id, name, probes, duration, ip,
cni.json; and ``%container.info`` in rule outputs (expanded, or dropped where
``append_output`` already names the container, with a deprecation warning)."""

from __future__ import annotations

import json
from types import SimpleNamespace

from runtime_doubles import cri_sandbox, cri_status, docker_inspect

from lanner.engine.append_output import OutputAppend, expand_suggested
from lanner.engine.engine import Engine
from lanner.engine.fields import Field, FieldTable, FieldType, SourceSpec
from lanner.sources.memory import dict_field
from lanner.sources.syscall.containers.cri import info_from_cri
from lanner.sources.syscall.containers.docker import parse_inspect
from lanner.sources.syscall.containers.fields import metadata_fields
from lanner.sources.syscall.containers.info import LAST_APPLIED, k8s_probes
from lanner.sources.syscall.containers.store import MetadataStore

FULL = "3ad7b26ded6d8e7e23da7d48fe889434573036c27ae5a74837233de441c3601e"
POD_SPEC = {
    "apiVersion": "v1",
    "kind": "Pod",
    "spec": {
        "containers": [
            {
                "name": "web",
                "livenessProbe": {"exec": {"command": ["cat", "/tmp/healthy"]}},
                "readinessProbe": {"exec": {"command": ["/bin/ready", "--now"]}},
            }
        ]
    },
}


def _fields(store: MetadataStore) -> dict:
    return {f.name: f for f in metadata_fields(store)}


def _event(cid: str, ts: int = 0) -> SimpleNamespace:
    return SimpleNamespace(thread=SimpleNamespace(container_id=cid), ts=ts)


def test_docker_fields() -> None:
    doc = docker_inspect(
        FULL,
        "web",
        "nginx:1.25",
        labels={LAST_APPLIED: json.dumps(POD_SPEC)},
        ip="172.17.0.5",
        healthcheck=["CMD-SHELL", "curl -f localhost"],
    )
    store = MetadataStore()
    store.put(parse_inspect(doc))
    f = _fields(store)
    ev = _event(FULL[:12], ts=parse_inspect(doc).start_ts + 5_000_000_000)
    assert f["container.full_id"].extract(ev, None) == FULL
    assert f["container.name"].extract(ev, None) == "web"
    assert f["container.liveness_probe"].extract(ev, None) == "cat /tmp/healthy"
    assert f["container.readiness_probe"].extract(ev, None) == "/bin/ready --now"
    assert f["container.healthcheck"].extract(ev, None) == "CMD-SHELL curl -f localhost"
    assert f["container.duration"].extract(ev, None) == 5_000_000_000
    assert f["container.ip"].extract(ev, None) == "172.17.0.5"
    assert f["container.cni.json"].extract(ev, None) is None  # Docker has no CNI result


def test_probe_fields_of_a_container_without_probes_read_none() -> None:
    store = MetadataStore()
    store.put(parse_inspect(docker_inspect(FULL, "web", "nginx", ip="")))
    f = _fields(store)
    ev = _event(FULL[:12])
    for name in ("container.healthcheck", "container.liveness_probe", "container.readiness_probe"):
        assert f[name].extract(ev, None) == "NONE"  # libsinsp's value
    assert f["container.ip"].extract(ev, None) == "0.0.0.0"


def test_host_and_unknown_containers() -> None:
    store = MetadataStore()
    f = _fields(store)
    host = _event("host")
    assert f["container.full_id"].extract(host, None) == "host"
    assert f["container.name"].extract(host, None) == "host"
    assert f["container.duration"].extract(host, None) is None
    unknown = _event("0123456789ab")
    for name in ("container.full_id", "container.name", "container.ip", "container.duration"):
        assert f[name].extract(unknown, None) is None


def test_cri_fields() -> None:
    sb = "5" * 64
    status = cri_status(FULL, "api", "nginx:1.25", sb)
    status.status.annotations["kubectl.kubernetes.io/last-applied-configuration"] = json.dumps(
        POD_SPEC
    )
    info = info_from_cri(status, cri_sandbox(sb, "api-1", "pay", "u1", "10.244.1.17"))
    store = MetadataStore()
    store.put(info)
    f = _fields(store)
    ev = _event(FULL[:12])
    assert f["container.full_id"].extract(ev, None) == FULL
    assert f["container.ip"].extract(ev, None) == "10.244.1.17"
    cni = f["container.cni.json"].extract(ev, None)
    assert cni == f["k8s.pod.cni.json"].extract(ev, None) and "10.244.1.17" in cni
    assert f["container.liveness_probe"].extract(ev, None) == "cat /tmp/healthy"


def test_k8s_probes_tolerate_garbage() -> None:
    assert k8s_probes({}) == ([], [])
    assert k8s_probes({LAST_APPLIED: "{not json"}) == ([], [])
    assert k8s_probes({LAST_APPLIED: json.dumps({"spec": {"containers": "x"}})}) == ([], [])
    bad = {"spec": {"containers": [{"livenessProbe": {"exec": "x"}}, 3]}}
    assert k8s_probes({LAST_APPLIED: json.dumps(bad)}) == ([], [])


def _container_info_engine(append: list[OutputAppend]) -> Engine:
    store = MetadataStore()
    store.put(parse_inspect(docker_inspect(FULL, "web", "nginx:1.25")))
    table = FieldTable("syscall")
    table.add(dict_field("evt.type"))
    table.add(Field("container.id", FieldType.STRING, "id", lambda e, _: e.thread.container_id))
    table.extend(metadata_fields(store))
    spec = SourceSpec("syscall", table)
    engine = Engine([spec], hostname="h", append_output=expand_suggested(append, [spec]))
    outcome = engine.load_rules(
        contents=[
            (
                "r.yaml",
                """
- rule: r
  desc: d
  condition: container.name = web
  output: shell in %container.info (name=%container.name)
  priority: WARNING
""",
            )
        ]
    )
    assert outcome.successful
    text = " ".join(r.as_text(True) for r in outcome.results)
    assert "%container.info is deprecated" in text
    return engine


def test_container_info_expands_to_the_container_fields_with_a_warning() -> None:
    # no append_output naming the container: Falco 0.35-0.40's expansion, no gap
    engine = _container_info_engine([])
    (alert,) = engine.process(_event(FULL[:12]), "syscall")
    assert alert.output.endswith(f"shell in container_id={FULL[:12]} container_name=web (name=web)")


def test_container_info_gives_way_to_suggested_output() -> None:
    # the shipped default (suggested_output) appends the container fields: the token goes,
    # as in Falco today, and leaves no double space
    engine = _container_info_engine([OutputAppend(suggested_output=True)])
    (alert,) = engine.process(_event(FULL[:12]), "syscall")
    assert "shell in (name=web) container_id=3ad7b26ded6d container_name=web" in alert.output
    assert "  " not in alert.output
