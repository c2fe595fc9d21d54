"""Pod actions: `kubernetes:delete`, `kubernetes:label`, `kubernetes:annotate`."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from lanner.exceptions import ActionError
from lanner.services.respond.actions.base import Action, ActionContext, ActionResult, Param
from lanner.services.respond.actions.kube import call, get_pod, label_value, pod_target
from lanner.services.respond.template import render

_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def _check_keys(value: dict[str, Any]) -> str | None:
    for key in value:
        if not isinstance(key, str) or not _KEY.match(key) or len(key.split("/")[-1]) > 63:
            return f"{key!r} is not a valid label/annotation key"
    return None


class DeletePod(Action):
    """Delete (or evict) the pod, refusing pods owned by DaemonSets/StatefulSets by default."""

    name = "kubernetes:delete"
    summary = "delete or evict a pod with a grace period"
    params = (
        Param(
            "grace_period_seconds",
            int,
            check=lambda v: None if v >= 0 else "parameter 'grace_period_seconds' must be >= 0",
        ),
        Param("evict", bool, default=False),
        Param("allow_owner_kinds", list, default=[], item=str),
        Param("namespace_field", str),
        Param("pod_field", str),
    )
    rbac: ClassVar[tuple[dict[str, Any], ...]] = (
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "delete"]},
        {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
    )
    REFUSED_OWNERS = ("DaemonSet", "StatefulSet")

    @classmethod
    def rbac_for(cls, params: dict[str, Any]) -> tuple[dict[str, Any], ...]:
        """Eviction needs pods/eviction create, deletion needs pods delete: not both."""
        if params.get("evict"):
            return (
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
                {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
            )
        return ({"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "delete"]},)

    def run(self, ctx: ActionContext) -> ActionResult:
        """Check the owner, then DELETE the pod or POST an Eviction."""
        p = ctx.params
        namespace, name = pod_target(ctx)
        pod = get_pod(ctx, namespace, name)
        allowed = set(p["allow_owner_kinds"])
        for ref in pod.metadata.owner_references or []:
            if ref.kind in self.REFUSED_OWNERS and ref.kind not in allowed:
                raise ActionError(
                    f"refusing to delete pod {namespace}/{name} owned by {ref.kind}"
                    f" {ref.name} (allow with allow_owner_kinds: [{ref.kind}])"
                )
        grace = p.get("grace_period_seconds")
        target = f"pod {namespace}/{name}"
        changes: dict[str, Any] = {"grace_period_seconds": grace, "evict": p["evict"]}
        how = "evict" if p["evict"] else "delete"
        if ctx.dry_run:
            return ActionResult(target, f"would {how} pod (grace {grace})", changes)
        core = ctx.kube.core
        if p["evict"]:
            body: dict[str, Any] = {
                "apiVersion": "policy/v1",
                "kind": "Eviction",
                "metadata": {"name": name, "namespace": namespace},
            }
            if grace is not None:
                body["deleteOptions"] = {"gracePeriodSeconds": grace}
            call(f"evict {target}", core.create_namespaced_pod_eviction, name, namespace, body)
        else:
            kwargs = {} if grace is None else {"grace_period_seconds": grace}
            call(f"delete {target}", core.delete_namespaced_pod, name, namespace, **kwargs)
        return ActionResult(target, f"{how}d pod (grace {grace})", changes)


class _MetadataPatch(Action):
    """Shared code of label/annotate: a strategic-merge patch of pod metadata."""

    section: ClassVar[str]

    def run(self, ctx: ActionContext) -> ActionResult:
        """Render the values from the alert and patch the pod's metadata."""
        namespace, name = pod_target(ctx)
        values = {
            k: self.value(render(str(v), ctx.alert)) for k, v in ctx.params[self.section].items()
        }
        patch = {"metadata": {self.section: values}}
        target = f"pod {namespace}/{name}"
        if ctx.dry_run:
            get_pod(ctx, namespace, name)  # the target must exist even in dry-run
            return ActionResult(target, f"would patch {self.section}", {"patch": patch})
        call(
            f"patch {self.section} of {target}",
            ctx.kube.core.patch_namespaced_pod,
            name,
            namespace,
            patch,
        )
        return ActionResult(target, f"patched {self.section}", {"patch": patch})

    @staticmethod
    def value(text: str) -> str:
        """Annotation values are free text."""
        return text


class LabelPod(_MetadataPatch):
    """Add labels to the pod (values may use ${...} placeholders; they are made label-safe)."""

    name = "kubernetes:label"
    summary = "add labels to a pod"
    section = "labels"
    params = (
        Param("labels", dict, required=True, item=(str, int, float), check=_check_keys),
        Param("namespace_field", str),
        Param("pod_field", str),
    )
    rbac: ClassVar[tuple[dict[str, Any], ...]] = (
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "patch"]},
    )

    @staticmethod
    def value(text: str) -> str:
        """Label values are restricted: coerce the rendered text."""
        return label_value(text)


class AnnotatePod(_MetadataPatch):
    """Add annotations to the pod (values may use ${...} placeholders)."""

    name = "kubernetes:annotate"
    summary = "add annotations to a pod"
    section = "annotations"
    params = (
        Param("annotations", dict, required=True, item=(str, int, float), check=_check_keys),
        Param("namespace_field", str),
        Param("pod_field", str),
    )
    rbac: ClassVar[tuple[dict[str, Any], ...]] = (
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "patch"]},
    )
