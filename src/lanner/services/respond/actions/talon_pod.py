"""Falco Talon's pod actionners, with Talon's parameters: `kubernetes:terminate`,
`kubernetes:label`, `kubernetes:annotation`, `kubernetes:exec`, `kubernetes:script`,
`kubernetes:log`, `kubernetes:download`.

Commands run through a shell only as Talon's users wrote them; values from the alert never
enter the command text: `${FD_NAME}`-style names are handed to the shell as positional
arguments and assigned to variables of that name, so the shell reads them as data.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from lanner.exceptions import ActionError
from lanner.services.respond import artifacts
from lanner.services.respond.actions.base import Action, ActionContext, ActionResult, Param
from lanner.services.respond.actions.exec import exec_argv, exec_bytes
from lanner.services.respond.actions.kube import call, get_pod
from lanner.services.respond.actions.pod import _check_keys
from lanner.services.respond.template import env_values, render

POD_FIELDS = ("k8s.ns.name", "k8s.pod.name")
_POD_GET: dict[str, Any] = {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}
_MIN_HEALTHY = re.compile(r"^(\d+)(%?)$")
_SHELL_NAME = re.compile(r"\$\{?([A-Z_][A-Z0-9_]*)\}?")


def talon_pod(ctx: ActionContext) -> tuple[str, str]:
    """(namespace, pod) as Talon reads them: k8s.pod.name, else ka.target.pod.name or
    ka.target.name; k8s.ns.name, else ka.target.namespace."""
    alert = ctx.alert
    pod = alert.get("k8s.pod.name") or alert.get("ka.target.pod.name")
    pod = pod or alert.get("ka.target.name")
    namespace = alert.get("k8s.ns.name") or alert.get("ka.target.namespace")
    if not pod:
        raise ActionError("missing pod name (k8s.pod.name): no pod to act on")
    if not namespace:
        raise ActionError(f"missing namespace (k8s.ns.name) for pod {pod}")
    return str(namespace), str(pod)


def has_pod_fields(alert: Any) -> bool:
    """Whether talon_pod can name a pod from this alert."""
    pod = (
        alert.get("k8s.pod.name") or alert.get("ka.target.pod.name") or alert.get("ka.target.name")
    )
    namespace = alert.get("k8s.ns.name") or alert.get("ka.target.namespace")
    return all(v not in (None, "", "<NA>") for v in (pod, namespace))


def owner_kind(pod: Any) -> str:
    """DaemonSet, StatefulSet, ReplicaSet, ... or "" for a standalone pod."""
    refs = pod.metadata.owner_references or []
    return str(refs[0].kind) if refs else ""


class TalonPodAction(Action):
    """A Talon actionner about the alert's pod (named as talon_pod reads it)."""

    required_fields = POD_FIELDS

    @classmethod
    def has_fields(cls, alert: Any, params: dict[str, Any]) -> bool:
        """A pod and namespace can be named from the alert."""
        return has_pod_fields(alert)


def _check_min_healthy(value: Any) -> str | None:
    if _MIN_HEALTHY.match(str(value)) is None:
        return "parameter 'min_healthy_replicas' must be a count or a percentage like 33%"
    return None


