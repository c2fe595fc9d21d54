"""Kubernetes API access shared by the actions: clients, targets and error mapping."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from lanner.exceptions import ActionError
from lanner.services.respond.actions.base import ActionContext

T = TypeVar("T")

# Seconds to wait for the API server on each request (connect, read); a hung server must
# not hold a worker forever.
REQUEST_TIMEOUT = (10.0, 30.0)
# HTTP statuses worth retrying: throttling and server-side trouble (0: no response at all).
TRANSIENT_STATUSES = frozenset({0, 429, 500, 502, 503, 504})
MANAGED_BY = {"app.kubernetes.io/managed-by": "lanner-respond"}


@dataclass
class KubeConfig:
    """Where the API server is: a kubeconfig file (and context), or in-cluster."""

    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = False


class KubeClients:
    """Lazily built official-client API objects sharing one ApiClient."""

    def __init__(self, config: KubeConfig | None = None, api_client: Any = None) -> None:
        self._config = config or KubeConfig()
        self._api_client = api_client

    @property
    def api_client(self) -> Any:
        """The kubernetes.client.ApiClient, loading configuration on first use."""
        if self._api_client is None:
            from kubernetes import client, config

            cfg = self._config
            configuration = client.Configuration()
            if cfg.in_cluster:
                config.load_incluster_config(client_configuration=configuration)
            elif cfg.kubeconfig is None:
                try:
                    config.load_incluster_config(client_configuration=configuration)
                except config.ConfigException:
                    config.load_kube_config(context=cfg.context, client_configuration=configuration)
            else:
                config.load_kube_config(
                    config_file=cfg.kubeconfig,
                    context=cfg.context,
                    client_configuration=configuration,
                )
            self._api_client = client.ApiClient(configuration)
        return self._api_client

    @property
    def core(self) -> Any:
        """CoreV1Api."""
        from kubernetes import client

        return client.CoreV1Api(self.api_client)

    @property
    def apps(self) -> Any:
        """AppsV1Api."""
        from kubernetes import client

        return client.AppsV1Api(self.api_client)

    @property
    def batch(self) -> Any:
        """BatchV1Api (capture Jobs)."""
        from kubernetes import client

        return client.BatchV1Api(self.api_client)

    @property
    def networking(self) -> Any:
        """NetworkingV1Api."""
        from kubernetes import client

        return client.NetworkingV1Api(self.api_client)

    @property
    def custom(self) -> Any:
        """CustomObjectsApi (Calico and Cilium policies)."""
        from kubernetes import client

        return client.CustomObjectsApi(self.api_client)

    def served(self, group: str, version: str) -> bool:
        """Whether the API server serves group/version (discovery, read each time)."""
        from kubernetes import client

        groups = call("API discovery", client.ApisApi(self.api_client).get_api_versions)
        return any(
            g.name == group and any(v.version == version for v in g.versions)
            for g in groups.groups or []
        )


def call(what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call the API, turning client exceptions into ActionError (transient or not)."""
    from kubernetes.client.exceptions import ApiException

    if hasattr(getattr(fn, "__self__", None), "api_client"):  # a generated API method
        kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT)
    try:
        return fn(*args, **kwargs)
    except ApiException as exc:
        status = int(exc.status or 0)
        raise ActionError(
            f"{what}: HTTP {status} {_status_message(exc)}",
            transient=status in TRANSIENT_STATUSES,
        ) from exc
    except (OSError, ConnectionError) as exc:  # urllib3 errors derive from these
        raise ActionError(f"{what}: {exc}", transient=True) from exc
    except Exception as exc:
        if type(exc).__module__.startswith("urllib3"):
            raise ActionError(f"{what}: {exc}", transient=True) from exc
        raise


def status_of(exc: BaseException) -> int | None:
    """HTTP status behind an ActionError raised by `call`, if any."""
    cause = exc.__cause__
    status = getattr(cause, "status", None)
    return int(status) if status is not None else None


def _status_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if body:
        try:
            data = json.loads(body)
            if isinstance(data, dict) and data.get("message"):
                return f"{data.get('reason', '')}: {data['message']}".strip(": ")
        except ValueError:
            pass
    return str(getattr(exc, "reason", "") or "")


