"""Kubernetes Policy Report output: alerts as results of `wgpolicyk8s.io/v1alpha2`
PolicyReports (`falco-policy-report` in the alert's namespace) or, without a namespace, of
the ClusterPolicyReport `falco-cluster-policy-report`, through the official Kubernetes
client, as Falcosidekick writes them."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

from lanner.exceptions import DeliveryError, PermanentError

from ..alert import Alert, Priority
from ..schema import Opt
from .base import Output, OutputContext, register

log = logging.getLogger("lanner.sidekick")

GROUP, VERSION = "wgpolicyk8s.io", "v1alpha2"
REPORT, CLUSTER_REPORT = "falco-policy-report", "falco-cluster-policy-report"
_RESOURCES = {
    "pods": ("v1", "Pod"),
    "services": ("v1", "Service"),
    "secrets": ("v1", "Secrets"),
    "configmaps": ("v1", "ConfigMap"),
    "namespaces": ("v1", "Namespace"),
    "serviceaccounts": ("v1", "ServiceAccount"),
    "daemonsets": ("apps/v1", "DaemonSet"),
    "deployments": ("apps/v1", "Deployment"),
    "statefulsets": ("apps/v1", "StatefulSet"),
    "cronjobs": ("batch/v1", "CronJob"),
    "jobs": ("batch/v1", "Job"),
    "clusterroles": ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    "clusterrolebindings": ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    "roles": ("rbac.authorization.k8s.io/v1", "Role"),
    "rolebindings": ("rbac.authorization.k8s.io/v1", "RoleBinding"),
}
_SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
SA_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def severity(priority: Priority) -> str:
    """Falcosidekick's map: ≤ Informational info, Notice low, Warning medium, Error high,
    above critical."""
    if not priority.at_least(Priority.NOTICE):
        return "info"
    if priority is Priority.NOTICE:
        return "low"
    if priority is Priority.WARNING:
        return "medium"
    return "high" if priority is Priority.ERROR else "critical"


def result_of(priority: Priority) -> str:
    """skip up to Notice, warn for Warning, fail above."""
    if not priority.at_least(Priority.WARNING):
        return "skip"
    return "warn" if priority is Priority.WARNING else "fail"


def namespace_of(fields: dict[str, Any]) -> str:
    """`k8s.ns.name`, else `ka.target.namespace`, else ''."""
    for key in ("k8s.ns.name", "ka.target.namespace"):
        if fields.get(key) is not None:
            return _text(fields[key])
    return ""


def subjects(fields: dict[str, Any]) -> list[dict[str, str]]:
    """The object the alert is about: the pod, or the audited resource."""
    if fields.get("k8s.pod.name") is not None:
        name, resource = _text(fields["k8s.pod.name"]), "pods"
    elif fields.get("ka.target.resource") is None:
        return []
    else:
        resource = _text(fields["ka.target.resource"])
        name = _text(fields.get("ka.target.name") or fields.get("ka.resp.name") or "")
    if not name or resource not in _RESOURCES:
        return []
    api_version, kind = _RESOURCES[resource]
    return [
        {"namespace": namespace_of(fields), "name": name, "kind": kind, "apiVersion": api_version}
    ]


def summary(results: list[dict[str, Any]]) -> dict[str, int]:
    """Counts by result."""
    out = {"pass": 0, "fail": 0, "warn": 0, "error": 0, "skip": 0}
    for item in results:
        out[item.get("result", "skip")] = out.get(item.get("result", "skip"), 0) + 1
    return out


@register
class PolicyReport(Output):
    """One result per alert (policy = source, rule, category "SI - System and Information
    Integrity", source Falco, severity and result from the priority, description = output,
    properties = fields, subjects = pod or audited object), appended to the report, keeping
    the last `maxevents` (with `prunebypriority`, the least severe go first). The report's
    namespace is the alert's (`falconamespace`, else the service account's, else `default`
    when that namespace does not exist). In the cluster, or with `kubeconfig`."""

    kind = "policyreport"
    family = "other"
    enable_key = "enabled"
    options: ClassVar[dict[str, Opt]] = {
        "enabled": Opt("bool", False),
        "kubeconfig": Opt("str", ""),
        "falconamespace": Opt("str", ""),
        "maxevents": Opt("int", 1000, minimum=1),
        "prunebypriority": Opt("bool", False),
    }

    def __init__(self, settings: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(settings, ctx)
        self._api: Any = None

    def _client(self) -> Any:
        """(CustomObjectsApi, CoreV1Api) from the in-cluster config, else kubeconfig."""
        if self._api is None:
            from kubernetes import client, config

            if self.settings["kubeconfig"]:
                api = config.new_client_from_config(config_file=self.settings["kubeconfig"])
            else:
                conf = client.Configuration()
                config.load_incluster_config(client_configuration=conf)
                api = client.ApiClient(conf)
            self._api = (client.CustomObjectsApi(api), client.CoreV1Api(api))
        return self._api

    def default_namespace(self) -> str:
        """Where reports of namespaces that do not exist go."""
        if self.settings["falconamespace"]:
            return str(self.settings["falconamespace"])
        try:
            with open(SA_NAMESPACE) as f:
                return f.read().strip() or "default"
        except OSError:
            return "default"

    def result(self, alert: Alert) -> dict[str, Any]:
        """The report result of one alert."""
        fields = alert.output_fields
        ns = alert.time_ns
        item: dict[str, Any] = {
            "policy": alert.source,
            "rule": alert.rule,
            "category": "SI - System and Information Integrity",
            "source": "Falco",
            "timestamp": {"seconds": ns // 1_000_000_000, "nanos": ns % 1_000_000_000},
            "severity": severity(alert.priority),
            "result": result_of(alert.priority),
            "description": alert.output,
            "properties": {k: _text(v) for k, v in fields.items()},
        }
        subject = subjects(fields)
        if subject:
            item["subjects"] = subject
        return item

    def _prune(self, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
        while len(results) > self.settings["maxevents"]:
            if self.settings["prunebypriority"]:
                low = min(
                    range(len(results)),
                    key=lambda i: (_SEVERITY_RANK.get(results[i].get("severity", ""), 0), i),
                )
                results.pop(low)
            else:
                results.pop(0)
        return results

    def _write(self, alert: Alert) -> None:
        """Read, append, prune and write the report (runs in a thread)."""
        from kubernetes.client.exceptions import ApiException

        custom, core = self._client()
        item = self.result(alert)
        namespace = namespace_of(alert.output_fields)
        if namespace:
            try:
                core.read_namespace(namespace)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                namespace = self.default_namespace()
                for subject in item.get("subjects", []):
                    subject["namespace"] = namespace
        kind, plural, name = (
            ("PolicyReport", "policyreports", REPORT)
            if namespace
            else ("ClusterPolicyReport", "clusterpolicyreports", CLUSTER_REPORT)
        )
        where = (namespace, plural, name) if namespace else (plural, name)
        get = custom.get_namespaced_custom_object if namespace else custom.get_cluster_custom_object
        try:
            report = get(GROUP, VERSION, *where)
        except ApiException as exc:
            if exc.status != 404:
                raise
            report = None
        if report is None:
            report = {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": kind,
                "metadata": {
                    "name": name,
                    "labels": {"app.kubernetes.io/managed-by": "falcosidekick"},
                },
                "results": [],
            }
        results = self._prune([*(report.get("results") or []), item])
        report["results"] = results
        report["summary"] = summary(results)
        if "resourceVersion" in report["metadata"]:
            if namespace:
                custom.replace_namespaced_custom_object(GROUP, VERSION, *where, report)
            else:
                custom.replace_cluster_custom_object(GROUP, VERSION, *where, report)
        elif namespace:
            custom.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, report)
        else:
            custom.create_cluster_custom_object(GROUP, VERSION, plural, report)

    async def send(self, alert: Alert) -> None:
        """Write the result; conflicts, outages and 5xx are retried, other refusals not."""
        from kubernetes.client.exceptions import ApiException

        try:
            await asyncio.to_thread(self._write, alert)
        except ApiException as exc:
            if exc.status in (409, 429) or (exc.status or 0) >= 500 or exc.status in (0, None):
                raise DeliveryError(f"policyreport: HTTP {exc.status}: {exc.reason}") from exc
            raise PermanentError(f"policyreport: HTTP {exc.status}: {exc.reason}") from exc
        except Exception as exc:  # urllib3 connection errors, config errors
            raise DeliveryError(f"policyreport: {type(exc).__name__}: {exc}") from exc
