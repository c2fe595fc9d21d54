"""The ka.* / jevt.* / evt.* fields of audit events, one by one, with the plugin's semantics."""

from __future__ import annotations

from typing import Any

import pytest
from k8s_audit_testutil import TS_NS, as_event, audit_event, pod, pod_create

from lanner.engine.engine import Engine
from lanner.sources.json_source import JsonEvent
from lanner.sources.k8s_audit import k8s_audit_source

SPEC = k8s_audit_source()


def get(name: str, event: JsonEvent | dict[str, Any], arg: Any = None) -> Any:
    """A field's value (list fields as lists), arg as the compiler would pass it."""
    ev = event if isinstance(event, JsonEvent) else as_event(event)
    found = SPEC.fields.resolve(name)
    assert found is not None, name
    return found[0].bind(arg)(ev)


POD = pod_create(
    pod(
        containers=[
            {
                "name": "app",
                "image": "registry.example.com/team/app:1.2@sha256:abc",
                "command": ["/bin/app", "--serve"],
                "ports": [{"containerPort": 8080}, {"containerPort": 9090, "hostPort": 9090}],
                "securityContext": {
                    "privileged": True,
                    "allowPrivilegeEscalation": False,
                    "runAsUser": 1000,
                    "capabilities": {"add": ["NET_ADMIN", "SYS_TIME"]},
                    "procMount": "Unmasked",
                },
            },
            {"name": "sidecar", "image": "busybox", "securityContext": {}},
        ],
        init_containers=[{"name": "init", "image": "alpine:3.20"}],
        volumes=[
            {"name": "root", "hostPath": {"path": "/etc/kubernetes", "type": "Directory"}},
            {"name": "cache", "emptyDir": {}},
            {"name": "flex", "flexVolume": {"driver": "example/lvm"}},
        ],
        hostNetwork=True,
        securityContext={"runAsUser": 2000, "fsGroup": 3000, "supplementalGroups": [4, 5]},
    )
)


def test_simple_strings() -> None:
    ev = audit_event("get", "pods", "web", namespace="shop", user="alice", code=200)
    assert get("ka.verb", ev) == "get"
    assert get("ka.user.name", ev) == "alice"
    assert get("ka.user.groups", ev) == ["system:masters", "system:authenticated"]
    assert get("ka.target.name", ev) == "web"
    assert get("ka.target.namespace", ev) == "shop"
    assert get("ka.target.resource", ev) == "pods"
    assert get("ka.target.subresource", ev) is None
    assert get("ka.response.code", ev) == "200"  # numbers print as text
    assert get("ka.stage", ev) == "ResponseComplete"
    assert get("ka.auth.decision", ev) == "allow"
    assert get("ka.uri", ev) == "/api/v1/namespaces/shop/pods/web"
    assert get("ka.useragent", ev).startswith("kubectl/")
    assert get("ka.sourceips", ev) == ["192.168.49.1"]
    assert get("ka.sourceips", ev, 0) == ["192.168.49.1"]
    assert get("ka.sourceips", ev, 3) is None
    assert get("ka.impuser.name", ev) is None
    assert get("ka.auditid", ev).startswith("00000000-")


def test_uri_params() -> None:
    ev = audit_event(
        "create",
        "pods",
        "web",
        subresource="exec",
        query="command=ls&command=-l&container=app&stdin=",
    )
    assert get("ka.uri.param", ev, "command") == "ls"
    assert get("ka.uri.param", ev, "container") == "app"
    assert get("ka.uri.param", ev, "stdin") == ""
    assert get("ka.uri.param", ev, "tty") is None


