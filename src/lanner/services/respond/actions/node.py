"""Node actions: `kubernetes:cordon` and `kubernetes:taint`."""

from __future__ import annotations

from typing import Any, ClassVar

from lanner.exceptions import ActionError
from lanner.services.respond.actions.base import Action, ActionContext, ActionResult, Param
from lanner.services.respond.actions.kube import call, node_target, status_of

_NODE_PARAMS = (Param("node", str), Param("node_field", str))
_NODE_RBAC: tuple[dict[str, Any], ...] = (
    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
)


class _NodeAction(Action):
    """Node actions read the pod to find its node, unless the node is given."""

    rbac: ClassVar[tuple[dict[str, Any], ...]] = _NODE_RBAC

    @classmethod
    def rbac_for(cls, params: dict[str, Any]) -> tuple[dict[str, Any], ...]:
        """No pod read when the node is a fixed parameter."""
        return _NODE_RBAC[:1] if params.get("node") else _NODE_RBAC


class CordonNode(_NodeAction):
    """Mark the node unschedulable (what `kubectl cordon` does)."""

    name = "kubernetes:cordon"
    summary = "mark the alert's node unschedulable"
    params = _NODE_PARAMS

    def run(self, ctx: ActionContext) -> ActionResult:
        """Strategic-merge patch spec.unschedulable=true."""
        node = node_target(ctx)
        patch = {"spec": {"unschedulable": True}}
        if ctx.dry_run:
            call(f"read node {node}", ctx.kube.core.read_node, node)
            return ActionResult(f"node {node}", "would cordon node", {"patch": patch})
        call(f"cordon node {node}", ctx.kube.core.patch_node, node, patch)
        return ActionResult(f"node {node}", "cordoned node", {"patch": patch})


class TaintNode(_NodeAction):
    """Add (or update) a taint, with optimistic concurrency on the node's taint list."""

    name = "kubernetes:taint"
    summary = "add a taint to the alert's node"
    params = (
        Param("key", str, required=True),
        Param("value", str, default=""),
        Param(
            "effect",
            str,
            default="NoSchedule",
            choices=("NoSchedule", "PreferNoSchedule", "NoExecute"),
        ),
        *_NODE_PARAMS,
    )
    ATTEMPTS = 3

    def run(self, ctx: ActionContext) -> ActionResult:
        """Read the node, add the taint, merge-patch the list guarded by resourceVersion."""
        p = ctx.params
        node = node_target(ctx)
        wanted = {"key": p["key"], "value": p["value"], "effect": p["effect"]}
        core = ctx.kube.core
        for _ in range(self.ATTEMPTS):
            obj = call(f"read node {node}", core.read_node, node)
            serialize = ctx.kube.api_client.sanitize_for_serialization
            current = [serialize(t) for t in (obj.spec.taints or [])]
            if any(_same(t, wanted) and t.get("value", "") == p["value"] for t in current):
                return ActionResult(f"node {node}", "taint already present", {"taint": wanted})
            taints = [t for t in current if not _same(t, wanted)]
            taints.append(wanted)
            patch = {
                "metadata": {"resourceVersion": obj.metadata.resource_version},
                "spec": {"taints": taints},
            }
            if ctx.dry_run:
                return ActionResult(f"node {node}", "would taint node", {"patch": patch})
            try:
                call(
                    f"taint node {node}",
                    core.patch_node,
                    node,
                    patch,
                    _content_type="application/merge-patch+json",
                )
            except ActionError as exc:
                if status_of(exc) == 409:
                    continue  # the node changed under us: read it again
                raise
            return ActionResult(f"node {node}", "tainted node", {"patch": patch})
        raise ActionError(
            f"taint node {node}: kept conflicting after {self.ATTEMPTS} tries", transient=True
        )


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Taints are identified by key and effect."""
    return (a.get("key"), a.get("effect")) == (b.get("key"), b.get("effect"))
