"""GitHub actions for upstream Falco's github.yaml: the webhook delivery of each repository
event a rule watches, signed and posted to the github plugin's webhook
(:class:`~lanner.services.generate.cloud.GithubTarget`), about the repository
``--github-repo`` names (one the plugin's ``open_params`` watches). The sender's login is
the run's marker, which every rule's output shows (``user=%github.user``).

The secret and miner rules read what the plugin fetches from GitHub's REST API: those
actions first push a commit (a file with a fake secret, or a workflow naming a miner)
into the generator's stand-in for that API
(:class:`~lanner.services.generate.github_api_double.GithubApiDouble`,
``--github-api-serve``, the plugin's ``apiURL``), then post the ``push`` or
``workflow_run`` delivery announcing it."""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from datetime import UTC, datetime
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


def fake_secret(kind: str) -> str:
    """A line holding a secret of the plugin's ``kind``, random each time and not a real
    credential: an AWS access key id or a GitHub personal access token."""
    alnum = string.ascii_letters + string.digits
    if kind == "aws":
        key = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16))
        return f"AWS_ACCESS_KEY_ID=AKIA{key}"
    return "GITHUB_TOKEN=ghp_" + "".join(secrets.choice(alnum) for _ in range(36))


def push_body(repo: str, marker: str, before: str, after: str, added: list[str]) -> Payload:
    """The ``push`` payload fields of one commit adding ``added`` to the main branch."""
    when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    person = {"name": marker, "email": f"{marker}@users.noreply.github.com", "username": marker}
    commit = {"id": after, "tree_id": after, "distinct": True, "message": f"{marker}: config",
              "timestamp": when, "url": f"https://github.com/{repo}/commit/{after}",
              "author": person, "committer": person, "added": added, "removed": [],
              "modified": []}  # fmt: skip
    return {"ref": "refs/heads/main", "before": before, "after": after, "created": False,
            "deleted": False, "forced": False, "base_ref": None,
            "compare": f"https://github.com/{repo}/compare/{before[:12]}...{after[:12]}",
            "commits": [commit], "head_commit": commit,
            "pusher": {"name": marker, "email": person["email"]}}  # fmt: skip


def _secret_push(private: bool, kind: str) -> Callable[[RunContext], Outcome]:
    """Push a file with a fake secret, then deliver the push."""

    def act(ctx: RunContext) -> Outcome:
        out = Outcome(token())
        hook, api = ctx.targets["github"], ctx.targets["github_api"]
        path = f"deploy/{out.marker}.env"
        text = f"# written by lanner generate\nREGION=eu-west-1\n{fake_secret(kind)}\n"
        before, after = api.push(hook.repo, {path: text}, out.marker, f"{out.marker}: config")
        body = push_body(hook.repo, out.marker, before, after, [path])
        payload = delivery(hook.repo, out.marker, private, **body)
        hook.post("push", payload, ctx.timeout)
        out.effects["delivery"] = ("push", payload)
        return out

    return act


def _miner_workflow(ctx: RunContext) -> Outcome:
    """Push a workflow file running a miner, then deliver its run being requested."""
    out = Outcome(token())
    hook, api = ctx.targets["github"], ctx.targets["github_api"]
    path = f".github/workflows/{out.marker}.yml"
    text = ("name: build\non: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
            "      - run: ./xmrig --url stratum+tcp://pool.example.invalid:3333\n")  # fmt: skip
    _before, after = api.push(hook.repo, {path: text}, out.marker, f"{out.marker}: ci")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    workflow = {"id": 7001, "name": "build", "path": path, "state": "active",
                "html_url": f"https://github.com/{hook.repo}/blob/main/{path}"}  # fmt: skip
    run = {"id": 9001, "name": "build", "display_title": f"{out.marker}: ci", "path": path,
           "head_branch": "main", "head_sha": after, "event": "push", "status": "queued",
           "conclusion": None, "workflow_id": 7001, "run_number": 1, "run_attempt": 1,
           "created_at": now, "updated_at": now,
           "html_url": f"https://github.com/{hook.repo}/actions/runs/9001"}  # fmt: skip
    payload = delivery(hook.repo, out.marker, action="requested", workflow=workflow,
                       workflow_run=run)  # fmt: skip
    hook.post("workflow_run", payload, ctx.timeout)
    out.effects["delivery"] = ("workflow_run", payload)
    return out


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

# these push into the REST API stand-in first (the webhook is needed too: --github)
_API_DELIVERIES: list[tuple[str, str, str, Callable[[RunContext], Outcome]]] = [
    ("gh_secret_pushed_public", "Secret pushed into a public repository",
     "A fake AWS access key pushed to a public repository", _secret_push(False, "aws")),
    ("gh_secret_pushed_private", "Secret pushed into a private repository",
     "A fake GitHub token pushed to a private repository", _secret_push(True, "github")),
    ("gh_workflow_with_miner", "Github action with miners",
     "A workflow running xmrig requested", _miner_workflow),
]  # fmt: skip

ACTIONS: list[Action] = [
    *(
        Action(name, rule, description, False, run, "github", ruleset="falco", target="github")
        for name, rule, description, run in _DELIVERIES
    ),
    *(
        Action(name, rule, description, False, run, "github", ruleset="falco", target="github_api")
        for name, rule, description, run in _API_DELIVERIES
    ),
]
