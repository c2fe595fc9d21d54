"""Container metadata from the ``container`` events libsinsp writes into captures."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from lanner.sources.syscall.containers.capture import (
    info_from_container_json,
    remember_containers,
)
from lanner.sources.syscall.containers.store import MetadataStore
from lanner.sources.syscall.event import Event
from lanner.sources.syscall.event_table import PPME_CONTAINER_JSON_2_E, PPME_CONTAINER_JSON_E

FULL = "3ad7b26ded6d8e7e23da7d48fe889434573036c27ae5a74837233de441c3601e"

# the keys of sinsp_container_manager::container_to_json (newer libsinsp)
DOC = {
    "container": {
        "id": FULL[:12],
        "full_id": FULL,
        "type": 0,
        "name": "web",
        "image": "nginx:1.25",
        "imageid": "4b3a1f2c9d8e",
        "imagerepo": "nginx",
        "imagetag": "1.25",
        "imagedigest": "",
        "privileged": True,
        "Mounts": [
            {
                "Source": "/proc",
                "Destination": "/host/proc",
                "Mode": "ro",
                "RW": False,
                "Propagation": "rprivate",
            }
        ],
        "labels": {"io.kubernetes.pod.name": "web-1", "io.kubernetes.pod.namespace": "shop"},
        "Healthcheck": {"exe": "curl", "args": ["-f", "localhost"]},
        "ip": "172.17.0.2",
        "cni_json": "",
        "created_time": 1764061200,
        "lookup_state": 1,
    }
}


def _container_event(text: str, etype: int = PPME_CONTAINER_JSON_2_E) -> Event:
    data = text.encode() + b"\0"
    large = etype == PPME_CONTAINER_JSON_2_E
    buf = struct.pack("<I" if large else "<H", len(data)) + data
    return Event(0, 1, 1, etype, 1, buf, 0, len(buf), large)


def test_container_json() -> None:
    info = info_from_container_json(json.dumps(DOC))
    assert info is not None
    assert (info.id, info.full_id, info.name, info.runtime) == (FULL[:12], FULL, "web", "docker")
    assert (info.image_repository, info.image_tag, info.image_digest) == ("nginx", "1.25", None)
    assert info.privileged is True
    assert [(m.source, m.dest, m.rw) for m in info.mounts] == [("/proc", "/host/proc", False)]
    assert (info.pod_name, info.pod_namespace) == ("web-1", "shop")
    assert info.healthcheck == ["curl", "-f", "localhost"]
    assert info.ip == "172.17.0.2" and info.start_ts == 1764061200 * 10**9


def test_older_json_and_garbage() -> None:
    old = {"container": {"id": "0123456789ab", "type": 6, "name": "api", "ip": "0.0.0.0"}}
    info = info_from_container_json(json.dumps(old))
    assert info is not None and info.runtime == "cri" and info.ip is None
    for bad in ("", "{", "[]", '{"container": 3}', '{"container": {"name": "x"}}'):
        assert info_from_container_json(bad) is None


def test_container_events_fill_the_store() -> None:
    store = MetadataStore()
    events = [
        _container_event(json.dumps(DOC)),
        _container_event("not json", PPME_CONTAINER_JSON_E),
        _container_event(json.dumps({"container": {"id": "0123456789ab", "name": "old"}}), 272),
    ]
    assert list(remember_containers(events, store)) == events  # passed through, in order
    assert store.get(FULL[:12]).name == "web"
    assert store.get("0123456789ab").name == "old"


def test_replayed_capture_fills_the_store(tmp_path: Path) -> None:
    from lanner.app.replay_progress import ScapReplay
    from lanner.sources.syscall.scap.writer import ScapWriter

    doc = json.loads(json.dumps(DOC))
    doc["container"]["id"] = "feedfacecafe"
    path = tmp_path / "containers.scap"
    with ScapWriter(path) as w:
        w.event(_container_event(json.dumps(doc)))
    store = MetadataStore()
    events = list(ScapReplay(path, None, store=store))  # what ``lanner run -e`` iterates
    assert len(events) == 1
    info = store.get("feedfacecafe")
    assert info is not None and info.name == "web"