class TalonTerminate(TalonPodAction):
    """Delete the pod, unless its kind of owner is to be ignored or its ReplicaSet would
    fall below `min_healthy_replicas` ready pods."""

    name = "kubernetes:terminate"
    summary = "terminate the pod (Talon)"
    params = (
        Param("grace_period_seconds", int, check=lambda v: None if v >= 0 else "must be >= 0"),
        Param("ignore_daemonsets", bool, default=False),
        Param("ignore_statefulsets", bool, default=False),
        Param("ignore_standalone_pods", bool, default=False),
        Param("min_healthy_replicas", (str, int), check=_check_min_healthy),
    )
    rbac: ClassVar[tuple[dict[str, Any], ...]] = (
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "delete"]},
        {"apiGroups": ["apps"], "resources": ["replicasets"], "verbs": ["get"]},
    )
    required_fields = POD_FIELDS
    talon_continue = False

    def run(self, ctx: ActionContext) -> ActionResult:
        """Check the owner, then DELETE the pod with the grace period."""
        p = ctx.params
        namespace, name = talon_pod(ctx)
        pod = get_pod(ctx, namespace, name)
        target = f"pod {namespace}/{name}"
        kind = owner_kind(pod)
        ignored = {
            "DaemonSet": p["ignore_daemonsets"],
            "StatefulSet": p["ignore_statefulsets"],
            "": p["ignore_standalone_pods"],
        }
        if ignored.get(kind):
            what = f"belongs to a {kind}" if kind else "is a standalone pod"
            return ActionResult(target, f"ignored: the pod {what}", {"owner": kind})
        if kind == "ReplicaSet" and p.get("min_healthy_replicas") is not None:
            reason = self._too_few_healthy(ctx, pod, str(p["min_healthy_replicas"]))
            if reason:
                return ActionResult(target, f"ignored: {reason}", {"owner": kind})
        grace = p.get("grace_period_seconds")
        changes = {"grace_period_seconds": grace}
        if ctx.dry_run:
            return ActionResult(target, "would terminate the pod", changes)
        kwargs = {} if grace is None else {"grace_period_seconds": grace}
        call(f"delete {target}", ctx.kube.core.delete_namespaced_pod, name, namespace, **kwargs)
        return ActionResult(target, "terminated the pod", changes)

    @staticmethod
    def _too_few_healthy(ctx: ActionContext, pod: Any, wanted: str) -> str:
        ref = pod.metadata.owner_references[0]
        rs = call(
            f"read replicaset {pod.metadata.namespace}/{ref.name}",
            ctx.kube.apps.read_namespaced_replica_set,
            ref.name,
            pod.metadata.namespace,
        )
        ready = int(rs.status.ready_replicas or 0) if rs.status else 0
        desired = int(rs.spec.replicas or 0)
        m = _MIN_HEALTHY.match(wanted)
        assert m is not None  # checked at load time
        count, percent = int(m.group(1)), bool(m.group(2))
        have = ready * 100 // desired if percent and desired else ready
        if have < count:
            unit = "%" if percent else ""
            return f"ReplicaSet {ref.name} has {have}{unit} healthy replicas, fewer than {wanted}"
        return ""


