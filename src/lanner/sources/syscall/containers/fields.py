"""``container.*`` and ``k8s.*`` fields of syscall events, read from the metadata store."""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lanner.engine.fields import ArgKind, Field, FieldType

from .info import ContainerInfo
from .store import HOST, MetadataStore

if TYPE_CHECKING:  # the k8smeta cache is imported when a watch fills store.k8s
    from lanner.sources.k8smeta.cache import Obj, PodView

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

    def f(
        name: str, ftype: FieldType, desc: str, get: Callable[[ContainerInfo, Any], Any], **kw: Any
    ) -> Field:
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
        *k8s_fields(st),
    ]


def _k8s_field(
    name: str,
    ftype: FieldType,
    desc: str,
    from_api: Callable[[PodView, Any], Any] | None,
    from_runtime: Callable[[ContainerInfo, Any], Any] | None,
    store: MetadataStore | None,
    **kw: Any,
) -> Field:
    """A field read from the API server's view of the thread's pod (when the k8smeta
    watch runs and knows the pod), else from the container runtime's metadata."""

    def extract(event: Any, arg_value: Any) -> Any:
        thread = getattr(event, "thread", None)
        if thread is None or store is None:
            return None
        cid = thread.container_id
        meta = store.k8s
        if meta is not None and from_api is not None:
            from lanner.sources.k8smeta.cache import pod_uid_from_cgroups

            view = meta.lookup(pod_uid_from_cgroups(thread.cgroups), cid if cid != HOST else None)
            if view is not None:
                return from_api(view, arg_value)
        if cid == HOST or from_runtime is None:
            return None
        info = store.get(cid)
        return None if info is None else from_runtime(info, arg_value)

    return Field(
        name, ftype, desc, extract,
        arg=kw.get("arg", ArgKind.NONE), arg_required=kw.get("required", False),
        is_list=kw.get("is_list", False),
    )  # fmt: skip


def _obj_label(obj: Obj | None, key: Any) -> str | None:
    return None if obj is None or key is None else obj.labels.get(str(key))


def _obj_labels(obj: Obj | None) -> str | None:
    return None if obj is None else _labels_text(obj.labels)


def _label_list(obj: Obj | None) -> list[str] | None:
    return None if obj is None else [f"{k}:{v}" for k, v in sorted(obj.labels.items())] or None


