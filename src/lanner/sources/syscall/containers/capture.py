"""Container metadata carried by capture files.

libsinsp writes what it knows of each container into a capture as a ``container`` event
(``PPME_CONTAINER_JSON_E`` / ``PPME_CONTAINER_JSON_2_E``) whose one parameter is the JSON of
``sinsp_container_manager::container_to_json``: ``{"container": {"id", "type", "name",
"image", "imageid", "imagerepo", "imagetag", "imagedigest", "privileged", "Mounts": [...],
"ip", ...}}``, newer versions adding ``full_id``, ``labels``, ``cni_json``,
``created_time``, ``Healthcheck`` / ``LivenessProbe`` / ``ReadinessProbe``
(``{"exe", "args"}``). Replaying such a capture fills the metadata cache from them, so
``container.*`` and ``k8s.*`` fields have values without asking any runtime.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from ..event_table import PPME_CONTAINER_JSON_2_E, PPME_CONTAINER_JSON_E
from .info import ContainerInfo, Mount
from .store import MetadataStore

CONTAINER_EVENTS = (PPME_CONTAINER_JSON_E, PPME_CONTAINER_JSON_2_E)

# sinsp_container_type
_TYPES = {
    0: "docker",
    1: "lxc",
    2: "libvirt-lxc",
    3: "mesos",
    4: "rkt",
    5: "custom",
    6: "cri",
    7: "containerd",
    8: "cri-o",
    9: "bpm",
    10: "static",
    11: "podman",
}


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _probe(doc: dict[str, Any], key: str) -> list[str]:
    probe = doc.get(key)
    if not isinstance(probe, dict) or not probe.get("exe"):
        return []
    args = probe.get("args")
    return (
        [str(probe["exe"]), *(str(a) for a in args)]
        if isinstance(args, list)
        else [str(probe["exe"])]
    )


def info_from_container_json(text: str | bytes) -> ContainerInfo | None:
    """A ContainerInfo from libsinsp's container JSON; None when it is not one."""
    if isinstance(text, bytes):
        text = text.rstrip(b"\0").decode("utf-8", "replace")
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    c = doc.get("container") if isinstance(doc, dict) else None
    if not isinstance(c, dict) or not c.get("id"):
        return None
    labels_raw = c.get("labels")
    labels = {str(k): str(v) for k, v in labels_raw.items()} if isinstance(labels_raw, dict) else {}
    mounts = [
        Mount(
            source=str(m.get("Source", "")),
            dest=str(m.get("Destination", "")),
            mode=str(m.get("Mode", "")),
            rw=bool(m.get("RW", True)),
            propagation=str(m.get("Propagation", "")),
        )
        for m in c.get("Mounts") or []
        if isinstance(m, dict)
    ]
    created = c.get("created_time")
    ip = _text(c.get("ip"))
    cni = _text(c.get("cni_json"))
    ctype = c.get("type")
    privileged = c.get("privileged")
    return ContainerInfo(
        id=str(c["id"])[:12],
        full_id=_text(c.get("full_id")),
        name=_text(c.get("name")),
        image=_text(c.get("image")),
        image_repository=_text(c.get("imagerepo")),
        image_tag=_text(c.get("imagetag")),
        image_digest=_text(c.get("imagedigest")),
        image_id=_text(c.get("imageid")),
        runtime=_TYPES.get(ctype, str(ctype)) if isinstance(ctype, int) else _text(ctype),
        labels=labels,
        privileged=privileged if isinstance(privileged, bool) else None,
        mounts=mounts,
        start_ts=int(created) * 1_000_000_000 if isinstance(created, int) and created else None,
        healthcheck=_probe(c, "Healthcheck"),
        liveness_probe=_probe(c, "LivenessProbe"),
        readiness_probe=_probe(c, "ReadinessProbe"),
        ip=None if ip in (None, "0.0.0.0") else ip,
        cni_json=cni,
        pod_name=labels.get("io.kubernetes.pod.name"),
        pod_namespace=labels.get("io.kubernetes.pod.namespace"),
        pod_uid=labels.get("io.kubernetes.pod.uid"),
        pod_cni_json=cni,
    )


def remember_containers(events: Iterable[Any], store: MetadataStore) -> Iterator[Any]:
    """Pass ``events`` through, putting the metadata of their container events in ``store``
    (before the events that follow are evaluated)."""
    for ev in events:
        if ev.type in CONTAINER_EVENTS and ev.nparams:
            raw = ev.raw(0)
            info = info_from_container_json(raw) if raw else None
            if info is not None:
                store.put(info)
        yield ev