def pod_target(ctx: ActionContext) -> tuple[str, str]:
    """(namespace, pod name) the alert is about, from configurable output fields."""
    ns_field = ctx.params.get("namespace_field", "k8s.ns.name")
    pod_field = ctx.params.get("pod_field", "k8s.pod.name")
    namespace = ctx.alert.get(ns_field)
    pod = ctx.alert.get(pod_field)
    if not pod:
        raise ActionError(f"alert carries no '{pod_field}': no pod to act on")
    if not namespace:
        raise ActionError(f"alert carries no '{ns_field}': no namespace for pod {pod}")
    return str(namespace), str(pod)


def get_pod(ctx: ActionContext, namespace: str, name: str) -> Any:
    """Read a pod (reads are made in dry-run too)."""
    return call(f"read pod {namespace}/{name}", ctx.kube.core.read_namespaced_pod, name, namespace)


def node_target(ctx: ActionContext) -> str:
    """Node the alert is about: parameter, then `k8s.node.name`, the pod's node, the hostname."""
    node = ctx.params.get("node")
    if node:
        return str(node)
    field_value = ctx.alert.get(ctx.params.get("node_field", "k8s.node.name"))
    if field_value:
        return str(field_value)
    if ctx.alert.get("k8s.pod.name") and ctx.alert.get("k8s.ns.name"):
        ns, name = pod_target(ctx)
        try:
            pod = get_pod(ctx, ns, name)
        except ActionError as exc:
            if status_of(exc) != 404:
                raise
            pod = None  # gone already: the hostname is the best guess left
        if pod is not None and pod.spec and pod.spec.node_name:
            return str(pod.spec.node_name)
    if ctx.alert.hostname:
        return ctx.alert.hostname
    raise ActionError("cannot tell which node the alert is about")


_DNS_UNSAFE = re.compile(r"[^a-z0-9-]+")


def object_name(prefix: str, name: str, limit: int = 63) -> str:
    """A valid DNS-1123 label made from a prefix and a (pod) name."""
    base = _DNS_UNSAFE.sub("-", f"{prefix}-{name}".lower()).strip("-")
    return base[:limit].rstrip("-")


_LABEL_VALUE = re.compile(r"[^A-Za-z0-9_.-]+")


def label_value(value: str) -> str:
    """Coerce text into a valid label value (63 chars, alphanumeric at both ends)."""
    cleaned = _LABEL_VALUE.sub("_", value)[:63]
    return cleaned.strip("_.-")


_OWNER_LABELS = ("pod-template-hash", "pod-template-generation", "controller-revision-hash")


def owner_selector(ctx: ActionContext, pod: Any) -> tuple[str, dict[str, str], str]:
    """(name, labels, description) selecting every pod of the pod's workload: its
    ReplicaSet/DaemonSet/StatefulSet's selector (revision labels dropped), or the pod's own
    labels for a standalone pod. ActionError when that would be no label at all."""
    namespace, pod_name = pod.metadata.namespace, pod.metadata.name
    refs = pod.metadata.owner_references or []
    kind = str(refs[0].kind) if refs else ""
    readers = {
        "ReplicaSet": ctx.kube.apps.read_namespaced_replica_set,
        "DaemonSet": ctx.kube.apps.read_namespaced_daemon_set,
        "StatefulSet": ctx.kube.apps.read_namespaced_stateful_set,
    }
    if kind in readers:
        owner = refs[0].name
        obj = call(f"read {kind} {namespace}/{owner}", readers[kind], owner, namespace)
        labels = dict((obj.spec.selector.match_labels or {}) if obj.spec.selector else {})
        name, what = str(owner), f"{kind} {namespace}/{owner}"
    else:
        labels = dict(pod.metadata.labels or {})
        name, what = str(pod_name), f"pod {namespace}/{pod_name}"
    for key in _OWNER_LABELS:
        labels.pop(key, None)
    if not labels:
        raise ActionError(
            f"can't find labels selecting {what}: a policy would select the whole namespace"
        )
    return name, labels, what
