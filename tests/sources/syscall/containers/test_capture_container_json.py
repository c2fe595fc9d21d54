"""container_json: the inverse of info_from_container_json, and the container event."""

from __future__ import annotations

import json

import pytest

from lanner.sources.syscall.containers.capture import (
    CONTAINER_EVENTS,
    container_event,
    container_json,
    info_from_container_json,
)
from lanner.sources.syscall.containers.info import ContainerInfo, Mount
from lanner.sources.syscall.event_table import PPME_CONTAINER_JSON_2_E

FULL = "3ad7b26ded6d8e7e23da7d48fe889434573036c27ae5a74837233de441c3601e"

DOCKER = ContainerInfo(
    id=FULL[:12],
    full_id=FULL,
    name="web",
    image="nginx:1.25",
    image_repository="nginx",
    image_tag="1.25",
    image_id="4b3a1f2c9d8e",
    runtime="docker",
    labels={"io.kubernetes.pod.name": "web-1", "io.kubernetes.pod.namespace": "shop"},
    privileged=True,
    mounts=[Mount("/proc", "/host/proc", "ro", False, "rprivate"), Mount("/data", "/data")],
    ports=["0.0.0.0:8080->80/tcp"],
    start_ts=1764061200_123456789,
    healthcheck=["curl", "-f", "localhost"],
    liveness_probe=["cat", "/tmp/alive"],
    readiness_probe=["true"],
    ip="172.17.0.2",
    pod_name="web-1",
    pod_namespace="shop",
)

CRI = ContainerInfo(
    id=FULL[:12],
    full_id=FULL,
    name="api",
    image="registry:5000/shop/api:2@sha256:" + "ab" * 32,
    image_repository="registry:5000/shop/api",
    image_tag="2",
    image_digest="sha256:" + "ab" * 32,
    runtime="cri",
    labels={"io.kubernetes.pod.uid": "u-1"},
    privileged=False,
    start_ts=1764061200 * 10**9,
    ip="10.0.0.7",
    cni_json='{"interfaces": []}',
    pod_name="api-7",
    pod_namespace="shop",
    pod_uid="u-1",
    pod_labels={"app": "api"},
    pod_ip="10.0.0.7",
    pod_cni_json='{"interfaces": []}',
)


@pytest.mark.parametrize(
    "info",
    [DOCKER, CRI, ContainerInfo(id="0123456789ab"), ContainerInfo(id="0123456789ab", runtime="x")],
    ids=["docker", "cri", "bare", "unknown-runtime"],
)
def test_round_trip(info: ContainerInfo) -> None:
    assert info_from_container_json(container_json(info)) == info


def test_libsinsp_keys() -> None:
    c = json.loads(container_json(DOCKER))["container"]
    assert (c["id"], c["full_id"], c["type"], c["name"]) == (FULL[:12], FULL, 0, "web")
    assert (c["image"], c["imagerepo"], c["imagetag"], c["imageid"]) == (
        "nginx:1.25",
        "nginx",
        "1.25",
        "4b3a1f2c9d8e",
    )
    assert c["privileged"] is True and c["lookup_state"] == 1
    assert c["created_time"] == 1764061200
    assert c["Mounts"][0] == {
        "Source": "/proc",
        "Destination": "/host/proc",
        "Mode": "ro",
        "RW": False,
        "Propagation": "rprivate",
    }
    assert c["Healthcheck"] == {"exe": "curl", "args": ["-f", "localhost"]}
    assert c["LivenessProbe"] == {"exe": "cat", "args": ["/tmp/alive"]}
    assert c["ip"] == "172.17.0.2" and c["labels"]["io.kubernetes.pod.name"] == "web-1"
    # only what libsinsp's keys cannot say goes in Lanner's object
    assert c["lanner"] == {"ports": ["0.0.0.0:8080->80/tcp"], "start_ts": 1764061200_123456789}
    cri = json.loads(container_json(CRI))["container"]
    assert cri["type"] == 6 and cri["pod_sandbox_labels"] == {"app": "api"}
    assert cri["lanner"] == {
        "pod_name": "api-7",
        "pod_namespace": "shop",
        "pod_ip": "10.0.0.7",
    }


def test_container_event() -> None:
    ev = container_event(DOCKER, ts=5)
    assert (ev.type, ev.tid, ev.ts, ev.nparams) == (PPME_CONTAINER_JSON_2_E, -1, 5, 1)
    assert ev.type in CONTAINER_EVENTS
    raw = ev.raw(0)
    assert raw is not None and raw.endswith(b"\0")
    assert info_from_container_json(raw) == DOCKER
