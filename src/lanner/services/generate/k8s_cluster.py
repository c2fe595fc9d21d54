"""Real API calls for k8s actions, with a kubeconfig (not implemented: a clear error)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lanner.services.generate.action import Outcome, RunContext
from lanner.services.generate.sandbox import ActionError


def perform(
    ctx: RunContext, out: Outcome, events_for: Callable[[str], list[dict[str, Any]]]
) -> None:
    """Make the API calls whose audit events ``events_for`` describes.

    Not implemented yet: creating privileged pods, cluster-admin bindings and the like
    on a real cluster needs a disposable namespace and a cleanup policy that have not
    been written. Use the webhook mode (no kubeconfig) meanwhile.
    """
    raise ActionError(
        f"real API calls (--kubeconfig {ctx.kubeconfig}) are not implemented yet; "
        "run without --kubeconfig to post the audit events to --webhook instead"
    )
