"""`kubernetes:exec`: run a command (an argv list, never a shell string) in the container."""

from __future__ import annotations

from typing import Any, ClassVar

from lanner.exceptions import ActionError
from lanner.services.respond.actions.base import Action, ActionContext, ActionResult, Param
from lanner.services.respond.actions.kube import call, pod_target
from lanner.services.respond.template import render

_MAX_OUTPUT = 4096


class ExecInContainer(Action):
    """Exec argv in the pod's container over the API's websocket; non-zero exit fails."""

    name = "kubernetes:exec"
    summary = "run a command in the alert's container"
    params = (
        Param(
            "command",
            list,
            required=True,
            item=str,
            check=lambda v: None if v else "parameter 'command' must not be empty",
        ),
        Param("container", str),
        Param("timeout", int, default=30),
        Param("namespace_field", str),
        Param("pod_field", str),
    )
    rbac: ClassVar[tuple[dict[str, Any], ...]] = (
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]},
    )

    def run(self, ctx: ActionContext) -> ActionResult:
        """Each argv item may hold ${...} placeholders; each stays exactly one argument."""
        namespace, name = pod_target(ctx)
        argv = [render(arg, ctx.alert) for arg in ctx.params["command"]]
        container = ctx.params.get("container")
        if container:
            container = render(container, ctx.alert)
        target = f"pod {namespace}/{name}" + (f" container {container}" if container else "")
        changes: dict[str, Any] = {"command": argv}
        if ctx.dry_run:
            return ActionResult(target, "would exec command", changes)
        code, stdout, stderr = exec_argv(ctx, namespace, name, container, argv,
                                         ctx.params["timeout"])  # fmt: skip
        changes.update({"exit_code": code, "stdout": stdout, "stderr": stderr})
        if code is None:
            raise ActionError(
                f"exec in {target}: no exit status within the timeout",
                target=target,
                changes=changes,
            )
        if code != 0:
            raise ActionError(
                f"exec in {target}: exit code {code}: {stderr.strip()[:200]}",
                target=target,
                changes=changes,
            )
        return ActionResult(target, "command exited 0", changes)


def exec_argv(
    ctx: ActionContext,
    namespace: str,
    name: str,
    container: str | None,
    argv: list[str],
    timeout: int,
    limit: int = _MAX_OUTPUT,
) -> tuple[int | None, str, str]:
    """Run argv in a container over the API's websocket: (exit code or None, stdout, stderr),
    stdout cut to `limit` characters and stderr to 4 KiB."""
    code, stdout, stderr = exec_bytes(ctx, namespace, name, container, argv, timeout, limit)
    return code, stdout.decode(errors="replace"), stderr


def exec_bytes(
    ctx: ActionContext,
    namespace: str,
    name: str,
    container: str | None,
    argv: list[str],
    timeout: int,
    limit: int = _MAX_OUTPUT,
) -> tuple[int | None, bytes, str]:
    """As exec_argv, stdout as the bytes the command wrote (a capture file, say)."""
    from kubernetes.stream import stream

    kwargs: dict[str, Any] = {
        "command": argv,
        "stderr": True,
        "stdin": False,
        "stdout": True,
        "tty": False,
        "_preload_content": False,
        "binary": True,
    }
    if container:
        kwargs["container"] = container
    target = f"pod {namespace}/{name}" + (f" container {container}" if container else "")
    ws = call(
        f"exec in {target}",
        stream,
        ctx.kube.core.connect_get_namespaced_pod_exec,
        name,
        namespace,
        **kwargs,
    )
    try:
        ws.run_forever(timeout=timeout)
        code = ws.returncode
        stdout = bytes(ws.read_channel(1))[:limit]
        stderr = bytes(ws.read_channel(2))[:_MAX_OUTPUT].decode(errors="replace")
    finally:
        ws.close()
    return code, stdout, stderr
