"""Keep a :class:`K8sMetaCache` in sync with the API server: one thread per kind lists,
then watches from the list's resourceVersion, and lists again every ``resync`` seconds
and whenever the watch ends in an error (410 Gone included).

When the API server cannot be reached the kind is marked out of sync (fields ``<NA>``),
the failure is logged once (not once per retry), counted, and retried with back-off up
to 30 s; the recovery is logged when a list succeeds again. Pods are watched for one
node only when ``node`` is given (``spec.nodeName``), as a DaemonSet's engine needs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .cache import KINDS, K8sMetaCache, Obj, Owner, container_id_of

log = logging.getLogger("lanner.k8smeta")

MAX_BACKOFF = 30.0
WATCH_SECONDS = 60  # each watch request ends after this long at most (server side)
REQUEST_TIMEOUT = (10.0, 30.0)


@dataclass
class K8sMetaConfig:
    """Where the API server is and what to watch (``plugins[k8smeta].init_config``)."""

    node: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = False
    resync: float = 300.0


def api_client(cfg: K8sMetaConfig) -> Any:
    """An official-client ApiClient: the kubeconfig given, in-cluster, else the default
    kubeconfig (``KUBECONFIG``, ``~/.kube/config``)."""
    from kubernetes import client, config

    configuration = client.Configuration()
    if cfg.in_cluster:
        config.load_incluster_config(client_configuration=configuration)
    elif cfg.kubeconfig:
        config.load_kube_config(
            config_file=cfg.kubeconfig, context=cfg.context, client_configuration=configuration
        )
    else:
        try:
            config.load_incluster_config(client_configuration=configuration)
        except config.ConfigException:
            config.load_kube_config(context=cfg.context, client_configuration=configuration)
    return client.ApiClient(configuration)


def _owners(meta: Any) -> tuple[Owner, ...]:
    return tuple(Owner(str(o.kind), str(o.uid), str(o.name)) for o in (meta.owner_references or ()))


def to_obj(kind: str, item: Any) -> Obj:
    """A client model object (V1Pod, V1Service, ...) -> :class:`Obj`."""
    meta = item.metadata
    base: dict[str, Any] = {
        "name": str(meta.name),
        "uid": str(meta.uid),
        "namespace": str(meta.namespace or ""),
        "labels": dict(meta.labels or {}),
        "owners": _owners(meta),
    }
    if kind == "pods":
        status, spec = item.status, item.spec
        statuses: list[Any] = []
        if status is not None:
            for group in (
                status.container_statuses,
                status.init_container_statuses,
                status.ephemeral_container_statuses,
            ):
                statuses.extend(group or ())
        ids = (container_id_of(s.container_id) for s in statuses)
        base["ip"] = status.pod_ip if status is not None else None
        base["node"] = spec.node_name if spec is not None else None
        base["container_ids"] = tuple(i for i in ids if i)
    if kind == "services" and item.spec is not None:
        base["selector"] = dict(item.spec.selector or {})
    return Obj(**base)


class K8sMetaWatcher:
    """The watch threads of one cache."""

    def __init__(self, cache: K8sMetaCache, cfg: K8sMetaConfig, client: Any | None = None) -> None:
        self.cache = cache
        self.cfg = cfg
        self._client = client
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._down: set[str] = set()  # kinds whose last attempt failed
        self._lock = threading.Lock()
        self._announced = False  # the first full sync was logged
        self.errors = 0  # failed list/watch requests
        self.events = 0  # watch events applied

    def _lister(self, kind: str) -> tuple[Callable[..., Any], dict[str, Any]]:
        from kubernetes import client

        if self._client is None:
            self._client = api_client(self.cfg)
        core = client.CoreV1Api(self._client)
        apps = client.AppsV1Api(self._client)
        kwargs: dict[str, Any] = {}
        if kind == "pods" and self.cfg.node:
            kwargs["field_selector"] = f"spec.nodeName={self.cfg.node}"
        fns: dict[str, Callable[..., Any]] = {
            "pods": core.list_pod_for_all_namespaces,
            "namespaces": core.list_namespace,
            "replicasets": apps.list_replica_set_for_all_namespaces,
            "deployments": apps.list_deployment_for_all_namespaces,
            "replicationcontrollers": core.list_replication_controller_for_all_namespaces,
            "services": core.list_service_for_all_namespaces,
        }
        return fns[kind], kwargs

    def start(self) -> None:
        """Start one daemon thread per kind."""
        for kind in KINDS:
            t = threading.Thread(target=self._run, args=(kind,), name=f"k8smeta-{kind}")
            t.daemon = True
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        """Ask the threads to end (a watch in progress ends with its request)."""
        self._stop.set()

    @property
    def connected(self) -> bool:
        """Every kind's last list or watch succeeded."""
        return not self._down and self.cache.available

    def _run(self, kind: str) -> None:
        from kubernetes import watch

        backoff = 0.5
        while not self._stop.is_set():
            try:
                fn, kwargs = self._lister(kind)
                listed = fn(**kwargs, _request_timeout=REQUEST_TIMEOUT)
                self.cache.replace(kind, [to_obj(kind, o) for o in listed.items])
                self._up(kind)
                backoff = 0.5
                version = listed.metadata.resource_version
                resync_at = _now() + self.cfg.resync
                while not self._stop.is_set() and _now() < resync_at:
                    w = watch.Watch()
                    seconds = max(1, min(WATCH_SECONDS, int(resync_at - _now())))
                    for ev in w.stream(
                        fn,
                        **kwargs,
                        resource_version=version,
                        timeout_seconds=seconds,
                        _request_timeout=(REQUEST_TIMEOUT[0], seconds + 30),
                    ):
                        if self._stop.is_set():
                            w.stop()
                            break
                        change, item = ev["type"], ev["object"]
                        if change == "ERROR":  # e.g. 410 Gone: list again
                            raise _Relist(str(ev.get("raw_object")))
                        version = item.metadata.resource_version
                        if change in ("ADDED", "MODIFIED", "DELETED"):
                            self.cache.apply(kind, change, to_obj(kind, item))
                            self.events += 1
                    version = w.resource_version or version
            except _Relist:
                continue
            except Exception as exc:
                if getattr(exc, "status", None) == 410:  # resourceVersion too old: list again
                    continue
                self._error(kind, exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    def _error(self, kind: str, exc: Exception) -> None:
        """API down, 403, garbage: never fatal; counted, logged once, retried."""
        self.errors += 1
        self.cache.out_of_sync(kind)
        self._failed(kind, exc)

    def _failed(self, kind: str, exc: Exception) -> None:
        with self._lock:
            first = not self._down
            self._down.add(kind)
        if first:  # one line per outage, not per kind or retry
            log.warning(
                "k8smeta: cannot read %s from the Kubernetes API server (%s); k8s.* fields "
                "are <NA> until it answers again",
                kind,
                _reason(exc),
            )

    def _up(self, kind: str) -> None:
        with self._lock:
            was_down = bool(self._down)
            self._down.discard(kind)
            recovered = was_down and not self._down
        if recovered:
            log.info("k8smeta: the Kubernetes API server answers again; metadata in sync")
        with self._lock:
            first = not self._announced and self.cache.available
            self._announced = self._announced or first
        if first:
            counts = self.cache.counts()
            log.info(
                "k8smeta: in sync with the Kubernetes API server (%d pods, %d namespaces)",
                counts["pods"],
                counts["namespaces"],
            )


class _Relist(Exception):
    """The watch asked for a new list (its resourceVersion is too old)."""


def _reason(exc: Exception) -> str:
    status = getattr(exc, "status", None)
    if status:
        return f"HTTP {status} {getattr(exc, 'reason', '')}".strip()
    return f"{type(exc).__name__}: {exc}"[:300]


def _now() -> float:
    import time

    return time.monotonic()