def test_pod_container_lists_and_indexes() -> None:
    assert get("ka.req.pod.containers.image", POD) == [
        "registry.example.com/team/app:1.2@sha256:abc",
        "busybox",
    ]
    assert get("ka.req.pod.containers.image", POD, 1) == ["busybox"]
    assert get("ka.req.pod.containers.image", POD, 2) is None
    assert get("ka.req.pod.containers.image.repository", POD) == [
        "registry.example.com/team/app",
        "busybox",
    ]
    assert get("ka.req.container.image", POD) == "registry.example.com/team/app:1.2@sha256:abc"
    assert get("ka.req.container.image.repository", POD) == "registry.example.com/team/app"
    assert get("ka.req.pod.containers.name", POD) == ["app", "sidecar"]
    assert get("ka.req.pod.containers.privileged", POD) == ["true"]  # holes are skipped
    assert get("ka.req.pod.containers.privileged", POD, 1) is None
    assert get("ka.req.container.privileged", POD) == "true"
    assert get("ka.req.pod.containers.allow_privilege_escalation", POD) == ["false"]
    assert get("ka.req.pod.containers.run_as_user", POD) == ["1000"]
    assert get("ka.req.pod.containers.eff_run_as_user", POD) == ["1000", "2000"]
    assert get("ka.req.pod.containers.eff_run_as_group", POD) == ["0", "0"]
    assert get("ka.req.pod.containers.add_capabilities", POD) == ["NET_ADMIN", "SYS_TIME"]
    assert get("ka.req.pod.containers.proc_mount", POD) == ["Unmasked"]
    assert get("ka.req.pod.containers.host_port", POD) == ["8080", "9090"]
    assert get("ka.req.pod.containers.command", POD) == ['["/bin/app","--serve"]']
    assert get("ka.req.pod.initContainers.image", POD) == ["alpine:3.20"]
    assert get("ka.req.pod.initContainers.privileged", POD) is None
    assert get("ka.req.pod.ephemeralContainers.image", POD) is None


def test_pod_spec_fields_and_volumes() -> None:
    assert get("ka.req.pod.host_network", POD) == "true"
    assert get("ka.req.container.host_network", POD) == "true"
    assert get("ka.req.pod.host_pid", POD) is None
    assert get("ka.req.pod.run_as_user", POD) == "2000"
    assert get("ka.req.pod.fs_group", POD) == "3000"
    assert get("ka.req.pod.supplemental_groups", POD) == ["4", "5"]
    assert get("ka.req.pod.volumes.hostpath", POD) == ["/etc/kubernetes"]
    assert get("ka.req.pod.volumes.hostpath", POD, 1) is None
    assert get("ka.req.pod.volumes.flexvolume_driver", POD) == ["example/lvm"]
    assert get("ka.req.pod.volumes.volume_type", POD) == ["hostPath", "emptyDir", "flexVolume"]
    assert get("ka.req.volume.hostpath", POD, "/etc/kubernetes") == "true"
    assert get("ka.req.volume.hostpath", POD, "/etc*") == "true"
    assert get("ka.req.volume.hostpath", POD, "/etc") == "false"
    assert get("ka.resp.name", POD) == "web"


def test_role_rules_and_bindings() -> None:
    ev = audit_event(
        "create",
        "clusterroles",
        "r",
        request_object={
            "rules": [
                {"apiGroups": [""], "resources": ["pods", "pods/exec"], "verbs": ["get"]},
                {"nonResourceURLs": ["/metrics"], "verbs": ["get", "list"]},
            ]
        },
    )
    assert get("ka.req.role.rules.verbs", ev) == ["get", "get", "list"]
    assert get("ka.req.role.rules.verbs", ev, 1) == ["get", "list"]
    assert get("ka.req.role.rules.resources", ev) == ["pods", "pods/exec"]
    assert get("ka.req.role.rules.resources", ev, 1) is None
    assert get("ka.req.role.rules.nonResourceURLs", ev) == ["/metrics"]
    assert get("ka.req.role.rules.apiGroups", ev) == [""]
    assert len(get("ka.req.role.rules", ev)) == 2

    b = audit_event(
        "create",
        "clusterrolebindings",
        "b",
        request_object={
            "roleRef": {"kind": "ClusterRole", "name": "edit"},
            "subjects": [
                {"kind": "User", "name": "bob"},
                {"kind": "Group", "name": "devs"},
                {"kind": "ServiceAccount", "name": "ci", "namespace": "build"},
            ],
        },
    )
    assert get("ka.req.binding.role", b) == "edit"
    assert get("ka.req.binding.subjects", b)[0] == '{"kind":"User","name":"bob"}'
    assert get("ka.req.binding.subjects.user_names", b) == ["bob"]
    assert get("ka.req.binding.subjects.group_names", b) == ["devs"]
    assert get("ka.req.binding.subjects.serviceaccount_names", b) == ["ci"]
    assert get("ka.req.binding.subjects.serviceaccount_ns_names", b) == ["build:ci"]
    assert get("ka.req.binding.subject.has_name", b, "bob") == "true"


