"""Kubernetes objects a node's events need (pods, namespaces, owners, services), kept
up to date by a watch (``watch.py``) and read on the event path without waiting.

A pod is found by its uid (from the thread's cgroups, as Falco's k8smeta plugin does) or
by one of its containers' ids (``status.containerStatuses[].containerID``). What the
event fields read is a :class:`PodView`: the pod, its namespace, its ReplicaSet and that
ReplicaSet's Deployment, its ReplicationController and the Services selecting it.
Views are built once per pod and change generation; while any watched kind is out of
sync with the API server (down, not listed yet) lookups answer None, so the fields are
``<NA>`` rather than stale.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

KINDS = ("pods", "namespaces", "replicasets", "deployments", "replicationcontrollers", "services")

_POD_UID = re.compile(
    r"pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})"
)
_UID_CACHE: dict[str, str] = {}


def pod_uid_from_cgroups(cgroups: Iterable[tuple[str, str]] | None) -> str | None:
    """The pod uid in a kubelet cgroup path (``.../pod<uid>/...`` with the cgroupfs driver,
    ``...-pod<uid with _>.slice/...`` with systemd's), else None."""
    for _subsys, path in cgroups or ():
        uid = _UID_CACHE.get(path)
        if uid is None:
            m = _POD_UID.search(path)
            uid = m.group(1).replace("_", "-") if m else ""
            if len(_UID_CACHE) >= 4096:
                _UID_CACHE.clear()
            _UID_CACHE[path] = uid
        if uid:
            return uid
    return None


@dataclass(frozen=True, slots=True)
class Owner:
    """An ownerReference: kind, uid, name."""

    kind: str
    uid: str
    name: str


@dataclass(frozen=True, slots=True)
class Obj:
    """The metadata of one object (and what pods and services add to it)."""

    name: str
    uid: str
    namespace: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    owners: tuple[Owner, ...] = ()
    # pods
    ip: str | None = None
    node: str | None = None
    container_ids: tuple[str, ...] = ()  # 12-char ids, as the thread table has them
    # services
    selector: dict[str, str] = field(default_factory=dict)

    def owner(self, kind: str) -> Owner | None:
        """The first owner of that kind."""
        return next((o for o in self.owners if o.kind == kind), None)


@dataclass(frozen=True, slots=True)
class PodView:
    """A pod and the objects around it, as the fields read them."""

    pod: Obj
    namespace: Obj | None
    replicaset: Obj | None
    deployment: Obj | None
    rc: Obj | None
    services: tuple[Obj, ...]


def container_id_of(raw: str | None) -> str | None:
    """``containerd://<64 hex>`` (any runtime prefix) -> the 12-char id."""
    if not raw:
        return None
    cid = raw.split("://", 1)[-1]
    return cid[:12] or None


class K8sMetaCache:
    """The watched objects by kind; writers are the watch threads, readers the fields."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objs: dict[str, dict[str, Obj]] = {k: {} for k in KINDS}  # kind -> uid -> obj
        self._by_container: dict[str, str] = {}  # container id -> pod uid
        self._namespaces: dict[str, Obj] = {}  # name -> namespace
        self._synced: set[str] = set()  # kinds listed and not failing since
        self._views: dict[str, PodView | None] = {}
        self.generation = 0

    # writers (watch threads)

    def replace(self, kind: str, objs: Iterable[Obj]) -> None:
        """A fresh list of every object of ``kind``: replaces what was known; in sync."""
        with self._lock:
            self._objs[kind] = {o.uid: o for o in objs}
            if kind == "pods":
                self._by_container = {
                    cid: p.uid for p in self._objs[kind].values() for cid in p.container_ids
                }
            if kind == "namespaces":
                self._namespaces = {o.name: o for o in self._objs[kind].values()}
            self._synced.add(kind)
            self._changed()

    def apply(self, kind: str, change: str, obj: Obj) -> None:
        """One watch event: ADDED, MODIFIED or DELETED."""
        with self._lock:
            objs = self._objs[kind]
            old = objs.pop(obj.uid, None)
            if kind == "pods" and old is not None:
                for cid in old.container_ids:
                    self._by_container.pop(cid, None)
            if kind == "namespaces" and old is not None:
                self._namespaces.pop(old.name, None)
            if change != "DELETED":
                objs[obj.uid] = obj
                if kind == "pods":
                    self._by_container.update(dict.fromkeys(obj.container_ids, obj.uid))
                if kind == "namespaces":
                    self._namespaces[obj.name] = obj
            self._changed()

    def out_of_sync(self, kind: str) -> None:
        """The watch of ``kind`` failed: no answers until it is listed again."""
        with self._lock:
            self._synced.discard(kind)
            self._changed()

    def _changed(self) -> None:
        # with the lock held
        self.generation += 1
        self._views = {}

    # readers (event path)

    @property
    def available(self) -> bool:
        """Every kind is listed and its watch has not failed since."""
        return len(self._synced) == len(KINDS)

    def synced(self) -> frozenset[str]:
        """The kinds in sync now."""
        return frozenset(self._synced)

    def counts(self) -> dict[str, int]:
        """Objects cached, by kind."""
        return {k: len(v) for k, v in self._objs.items()}

    def lookup(self, pod_uid: str | None, container_id: str | None = None) -> PodView | None:
        """The view of the pod with that uid, else of the pod running that container;
        None when unknown or while out of sync with the API server. Never blocks on I/O."""
        if len(self._synced) != len(KINDS):
            return None
        uid = pod_uid if pod_uid and pod_uid in self._objs["pods"] else None
        if uid is None and container_id:
            uid = self._by_container.get(container_id)
        if uid is None:
            return None
        views = self._views
        if uid in views:
            return views[uid]
        with self._lock:
            view = self._view(uid)
            if views is self._views:  # nothing changed meanwhile
                views[uid] = view
        return view

    def _view(self, uid: str) -> PodView | None:
        # with the lock held
        pod = self._objs["pods"].get(uid)
        if pod is None:
            return None
        rs = self._owned("replicasets", pod.owner("ReplicaSet"))
        deployment = self._owned("deployments", rs.owner("Deployment") if rs else None)
        rc = self._owned("replicationcontrollers", pod.owner("ReplicationController"))
        services = tuple(
            s
            for s in self._objs["services"].values()
            if s.namespace == pod.namespace
            and s.selector
            and all(pod.labels.get(k) == v for k, v in s.selector.items())
        )
        return PodView(
            pod, self._namespaces.get(pod.namespace), rs, deployment, rc,
            tuple(sorted(services, key=lambda s: s.name)),
        )  # fmt: skip

    def _owned(self, kind: str, owner: Owner | None) -> Obj | None:
        if owner is None:
            return None
        return self._objs[kind].get(owner.uid)
