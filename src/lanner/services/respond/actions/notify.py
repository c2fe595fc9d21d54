"""`notify:webhook`: POST the alert and what was done about it to an HTTP endpoint."""

from __future__ import annotations

from typing import Any

from lanner.exceptions import ActionError
from lanner.services.respond.actions.base import Action, ActionContext, ActionResult, Param
from lanner.services.respond.template import render


def _check_url(value: str) -> str | None:
    if not value.startswith(("http://", "https://")):
        return "parameter 'url' must be an http:// or https:// URL"
    return None


class Webhook(Action):
    """JSON body: {"response_rule", "alert", "actions": [results so far in this rule]}."""

    name = "notify:webhook"
    summary = "POST a JSON notification to a URL"
    params = (
        Param("url", str, required=True, check=_check_url),
        Param("headers", dict, default={}, item=str),
        Param("timeout", (int, float), default=10),
        Param("verify_tls", bool, default=True),
        Param("message", str, default="lanner respond: ${rule} (${priority}) on ${hostname}"),
    )

    def run(self, ctx: ActionContext) -> ActionResult:
        """Send the notification; HTTP >= 400 fails (429/5xx are retried)."""
        import httpx

        p = ctx.params
        body: dict[str, Any] = {
            "text": render(p["message"], ctx.alert),
            "response_rule": ctx.rule,
            "alert": ctx.alert.raw,
            "actions": list(ctx.previous),
        }
        target = p["url"]
        if ctx.dry_run:
            return ActionResult(target, "would POST notification", {"body": body})
        try:
            resp = httpx.post(
                p["url"],
                json=body,
                headers=p["headers"],
                timeout=p["timeout"],
                verify=p["verify_tls"],
            )
        except httpx.HTTPError as exc:
            raise ActionError(f"POST {target}: {exc}", transient=True) from exc
        if resp.status_code >= 400:
            raise ActionError(
                f"POST {target}: HTTP {resp.status_code}",
                transient=resp.status_code == 429 or resp.status_code >= 500,
            )
        return ActionResult(target, f"HTTP {resp.status_code}", {"status": resp.status_code})