def test_configmap_and_service() -> None:
    cm = audit_event("create", "configmaps", "cm", request_object={"data": {"k": "v"}})
    assert get("ka.req.configmap.name", cm) == "cm"
    assert get("ka.req.configmap.obj", cm) == '{"k":"v"}'
    svc = audit_event(
        "create",
        "services",
        "s",
        request_object={"spec": {"type": "LoadBalancer", "ports": [{"port": 80}, {"port": 443}]}},
    )
    assert get("ka.req.service.type", svc) == "LoadBalancer"
    assert get("ka.req.service.ports", svc) == ['{"port":80}', '{"port":443}']
    assert get("ka.req.service.ports", svc, 1) == ['{"port":443}']


def test_jevt_and_json_values() -> None:
    ev = audit_event("get", "pods", "web", annotations={"a/b": "slash", "m~n": "tilde"})
    assert get("jevt.value", ev, "/stage") == "ResponseComplete"
    assert get("json.value", ev, "/user/groups/1") == "system:authenticated"
    assert get("jevt.value", ev, "/user/groups") == '["system:masters","system:authenticated"]'
    assert get("jevt.value", ev, "/responseStatus/code") == "200"
    assert get("jevt.value", ev, "/annotations/a~1b") == "slash"
    assert get("jevt.value", ev, "/annotations/m~0n") == "tilde"
    assert get("jevt.value", ev, "/nope/x") is None
    assert get("jevt.value", ev, "/user/groups/7") is None
    assert get("jevt.rawtime", ev) == str(TS_NS)
    assert get("jevt.obj", ev).startswith('{\n  "kind": "Event",\n')


def test_evt_fields() -> None:
    ev = as_event(audit_event("get", "pods", "web"))
    ev.num = 42
    assert get("evt.num", ev) == 42
    assert get("evt.rawtime", ev) == TS_NS
    assert get("evt.time.iso8601", ev) == "2026-11-25T10:00:00.123456789Z"
    assert get("evt.source", ev) == "k8s_audit"
    assert get("evt.pluginname", ev) == "k8saudit"
    assert get("evt.plugininfo", ev).startswith('{"kind":"Event"')


def test_non_audit_json_has_no_ka_values() -> None:
    ev = JsonEvent({"kind": "Event", "verb": "get"}, 1)
    assert get("ka.verb", ev) is None
    assert get("jevt.value", ev, "/verb") == "get"


@pytest.mark.parametrize(
    ("condition", "matches"),
    [
        (
            "ka.req.pod.containers.image.repository in (registry.example.com/team/app, busybox)",
            True,
        ),
        ("ka.req.pod.containers.image.repository in (busybox)", False),
        ("ka.req.pod.containers.privileged intersects (true)", True),
        ("ka.req.pod.volumes.hostpath intersects (/proc, /etc/kubernetes)", True),
        ("ka.req.pod.containers.image[1] in (busybox)", True),
        ("ka.req.pod.containers.image[0] in (busybox)", False),
        ("ka.req.pod.initContainers.privileged exists", False),
        ("ka.req.pod.host_network intersects (true)", True),
        ("ka.req.pod.host_pid intersects (true)", False),
        ("ka.req.volume.hostpath[/etc*] = true", True),
        ("jevt.value[/requestObject/spec/hostNetwork] = true", True),
        ("ka.req.pod.containers.add_capabilities intersects (SYS_ADMIN, NET_ADMIN)", True),
    ],
)
def test_conditions_on_fields(condition: str, matches: bool) -> None:
    engine = Engine([SPEC])
    rules = f"""
- rule: probe
  desc: d
  condition: {condition}
  output: hit
  priority: INFO
  source: k8s_audit
"""
    outcome = engine.load_rules(contents=[("probe.yaml", rules)])
    assert outcome.successful, [str(d) for r in outcome.results for d in r.errors]
    assert bool(engine.process(as_event(POD), "k8s_audit")) is matches


def test_unknown_field_fails_to_load() -> None:
    engine = Engine([SPEC])
    rules = """
- rule: probe
  desc: d
  condition: ka.no.such.field = x
  output: hit
  priority: INFO
  source: k8s_audit
"""
    assert not engine.load_rules(contents=[("probe.yaml", rules)]).successful


def test_event_time_of_reads_the_timestamps_of_hand_made_events() -> None:
    assert SPEC.event_time_of is not None
    raw = audit_event("get", "pods", "web")
    assert SPEC.event_time_of(JsonEvent(raw)) == TS_NS
    del raw["stageTimestamp"]
    assert SPEC.event_time_of(JsonEvent(raw)) == 1795600800100000000
    assert SPEC.event_time_of(JsonEvent(raw, ts=7)) == 7
    assert SPEC.event_time_of(JsonEvent([1, 2])) == 0