def k8s_fields(store: MetadataStore | None) -> list[Field]:
    """``k8s.*`` (Falco's names: API server first, then the runtime's labels) and
    ``k8smeta.*`` (the k8smeta plugin's names: API server only)."""

    def k(
        name: str, ftype: FieldType, desc: str, api: Any, runtime: Any = None, **kw: Any
    ) -> Field:
        return _k8s_field(name, ftype, desc, api, runtime, store, **kw)

    key = {"arg": ArgKind.KEY, "required": True}
    fields = [
        k("k8s.pod.name", S, "pod name", lambda v, a: v.pod.name, lambda i, a: i.pod_name),
        k("k8s.pod.id", S, "pod uid (legacy name)", lambda v, a: v.pod.uid, lambda i, a: i.pod_uid),
        k("k8s.pod.uid", S, "pod uid", lambda v, a: v.pod.uid, lambda i, a: i.pod_uid),
        k("k8s.pod.label", S, "a pod label", lambda v, a: _obj_label(v.pod, a),
          lambda i, a: _label(i.pod_labels or i.labels, a), **key),
        k("k8s.pod.labels", S, "all pod labels as key:value, comma separated",
          lambda v, a: _obj_labels(v.pod), lambda i, a: _labels_text(i.pod_labels)),
        k("k8s.pod.ip", S, "pod IP", lambda v, a: v.pod.ip, lambda i, a: i.pod_ip),
        k("k8s.pod.cni.json", S, "CNI result JSON (container runtime)", None,
          lambda i, a: i.pod_cni_json),
        k("k8s.ns.name", S, "pod namespace", lambda v, a: v.pod.namespace,
          lambda i, a: i.pod_namespace),
        k("k8s.node.name", S, "the pod's node (spec.nodeName)", lambda v, a: v.pod.node),
    ]  # fmt: skip
    parts: list[tuple[str, str, Callable[[PodView], Obj | None]]] = [
        ("ns", "namespace", lambda v: v.namespace),
        ("rc", "replication controller", lambda v: v.rc),
        ("rs", "replica set", lambda v: v.replicaset),
        ("deployment", "deployment", lambda v: v.deployment),
    ]
    for short, what, get in parts:
        if short != "ns":
            fields.append(k(f"k8s.{short}.name", S, f"{what} name",
                            lambda v, a, g=get: _attr(g(v), "name")))  # fmt: skip
        fields += [
            k(f"k8s.{short}.id", S, f"{what} uid", lambda v, a, g=get: _attr(g(v), "uid")),
            k(f"k8s.{short}.label", S, f"a {what} label",
              lambda v, a, g=get: _obj_label(g(v), a), **key),
            k(f"k8s.{short}.labels", S, f"all {what} labels as key:value, comma separated",
              lambda v, a, g=get: _obj_labels(g(v))),
        ]  # fmt: skip
    lst = {"is_list": True}
    fields += [
        k("k8s.svc.name", S, "names of the services selecting the pod",
          lambda v, a: [s.name for s in v.services] or None, **lst),
        k("k8s.svc.id", S, "uids of the services selecting the pod",
          lambda v, a: [s.uid for s in v.services] or None, **lst),
        k("k8s.svc.label", S, "a label of the services selecting the pod",
          lambda v, a: [x for s in v.services if (x := _obj_label(s, a))] or None,
          **key, **lst),
        k("k8s.svc.labels", S, "labels of the services selecting the pod",
          lambda v, a: [x for s in v.services if (x := _obj_labels(s))] or None, **lst),
    ]  # fmt: skip
    # the k8smeta plugin's own names (labels are lists of key:value there)
    meta: list[tuple[str, str, Callable[[PodView], Obj | None]]] = [
        ("pod", "pod", lambda v: v.pod),
        ("ns", "namespace", lambda v: v.namespace),
        ("deployment", "deployment", lambda v: v.deployment),
        ("rs", "replica set", lambda v: v.replicaset),
        ("rc", "replication controller", lambda v: v.rc),
    ]
    for short, what, get in meta:
        fields += [
            k(f"k8smeta.{short}.name", S, f"{what} name", lambda v, a, g=get: _attr(g(v), "name")),
            k(f"k8smeta.{short}.uid", S, f"{what} uid", lambda v, a, g=get: _attr(g(v), "uid")),
            k(f"k8smeta.{short}.label", S, f"a {what} label",
              lambda v, a, g=get: _obj_label(g(v), a), **key),
            k(f"k8smeta.{short}.labels", S, f"{what} labels as key:value",
              lambda v, a, g=get: _label_list(g(v)), **lst),
        ]  # fmt: skip
    fields += [
        k("k8smeta.pod.ip", S, "pod IP", lambda v, a: v.pod.ip),
        k("k8smeta.svc.name", S, "names of the services selecting the pod",
          lambda v, a: [s.name for s in v.services] or None, **lst),
        k("k8smeta.svc.uid", S, "uids of the services selecting the pod",
          lambda v, a: [s.uid for s in v.services] or None, **lst),
        k("k8smeta.svc.label", S, "a label of the services selecting the pod",
          lambda v, a: [x for s in v.services if (x := _obj_label(s, a))] or None,
          **key, **lst),
        k("k8smeta.svc.labels", S, "labels of the services selecting the pod",
          lambda v, a: [x for s in v.services for x in _label_list(s) or ()] or None, **lst),
    ]  # fmt: skip
    return fields


def _attr(obj: Obj | None, name: str) -> str | None:
    return None if obj is None else getattr(obj, name)


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
