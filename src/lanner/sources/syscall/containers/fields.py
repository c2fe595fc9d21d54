"""``container.*`` and ``k8s.*`` fields of syscall events, read from the metadata store."""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable
from typing import Any

from lanner.engine.fields import ArgKind, Field, FieldType

from .info import ContainerInfo
from .store import HOST, MetadataStore

S, N, B = FieldType.STRING, FieldType.NUMBER, FieldType.BOOL
NONE = "NONE"  # libsinsp's value of a probe field for a known container without that probe


def _meta_field(
    name: str,
    ftype: FieldType,
    desc: str,
    get: Callable[[ContainerInfo, Any], Any],
    store: MetadataStore | None,
    *,
    arg: ArgKind = ArgKind.NONE,
    required: bool = False,
    is_list: bool = False,
    list_without_arg: bool = False,
    host_value: Any = None,
) -> Field:
    def extract(event: Any, arg_value: Any) -> Any:
        thread = getattr(event, "thread", None)
        if thread is None:
            return None
        cid = thread.container_id
        if cid == HOST:
            return host_value
        info = store.get(cid) if store is not None else None
        return None if info is None else get(info, arg_value)

    return Field(
        name,
        ftype,
        desc,
        extract,
        arg=arg,
        arg_required=required,
        is_list=is_list,
        list_without_arg=list_without_arg,
    )


def _label(labels: dict[str, str], key: Any) -> str | None:
    return labels.get(str(key)) if key is not None else None


def _labels_text(labels: dict[str, str]) -> str | None:
    return ", ".join(f"{k}:{v}" for k, v in sorted(labels.items())) if labels else None


def metadata_fields(store: MetadataStore | None = None) -> list[Field]:
    """The metadata fields, bound to ``store`` (None: no metadata, containers have none)."""
    st = store

    def f(name: str, ftype: FieldType, desc: str, get: Callable, **kw: Any) -> Field:
        return _meta_field(name, ftype, desc, get, st, **kw)

    return [
        f("container.name", S, "container name", lambda i, a: i.name, host_value=HOST),
        f(
            "container.full_id",
            S,
            "the full (64 hex) container id",
            lambda i, a: i.full_id or i.id,
            host_value=HOST,
        ),
        f("container.image", S, "image reference", lambda i, a: i.image, host_value=None),
        f("container.image.id", S, "image id (12 chars)", lambda i, a: i.image_id),
        f("container.image.repository", S, "image repository", lambda i, a: i.image_repository),
        f("container.image.tag", S, "image tag", lambda i, a: i.image_tag),
        f("container.image.digest", S, "image digest", lambda i, a: i.image_digest),
        f("container.type", S, "container runtime", lambda i, a: i.runtime, host_value="host"),
        f("container.privileged", B, "started privileged", lambda i, a: i.privileged),
        f(
            "container.mounts",
            S,
            "mounts as source:dest:mode:rw:propagation, comma separated",
            lambda i, a: ",".join(m.text() for m in i.mounts) or None,
        ),
        f(
            "container.mount",
            S,
            "the mount at an index or with a source path",
            lambda i, a: _mount(i, a),
            arg=ArgKind.KEY,
            required=True,
        ),
        f(
            "container.mount.source",
            S,
            "source of the mount at [index] or with [destination glob]; no index: all (list)",
            lambda i, a: _mount_side(i, a, "source"),
            arg=ArgKind.KEY,
            list_without_arg=True,
        ),
        f(
            "container.mount.dest",
            S,
            "destination of the mount at [index] or with [source glob]; no index: all (list)",
            lambda i, a: _mount_side(i, a, "dest"),
            arg=ArgKind.KEY,
            list_without_arg=True,
        ),
        f(
            "container.label",
            S,
            "a container label",
            lambda i, a: _label(i.labels, a),
            arg=ArgKind.KEY,
            required=True,
        ),
        f("container.labels", S, "all labels as key:value", lambda i, a: _labels_text(i.labels)),
        f("container.start_ts", N, "start time (ns)", lambda i, a: i.start_ts),
        f(
            "container.healthcheck",
            S,
            "health check command",
            lambda i, a: " ".join(i.healthcheck) or NONE,
        ),
        f(
            "container.liveness_probe",
            S,
            "the pod spec's liveness probe command",
            lambda i, a: " ".join(i.liveness_probe) or NONE,
        ),
        f(
            "container.readiness_probe",
            S,
            "the pod spec's readiness probe command",
            lambda i, a: " ".join(i.readiness_probe) or NONE,
        ),
        _duration_field(st),
        f("container.ip", S, "container IP address", lambda i, a: i.ip or "0.0.0.0"),
        f("container.cni.json", S, "CNI result JSON", lambda i, a: i.cni_json),
        f("container.ports", S, "published ports", lambda i, a: ",".join(i.ports) or None),
        f("k8s.pod.name", S, "pod name", lambda i, a: i.pod_name),
        f("k8s.ns.name", S, "pod namespace", lambda i, a: i.pod_namespace),
        f("k8s.pod.uid", S, "pod uid", lambda i, a: i.pod_uid),
        f("k8s.pod.id", S, "pod uid (legacy name)", lambda i, a: i.pod_uid),
        f(
            "k8s.pod.label",
            S,
            "a pod label",
            lambda i, a: _label(i.pod_labels or i.labels, a),
            arg=ArgKind.KEY,
            required=True,
        ),
        f("k8s.pod.labels", S, "all pod labels", lambda i, a: _labels_text(i.pod_labels)),
        f("k8s.pod.ip", S, "pod IP", lambda i, a: i.pod_ip),
        f("k8s.pod.cni.json", S, "CNI result JSON", lambda i, a: i.pod_cni_json),
    ]


def _duration_field(store: MetadataStore | None) -> Field:
    """``container.duration``: ns from the container's start to the event (or now)."""

    def extract(event: Any, arg_value: Any) -> Any:
        thread = getattr(event, "thread", None)
        if thread is None or thread.container_id == HOST or store is None:
            return None
        info = store.get(thread.container_id)
        if info is None or not info.start_ts:
            return None
        now = getattr(event, "ts", 0) or time.time_ns()
        return max(0, now - info.start_ts)

    return Field("container.duration", N, "ns since the container started", extract)


def _mount_side(info: ContainerInfo, key: Any, side: str) -> Any:
    """All sources/destinations, or the one of the mount at an index / matching a glob."""
    if key is None:
        return [getattr(m, side) for m in info.mounts]
    text = str(key)
    if text.isdigit():
        i = int(text)
        return getattr(info.mounts[i], side) if i < len(info.mounts) else None
    other = "dest" if side == "source" else "source"
    for m in info.mounts:
        if fnmatch.fnmatchcase(getattr(m, other), text):
            return getattr(m, side)
    return None


def _mount(info: ContainerInfo, key: Any) -> str | None:
    text = str(key)
    if text.isdigit():
        i = int(text)
        return info.mounts[i].text() if i < len(info.mounts) else None
    for m in info.mounts:
        if m.source == text or (text.endswith("*") and m.source.startswith(text[:-1])):
            return m.text()
    return None