class _TalonMetadata(TalonPodAction):
    """Talon's label/annotation: on the pod, or on its node with `level: node`; an empty
    value removes the key."""

    section: ClassVar[str]
    required_fields = POD_FIELDS

    @classmethod
    def rbac_for(cls, params: dict[str, Any]) -> tuple[dict[str, Any], ...]:
        """Pods are read either way; nodes patched at node level, pods otherwise."""
        if params.get("level") == "node":
            return (_POD_GET, {"apiGroups": [""], "resources": ["nodes"], "verbs": ["patch"]})
        return ({"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "patch"]},)

    def run(self, ctx: ActionContext) -> ActionResult:
        """Merge-patch the metadata (null removes a key)."""
        namespace, name = talon_pod(ctx)
        pod = get_pod(ctx, namespace, name)
        values: dict[str, str | None] = {}
        for key, value in ctx.params[self.section].items():
            text = "" if value is None else render(str(value), ctx.alert)
            values[key] = text or None
        patch = {"metadata": {self.section: values}}
        core = ctx.kube.core
        if ctx.params.get("level") == "node":
            node = pod.spec.node_name if pod.spec else None
            if not node:
                raise ActionError(f"pod {namespace}/{name} is on no node yet")
            target, verb = f"node {node}", "patch node"
            args: tuple[Any, ...] = (core.patch_node, node, patch)
        else:
            target, verb = f"pod {namespace}/{name}", "patch pod"
            args = (core.patch_namespaced_pod, name, namespace, patch)
        if ctx.dry_run:
            return ActionResult(target, f"would patch {self.section}", {"patch": patch})
        call(f"{verb} {self.section} of {target}", *args)
        return ActionResult(target, f"patched {self.section}", {"patch": patch})


def _check_level(value: str) -> str | None:
    return None if value in ("pod", "node") else "parameter 'level' must be pod or node"


class TalonLabel(_TalonMetadata):
    """`kubernetes:label` as Talon: labels on the pod or (level: node) its node."""

    name = "kubernetes:label"
    summary = "label the pod or its node (Talon)"
    section = "labels"
    params = (
        Param("labels", dict, required=True, item=(str, int, float), check=_check_keys),
        Param("level", str, default="pod", check=_check_level),
    )


class TalonAnnotation(_TalonMetadata):
    """`kubernetes:annotation` as Talon: annotations on the pod or its node."""

    name = "kubernetes:annotation"
    summary = "annotate the pod or its node (Talon)"
    section = "annotations"
    params = (
        Param("annotations", dict, required=True, item=(str, int, float), check=_check_keys),
        Param("level", str, default="pod", check=_check_level),
    )


def node_context(ctx: ActionContext, pod: Any) -> dict[str, str]:
    """Talon's k8snode context: the pod's node's labels under node.* names."""
    if "k8snode" not in ctx.contexts or not (pod.spec and pod.spec.node_name):
        return {}
    node = call(f"read node {pod.spec.node_name}", ctx.kube.core.read_node, pod.spec.node_name)
    labels = node.metadata.labels or {}
    return {
        "node.hostname": labels.get("kubernetes.io/hostname", ""),
        "node.instancetype": labels.get("node.kubernetes.io/instance-type", ""),
        "node.role": labels.get("kubernetes.io/role", ""),
        "node.topology.region": labels.get("topology.kubernetes.io/region", ""),
        "node.topology.zone": labels.get("topology.kubernetes.io/zone", ""),
        "node.spec.providerid": (node.spec.provider_id or "") if node.spec else "",
    }


def shell_argv(shell: str, script: str, values: dict[str, str]) -> list[str]:
    """argv running `script` in `shell` with every ${NAME} it uses (that the alert has)
    assigned from a positional argument: the values are data, never shell text."""
    names = [n for n in dict.fromkeys(_SHELL_NAME.findall(script)) if n in values]
    prologue = "".join(f'{n}="${{{i}}}"; ' for i, n in enumerate(names, 1))
    return [shell, "-c", prologue + script, "lanner-respond", *(values[n] for n in names)]


class _TalonShell(TalonPodAction):
    """Shared code of exec/script: run in each container in turn until one succeeds."""

    required_fields = POD_FIELDS
    rbac: ClassVar[tuple[dict[str, Any], ...]] = (
        _POD_GET,
        {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]},
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]},
    )

    def script(self, ctx: ActionContext) -> str:
        raise NotImplementedError

    def run(self, ctx: ActionContext) -> ActionResult:
        """Build the argv, then exec it; the first container that exits 0 wins."""
        namespace, name = talon_pod(ctx)
        pod = get_pod(ctx, namespace, name)
        values = env_values(ctx.alert, node_context(ctx, pod))
        argv = shell_argv(ctx.params["shell"], self.script(ctx), values)
        target = f"pod {namespace}/{name}"
        changes: dict[str, Any] = {"command": argv}
        if ctx.dry_run:
            return ActionResult(target, "would run the command", changes)
        containers = [c.name for c in (pod.spec.containers if pod.spec else [])]
        if not containers:
            raise ActionError(f"{target}: no container found")
        failure = ""
        for container in containers:
            try:
                code, stdout, stderr = exec_argv(ctx, namespace, name, container, argv, 30)
            except ActionError as exc:
                raise ActionError(
                    str(exc), transient=exc.transient, target=target, changes=changes
                ) from exc
            if code == 0:
                changes.update(container=container, stdout=stdout, stderr=stderr)
                return ActionResult(f"{target} container {container}", "exited 0", changes)
            failure = f"container {container}: exit code {code}: {stderr.strip()[:200]}"
        raise ActionError(f"{target}: {failure}", target=target, changes=changes)


class TalonExec(_TalonShell):
    """`kubernetes:exec`: `shell -c command` in the pod (Talon's parameters)."""

    name = "kubernetes:exec"
    summary = "run a shell command in the pod (Talon)"
    params = (Param("command", str, required=True), Param("shell", str, default="/bin/sh"))

    def script(self, ctx: ActionContext) -> str:
        """The command as written."""
        return str(ctx.params["command"])


