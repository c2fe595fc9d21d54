"""The k8smeta cache on its own (the watch against a real API server is in
tests/deploy/test_k8smeta.py): pod lookup by uid and container id, the owner chain,
selecting Services, watch events, and no answers while a kind is out of sync."""

from __future__ import annotations

from lanner.sources.k8smeta.cache import (
    KINDS,
    K8sMetaCache,
    Obj,
    Owner,
    container_id_of,
    pod_uid_from_cgroups,
)

UID = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
CID = "a" * 64


def _filled() -> K8sMetaCache:
    cache = K8sMetaCache()
    dep = Obj("web", "dep-1", "shop", {"app": "web"})
    rs = Obj("web-5d4f", "rs-1", "shop", owners=(Owner("Deployment", "dep-1", "web"),))
    pod = Obj("web-5d4f-x", UID, "shop", {"app": "web", "tier": "front"},
              (Owner("ReplicaSet", "rs-1", "web-5d4f"),), ip="10.0.0.5", node="n1",
              container_ids=(CID[:12],))  # fmt: skip
    svcs = [
        Obj("web", "svc-1", "shop", selector={"app": "web"}),
        Obj("front", "svc-2", "shop", selector={"tier": "front", "app": "web"}),
        Obj("db", "svc-3", "shop", selector={"app": "db"}),
        Obj("other-ns", "svc-4", "bank", selector={"app": "web"}),
        Obj("headless", "svc-5", "shop"),  # no selector: selects nothing
    ]
    for kind, objs in (("pods", [pod]), ("namespaces", [Obj("shop", "ns-1")]),
                       ("replicasets", [rs]), ("deployments", [dep]),
                       ("replicationcontrollers", []), ("services", svcs)):  # fmt: skip
        cache.replace(kind, objs)
    return cache


def test_pod_uid_from_both_cgroup_drivers_and_container_ids() -> None:
    assert pod_uid_from_cgroups([("cpu", f"/kubepods/besteffort/pod{UID}/{CID}")]) == UID
    systemd = (
        f"/kubepods.slice/kubepods-pod{UID.replace('-', '_')}.slice/cri-containerd-{CID}.scope"
    )
    assert pod_uid_from_cgroups([("", systemd)]) == UID
    assert pod_uid_from_cgroups([("cpu", f"/docker/{CID}")]) is None
    assert container_id_of(f"containerd://{CID}") == CID[:12]
    assert container_id_of(f"cri-o://{CID}") == CID[:12] and container_id_of("") is None


def test_view_by_uid_or_container_with_owners_and_services() -> None:
    cache = _filled()
    view = cache.lookup(UID)
    assert view is not None and view is cache.lookup(None, CID[:12])
    assert view.namespace is not None and view.namespace.uid == "ns-1"
    assert view.replicaset is not None and view.replicaset.name == "web-5d4f"
    assert view.deployment is not None and view.deployment.name == "web"
    assert view.rc is None
    assert [s.name for s in view.services] == ["front", "web"]
    assert cache.lookup("no-such-uid") is None and cache.lookup(None, "b" * 12) is None


def test_watch_events_and_out_of_sync() -> None:
    cache = _filled()
    pod = cache.lookup(UID).pod  # type: ignore[union-attr]
    relabelled = Obj(pod.name, UID, "shop", {"app": "db"}, pod.owners,
                     container_ids=pod.container_ids)  # fmt: skip
    cache.apply("pods", "MODIFIED", relabelled)
    assert [s.name for s in cache.lookup(UID).services] == ["db"]  # type: ignore[union-attr]
    cache.out_of_sync("services")
    assert not cache.available and cache.lookup(UID) is None  # <NA>, not stale
    cache.replace("services", [])
    assert cache.lookup(UID) is not None
    cache.apply("pods", "DELETED", relabelled)
    assert cache.lookup(UID) is None and cache.lookup(None, CID[:12]) is None
    assert set(cache.counts()) == set(KINDS)
