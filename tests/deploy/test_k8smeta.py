"""k8s.* / k8smeta.* fields of syscall events from a watch of a real kube-apiserver
(tests/deploy/apiserver.py): objects created with the official client, read back through
the fields the rules use, kept up to date by the watch, ``<NA>`` while the API server
cannot be reached and filled again once it can (through a loopback TCP relay the test
cuts and restores).

The event is a thread record as the state engine keeps it (container id and cgroups of a
containerd container of that pod); the same fields in a live ``lanner run`` are checked
by tests/e2e/test_k8smeta_live.py."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes import client

from helpers.tcp_relay import TcpRelay
from lanner.app.prometheus import K8sMetaCollector
from lanner.sources.k8smeta import K8sMetaCache, K8sMetaConfig, K8sMetaWatcher
from lanner.sources.syscall import syscall_source
from lanner.sources.syscall.containers.store import MetadataStore

from . import apiserver, kube_objects
from .helpers import lanner, wait_until

NODE = "node-1"


class Relay(TcpRelay):
    """A loopback TCP relay to the API server that the test can cut and restore."""

    def __init__(self, target: int) -> None:
        super().__init__(target)
        self.up()

    def restore(self) -> None:
        self.up()

    def cut(self) -> None:
        """Close the listener and every relayed connection (the API server 'goes away')."""
        self.down()

    def serve(self, down: socket.socket) -> None:
        up = socket.create_connection(("127.0.0.1", self.target))
        self.track(down, up)
        for a, b in ((down, up), (up, down)):
            threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while chunk := a.recv(65536):
                b.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


@pytest.fixture(scope="module")
def cluster(kube: apiserver.APIServer) -> dict[str, Any]:
    """shop/web-5d4f-x7k2p on node-1 (Deployment web, Services web and all-shop), and a
    pod of another node that node-1's watch must not hold."""
    api = kube_objects.admin_client(kube.kubeconfig("admin"))
    kube_objects.namespace(api, "shop", {"team": "payments"})
    web = kube_objects.deployed_pod(api, "shop", "web", NODE, "10.244.1.5")
    other = kube_objects.deployed_pod(api, "shop", "db", "node-2", "10.244.2.9")
    kube_objects.service(api, "shop", "web", {"app": "web"})
    kube_objects.service(api, "shop", "all-shop", {"tier": "front"})
    kube_objects.service(api, "shop", "db", {"app": "db"})
    return {"api": api, "web": web, "other": other}


@pytest.fixture(scope="module")
def watched(kube: apiserver.APIServer, cluster: dict[str, Any]) -> Iterator[Any]:
    port = int(kube.url.rsplit(":", 1)[1])
    relay = Relay(port)
    cfg_path = kube.kubeconfig("admin")
    relayed = cfg_path.with_name("kubeconfig-relayed")
    relayed.write_text(cfg_path.read_text().replace(kube.url, f"https://127.0.0.1:{relay.port}"))
    cache = K8sMetaCache()
    watcher = K8sMetaWatcher(cache, K8sMetaConfig(node=NODE, kubeconfig=str(relayed)))
    store = MetadataStore()
    store.k8s = cache
    watcher.start()
    try:
        wait_until(lambda: cache.available, 30, "the k8smeta watch to list every kind")
        yield SimpleNamespace(cache=cache, watcher=watcher, relay=relay, store=store,
                              fields=syscall_source(store).fields)  # fmt: skip
    finally:
        watcher.stop()
        relay.cut()
        store.close()


def _event(container_id: str, cgroup: str | None) -> Any:
    cgroups = [("cpu", cgroup)] if cgroup else []
    return SimpleNamespace(thread=SimpleNamespace(container_id=container_id[:12], cgroups=cgroups))


def _get(w: Any, event: Any, name: str, arg: str | None = None) -> Any:
    field, _ = w.fields.resolve(name)
    return field.bind(arg)(event)