class TalonScript(_TalonShell):
    """`kubernetes:script`: a script (inline or from a file) run by the shell in the pod."""

    name = "kubernetes:script"
    summary = "run a script in the pod (Talon)"
    params = (Param("script", str), Param("file", str), Param("shell", str, default="/bin/sh"))
    path_params = ("file",)

    @classmethod
    def check(cls, params: dict[str, Any]) -> list[str]:
        """Exactly one of script and file."""
        if ("script" in params) == ("file" in params):
            return ["give 'script' or 'file' (one of them)"]
        return []

    def script(self, ctx: ActionContext) -> str:
        """The inline script, or the file's text read now."""
        if ctx.params.get("script"):
            return str(ctx.params["script"])
        try:
            return Path(ctx.params["file"]).read_text(encoding="utf-8")
        except OSError as exc:
            raise ActionError(f"cannot read script {ctx.params['file']}: {exc}") from exc


def _store(
    ctx: ActionContext, target: str, name: str, objects: dict[str, str], data: str | bytes
) -> str:
    """Write an artifact to the action's output; the detail says where."""
    assert ctx.output is not None
    raw = data.encode() if isinstance(data, str) else data
    try:
        where = artifacts.store(ctx.output, name, objects, raw, ctx.settings)
    except OSError as exc:
        raise ActionError(f"{target}: cannot store {name}: {exc}", target=target) from exc
    return where


class TalonLog(TalonPodAction):
    """`kubernetes:log`: the last lines of each container's log, to the output (or into the
    audit record when there is none)."""

    name = "kubernetes:log"
    summary = "collect the pod's container logs (Talon)"
    params = (
        Param("tail_lines", int, default=20, check=lambda v: None if v >= 0 else "must be >= 0"),
    )
    rbac: ClassVar[tuple[dict[str, Any], ...]] = (
        {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get"]},
    )
    required_fields = POD_FIELDS

    def run(self, ctx: ActionContext) -> ActionResult:
        """Read each container's log tail; store the first one that answers."""
        namespace, name = talon_pod(ctx)
        pod = get_pod(ctx, namespace, name)
        target = f"pod {namespace}/{name}"
        if ctx.dry_run:
            return ActionResult(target, "would collect logs", {"output": ctx.output})
        tail = ctx.params["tail_lines"] or 20
        errors = []
        for c in pod.spec.containers if pod.spec else []:
            try:
                text = call(
                    f"logs of {target} container {c.name}",
                    ctx.kube.core.read_namespaced_pod_log,
                    name,
                    namespace,
                    container=c.name,
                    tail_lines=tail,
                )
            except ActionError as exc:
                errors.append(str(exc))
                continue
            objects = {"namespace": namespace, "pod": name, "container": c.name}
            if ctx.output is None:
                return ActionResult(target, f"{len(text)} characters of logs", {"log": text})
            where = _store(ctx, target, "log", objects, text)
            return ActionResult(target, f"logs stored in {where}", {"artifact": where})
        raise ActionError(f"{target}: no container log: {'; '.join(errors) or 'no container'}")


class TalonDownload(TalonPodAction):
    """`kubernetes:download`: copy a file out of the container to the output."""

    name = "kubernetes:download"
    summary = "copy a file out of the pod (Talon)"
    params = (Param("file", str, required=True),)
    rbac: ClassVar[tuple[dict[str, Any], ...]] = _TalonShell.rbac[:2]
    required_fields = POD_FIELDS
    requires_output = True
    MAX_BYTES = 16 << 20

    def run(self, ctx: ActionContext) -> ActionResult:
        """`cat FILE` (the path one argument, never shell text), stored byte for byte."""
        namespace, name = talon_pod(ctx)
        pod = get_pod(ctx, namespace, name)
        path = render(ctx.params["file"], ctx.alert)
        target = f"pod {namespace}/{name}"
        if not path:
            raise ActionError(f"{target}: the alert gives no file name for {ctx.params['file']}")
        if ctx.dry_run:
            return ActionResult(target, f"would copy {path}", {"file": path})
        failure = ""
        for c in pod.spec.containers if pod.spec else []:
            code, data, err = exec_bytes(ctx, namespace, name, c.name, ["cat", "--", path], 60,
                                         limit=self.MAX_BYTES)  # fmt: skip
            if code == 0:
                objects = {"namespace": namespace, "pod": name, "file": path}
                where = _store(ctx, target, path, objects, data)
                return ActionResult(target, f"{path} stored in {where}", {"artifact": where})
            failure = f"container {c.name}: exit code {code}: {err.strip()[:200]}"
        raise ActionError(f"{target}: cannot copy {path}: {failure or 'no container'}")
