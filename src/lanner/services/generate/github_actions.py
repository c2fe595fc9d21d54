"""GitHub actions for upstream Falco's github.yaml: the webhook delivery of each repository
event a rule watches, signed and posted to the github plugin's webhook
(:class:`~lanner.services.generate.cloud.GithubTarget`), about the repository
``--github-repo`` names (one the plugin's ``open_params`` watches). The sender's login is
the run's marker, which every rule's output shows (``user=%github.user``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lanner.services.generate.action import Action, Outcome, RunContext, token

Payload = dict[str, Any]


def delivery(repo: str, marker: str, private: bool = False, **body: Any) -> Payload:
    """A webhook payload about ``repo`` sent by ``marker``."""
    owner, name = repo.split("/")
    repository = {"id": 1, "name": name, "full_name": repo, "private": private,
                  "html_url": f"https://github.com/{repo}",
                  "owner": {"login": owner, "type": "Organization"}}  # fmt: skip
    return {"repository": repository, "sender": {"login": marker, "type": "User"},
            "organization": {"login": owner}, **body}  # fmt: skip


def _post(kind: str, private: bool = False, **body: Any) -> Callable[[RunContext], Outcome]:
    def act(ctx: RunContext) -> Outcome:
        out = Outcome(token())
        target = ctx.targets["github"]
        payload = delivery(target.repo, out.marker, private, **body)
        target.post(kind, payload, ctx.timeout)
        out.effects["delivery"] = (kind, payload)
        return out

    return act


HOOK = {"id": 4242, "type": "Repository", "active": True}
_DELIVERIES: list[tuple[str, str, str, Callable[[RunContext], Outcome]]] = [
    ("gh_webhook_connected", "Webhook Connected", "GitHub pings a new webhook",
     _post("ping", zen="Design for failure.", hook_id=4242, hook=HOOK)),
    ("gh_webhook_disconnected", "Webhook Disconnected", "A webhook is deleted",
     _post("meta", action="deleted", hook_id=4242, hook=HOOK)),
    ("gh_repo_publicized", "Private Repository Becoming Public", "A repository made public",
     _post("repository", action="publicized")),
    ("gh_repo_privatized", "Public Repository Becoming Private", "A repository made private",
     _post("repository", True, action="privatized")),
    ("gh_public_repo_created", "Create Public Repository", "A public repository created",
     _post("repository", action="created")),
    ("gh_public_repo_deleted", "Delete Public Repository", "A public repository deleted",
     _post("repository", action="deleted")),
    ("gh_repo_created", "Create Repository", "A private repository created",
     _post("repository", True, action="created")),
    ("gh_repo_deleted", "Delete Repository", "A private repository deleted",
     _post("repository", True, action="deleted")),
    ("gh_deploy_key_created", "Create Deploy Key", "A deploy key added",
     _post("deploy_key", action="created", key={"id": 5, "title": "generated"})),
    ("gh_deploy_key_deleted", "Delete Deploy Key", "A deploy key removed",
     _post("deploy_key", action="deleted", key={"id": 5, "title": "generated"})),
    ("gh_collaborator_added", "Add Collaborator to Repository", "A collaborator added",
     _post("member", action="added", member={"login": "generated-member"},
           changes={"permission": {"to": "admin"}})),
    ("gh_collaborator_removed", "Remove Collaborator from Repository", "A collaborator removed",
     _post("member", action="removed", member={"login": "generated-member"})),
]  # fmt: skip

ACTIONS: list[Action] = [
    Action(name, rule, description, False, run, "github", ruleset="falco", target="github")
    for name, rule, description, run in _DELIVERIES
]
