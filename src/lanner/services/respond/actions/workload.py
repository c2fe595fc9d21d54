"""`kubernetes:scale-to-zero`: stop the Deployment behind the offending pod."""

from __future__ import annotations

from typing import Any, ClassVar

from lanner.exceptions import ActionError
from lanner.services.respond.actions.base import Action, ActionContext, ActionResult, Param
from lanner.services.respond.actions.kube import call, get_pod, pod_target
from lanner.services.respond.template import render

REPLICAS_ANNOTATION = "lanner.dev/replicas-before-response"


def _controller(refs: list[Any] | None) -> Any:
    for ref in refs or []:
        if ref.controller:
            return ref
    return None


class ScaleToZero(Action):
    """Find the pod's Deployment (pod -> ReplicaSet -> Deployment) and scale it to 0."""

    name = "kubernetes:scale-to-zero"
    summary = "scale the pod's Deployment to zero replicas"
    params = (
        Param("deployment", str),
        Param("remember_replicas", bool, default=True),
        Param("namespace_field", str),
        Param("pod_field", str),
    )
    rbac: ClassVar[tuple[dict[str, Any], ...]] = (
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
        {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"]},
        {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["get", "patch"]},
    )

    @classmethod
    def rbac_for(cls, params: dict[str, Any]) -> tuple[dict[str, Any], ...]:
        """No owner lookup with a named deployment; no annotation without remembering."""
        rules = [cls.rbac[3]]
        if not params.get("deployment"):
            rules[:0] = [cls.rbac[0], cls.rbac[1]]
        if params.get("remember_replicas", True):
            rules.append(cls.rbac[2])
        return tuple(rules)

    def run(self, ctx: ActionContext) -> ActionResult:
        """Patch the scale subresource to 0, noting the old count on the Deployment."""
        namespace, deployment = self.deployment(ctx)
        apps = ctx.kube.apps
        target = f"deployment {namespace}/{deployment}"
        scale = call(
            f"read scale of {target}",
            apps.read_namespaced_deployment_scale,
            deployment,
            namespace,
        )
        before = int(scale.spec.replicas or 0)
        patch = {"spec": {"replicas": 0}}
        changes: dict[str, Any] = {"scale_patch": patch, "replicas_before": before}
        if ctx.dry_run:
            return ActionResult(target, f"would scale {before} -> 0", changes)
        if ctx.params["remember_replicas"] and before:
            note = {"metadata": {"annotations": {REPLICAS_ANNOTATION: str(before)}}}
            call(
                f"annotate {target}", apps.patch_namespaced_deployment, deployment, namespace, note
            )
        call(
            f"scale {target}", apps.patch_namespaced_deployment_scale, deployment, namespace, patch
        )
        return ActionResult(target, f"scaled {before} -> 0", changes)

    @staticmethod
    def deployment(ctx: ActionContext) -> tuple[str, str]:
        """(namespace, deployment): the parameter, or the pod's owner chain."""
        namespace, pod_name = pod_target(ctx)
        if ctx.params.get("deployment"):
            return namespace, render(ctx.params["deployment"], ctx.alert)
        pod = get_pod(ctx, namespace, pod_name)
        owner = _controller(pod.metadata.owner_references)
        if owner is None or owner.kind != "ReplicaSet":
            kind = owner.kind if owner is not None else "no controller"
            raise ActionError(f"pod {namespace}/{pod_name} is not run by a Deployment ({kind})")
        rs = call(
            f"read replicaset {namespace}/{owner.name}",
            ctx.kube.apps.read_namespaced_replica_set,
            owner.name,
            namespace,
        )
        top = _controller(rs.metadata.owner_references)
        if top is None or top.kind != "Deployment":
            raise ActionError(f"replicaset {namespace}/{owner.name} has no Deployment owner")
        return namespace, str(top.name)
