"""`python`: call a user's `handler(event, context)` from a file, Kubeless-style.

The function runs in a child Python process (same interpreter and environment, so it can
use the `kubernetes` client and KUBECONFIG), which gives it a hard timeout and keeps a
crashing or exiting function from taking the daemon down.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from lanner.exceptions import ActionError
from lanner.services.respond.actions.base import Action, ActionContext, ActionResult, Param

RUNNER = "lanner.services.respond.actions.python_runner"
# the service's own secrets are not passed on to user functions
PRIVATE_ENV = frozenset({"LANNER_RESPOND_TOKEN"})


def kubeless_event(ctx: ActionContext) -> dict[str, Any]:
    """The event a Kubeless function received: the Falco alert under 'data'."""
    return {
        "data": ctx.alert.raw,
        "event-id": str(uuid.uuid4()),
        "event-type": "application/json",
        "event-time": ctx.alert.time,
        "event-namespace": "lanner.respond",
        "extensions": {"request": None, "response_rule": ctx.rule},
    }


def kubeless_context(ctx: ActionContext, function: str) -> dict[str, Any]:
    """The context a Kubeless function received."""
    return {
        "function-name": function,
        "timeout": str(ctx.params["timeout"]),
        "runtime": f"python{sys.version_info.major}.{sys.version_info.minor}",
        "memory-limit": "",
    }


def in_cluster_env(ctx: ActionContext, secrets: Path) -> dict[str, str]:
    """What a function calling ``config.load_incluster_config()`` reads in a pod, made from
    the API server and credentials respond itself uses: ``KUBERNETES_SERVICE_HOST``/``PORT``
    and the token and CA files (written into ``secrets``, mode 0600; the runner points the
    client's service-account paths at them)."""
    from urllib.parse import urlsplit

    conf = ctx.kube.api_client.configuration
    url = urlsplit(conf.host)
    keys = conf.api_key or {}  # the key's name depends on the client's version
    raw = keys.get("BearerToken") or keys.get("authorization") or ""
    token = str(raw).removeprefix("Bearer ").strip()
    if url.scheme != "https" or not url.hostname or not token:
        raise ActionError(
            "in_cluster: respond's own Kubernetes credentials are not an https server with a "
            "bearer token (kubeconfig or in-cluster service account), nothing to hand on"
        )
    (secrets / "token").write_text(token)
    os.chmod(secrets / "token", 0o600)
    env = {
        "KUBERNETES_SERVICE_HOST": url.hostname,
        "KUBERNETES_SERVICE_PORT": str(url.port or 443),
        "LANNER_FUNCTION_TOKEN_FILE": str(secrets / "token"),
    }
    if conf.ssl_ca_cert:
        env["LANNER_FUNCTION_CA_FILE"] = str(conf.ssl_ca_cert)
    return env


class PythonHandler(Action):
    """Run `function(event, context)` from `file`; an exception or exit != 0 fails."""

    name = "python"
    summary = "call handler(event, context) from a Python file"
    path_params = ("file",)
    params = (
        Param("file", str, required=True),
        Param("function", str, default="handler"),
        Param("timeout", int, default=30),
        Param("in_cluster", bool, default=False),
    )

    @classmethod
    def check(cls, params: dict[str, Any]) -> list[str]:
        """The file must exist when the rules are loaded."""
        file = params.get("file")
        if isinstance(file, str) and not Path(file).is_file():
            return [f"python file {file!r} does not exist"]
        return []

    def run(self, ctx: ActionContext) -> ActionResult:
        """Send event and context to the runner on stdin; read its JSON verdict."""
        file = str(Path(ctx.params["file"]).resolve())
        function = ctx.params["function"]
        target = f"{file}:{function}"
        payload = {
            "event": kubeless_event(ctx),
            "context": kubeless_context(ctx, function),
        }
        if ctx.dry_run:
            return ActionResult(target, "would call function", {})
        env = {k: v for k, v in os.environ.items() if k not in PRIVATE_ENV}
        with tempfile.TemporaryDirectory(prefix="lanner-fn-") as secrets:
            if ctx.params.get("in_cluster"):
                env.update(in_cluster_env(ctx, Path(secrets)))
            try:
                proc = subprocess.run(
                    [sys.executable, "-m", RUNNER, file, function],
                    input=json.dumps(payload, default=str),
                    capture_output=True,
                    text=True,
                    timeout=ctx.params["timeout"],
                    env=env,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise ActionError(f"{target}: still running after {exc.timeout}s, killed") from exc
        lines = proc.stdout.strip().splitlines()
        verdict: dict[str, Any] = {}
        if lines:
            try:
                verdict = json.loads(lines[-1])
            except ValueError:
                verdict = {}
        if proc.returncode != 0 or not verdict.get("ok"):
            why = verdict.get("error") or proc.stderr.strip()[-500:] or f"exit {proc.returncode}"
            raise ActionError(f"{target}: {why}")
        return ActionResult(target, "function returned", {"return": verdict.get("return")})