def test_fields_of_a_pods_container_come_from_the_api_server(watched: Any, cluster: Any) -> None:
    web = cluster["web"]
    # the kubelet's cgroupfs path carries the pod uid; the systemd one spells it with _
    by_cgroup = _event(web.container_id, f"/kubepods/besteffort/pod{web.uid}/{web.container_id}")
    systemd = _event(
        web.container_id,
        "/kubepods.slice/kubepods-besteffort.slice/"
        f"kubepods-besteffort-pod{web.uid.replace('-', '_')}.slice/"
        f"cri-containerd-{web.container_id}.scope",
    )
    by_container_id = _event(web.container_id, None)  # containerStatuses[].containerID
    ns = client.CoreV1Api(cluster["api"]).read_namespace("shop")
    for event in (by_cgroup, systemd, by_container_id):
        got = {n: _get(watched, event, n) for n in (
            "k8s.pod.name", "k8s.pod.uid", "k8s.pod.id", "k8s.ns.name", "k8s.ns.id",
            "k8s.pod.ip", "k8s.node.name", "k8s.deployment.name", "k8s.rs.name",
            "k8s.rc.name", "k8s.svc.name", "k8smeta.pod.name", "k8smeta.deployment.name",
        )}  # fmt: skip
        assert got == {
            "k8s.pod.name": web.name,
            "k8s.pod.uid": web.uid,
            "k8s.pod.id": web.uid,
            "k8s.ns.name": "shop",
            "k8s.ns.id": ns.metadata.uid,
            "k8s.pod.ip": "10.244.1.5",
            "k8s.node.name": NODE,
            "k8s.deployment.name": "web",
            "k8s.rs.name": "web-5d4f",
            "k8s.rc.name": None,
            "k8s.svc.name": ["all-shop", "web"],  # both select it; "db" does not
            "k8smeta.pod.name": web.name,
            "k8smeta.deployment.name": "web",
        }
    assert _get(watched, by_cgroup, "k8s.ns.label", "team") == "payments"
    assert _get(watched, by_cgroup, "k8s.pod.label", "app") == "web"
    assert _get(watched, by_cgroup, "k8s.deployment.label", "owner") == "shop-team"
    assert (
        _get(watched, by_cgroup, "k8s.pod.labels") == "app:web, pod-template-hash:5d4f, tier:front"
    )
    assert _get(watched, by_cgroup, "k8smeta.ns.labels") == [
        "kubernetes.io/metadata.name:shop",
        "team:payments",
    ] or _get(watched, by_cgroup, "k8smeta.ns.labels") == ["team:payments"]  # 1.20 adds none
    # a pod of another node is not watched; a host process has no pod
    other = cluster["other"]
    assert _get(watched, _event(other.container_id, f"/kubepods/pod{other.uid}/x"),
                "k8s.pod.name") is None  # fmt: skip
    assert _get(watched, SimpleNamespace(thread=SimpleNamespace(container_id="host", cgroups=[
        ("cpu", "/user.slice")])), "k8s.pod.name") is None  # fmt: skip


def test_the_watch_follows_changes(watched: Any, cluster: Any) -> None:
    web, core = cluster["web"], client.CoreV1Api(cluster["api"])
    event = _event(web.container_id, f"/kubepods/besteffort/pod{web.uid}/{web.container_id}")
    core.patch_namespaced_pod(web.name, "shop", {"metadata": {"labels": {"quarantine": "yes"}}})
    wait_until(lambda: _get(watched, event, "k8s.pod.label", "quarantine") == "yes", 20,
               "the label change through the watch")  # fmt: skip
    core.patch_namespace("shop", {"metadata": {"labels": {"team": "risk"}}})
    wait_until(lambda: _get(watched, event, "k8s.ns.label", "team") == "risk", 20,
               "the namespace label change")  # fmt: skip
    # 1.20 answers a Service delete with a Status, which this client cannot parse as V1Service
    core.delete_namespaced_service("all-shop", "shop", _preload_content=False)
    wait_until(lambda: _get(watched, event, "k8s.svc.name") == ["web"], 20, "service deleted")


def test_api_server_down_gives_na_one_log_line_and_recovers(
    watched: Any, cluster: Any, caplog: pytest.LogCaptureFixture
) -> None:
    web = cluster["web"]
    event = _event(web.container_id, f"/kubepods/besteffort/pod{web.uid}/{web.container_id}")
    assert _get(watched, event, "k8s.pod.name") == web.name
    errors = watched.watcher.errors
    with caplog.at_level(logging.INFO, logger="lanner.k8smeta"):
        watched.relay.cut()
        wait_until(lambda: _get(watched, event, "k8s.pod.name") is None, 30,
                   "the fields to be <NA> with the API server unreachable")  # fmt: skip
        assert not watched.watcher.connected
        assert _metric(watched.watcher, "lanner_k8smeta_up") == 0
        wait_until(lambda: watched.watcher.errors >= errors + 6, 30, "retries")
        down = [r for r in caplog.records if "cannot read" in r.getMessage()]
        assert len(down) == 1, [r.getMessage() for r in caplog.records]
        # meanwhile the pod changed: the relist after the outage brings the new state
        client.CoreV1Api(cluster["api"]).patch_namespaced_pod(
            web.name, "shop", {"metadata": {"labels": {"seen-after": "outage"}}}
        )
        watched.relay.restore()
        wait_until(lambda: _get(watched, event, "k8s.pod.label", "seen-after") == "outage", 60,
                   "the fields back once the API server answers")  # fmt: skip
        assert watched.watcher.connected
        assert _metric(watched.watcher, "lanner_k8smeta_up") == 1
        assert _metric(watched.watcher, "lanner_k8smeta_errors") >= errors + 6
        assert any("answers again" in r.getMessage() for r in caplog.records)


def _metric(watcher: K8sMetaWatcher, name: str) -> float:
    """One sample of the engine's /metrics collector for k8smeta."""
    collector = K8sMetaCollector(SimpleNamespace(k8smeta=watcher))  # type: ignore[arg-type]
    return next(s.value for fam in collector.collect() for s in fam.samples
                if s.name in (name, name + "_total"))  # fmt: skip


def test_lanner_run_lists_the_fields() -> None:
    out = lanner("run", "--list", "syscall")
    assert out.returncode == 0, out.stderr
    for name in (
        "k8s.deployment.name",
        "k8s.svc.name",
        "k8s.ns.label",
        "k8s.rs.id",
        "k8s.rc.labels",
        "k8s.node.name",
        "k8smeta.pod.uid",
        "k8smeta.svc.labels",
    ):
        assert name in out.stdout, name  # fmt: skip
