"""The ``github.*`` fields of GitHub webhook messages, as the Falco github plugin names,
types and describes them (all strings). A message is the webhook's JSON body plus
``webhook_type`` (the ``X-GitHub-Event`` header), ``files`` (secrets found in a push's
diff) and ``workflow_miner_detections`` (miners found in a workflow file), which
:mod:`lanner.sources.github.webhook` adds before the engine sees it.

As the plugin, a field reads as the empty string when the message lacks its value, so
``github.repo.public`` is ``true`` unless ``repository.private`` is true.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lanner.engine.fields import Field
from lanner.sources.json_source.fieldkit import plain

Doc = dict[str, Any]


def text_at(doc: Any, *keys: str) -> str:
    """The JSON string under nested keys, or ''."""
    value = doc
    for key in keys:
        if type(value) is not dict:
            return ""
        value = value.get(key)
    return value if type(value) is str else ""


def _list_at(doc: Any, *keys: str) -> list[Any] | None:
    value = doc
    for key in keys:
        if type(value) is not dict:
            return None
        value = value.get(key)
    return value if type(value) is list else None


def _commit_files(kind: str) -> Callable[[Doc], str]:
    def get(doc: Doc) -> str:
        names = [
            n
            for c in _list_at(doc, "commits") or []
            if type(c) is dict
            for n in c.get(kind) or []
            if type(n) is str
        ]
        return ",".join(names)

    return get


def _matches(doc: Doc) -> list[tuple[Doc, Doc]] | None:
    """(file, match) pairs of the secrets found in a push's diff; None when not scanned."""
    files = _list_at(doc, "files")
    if files is None:
        return None
    return [
        (f, m) for f in files if type(f) is dict for m in f.get("matches") or [] if type(m) is dict
    ]


def _has_secrets(doc: Doc) -> str | None:
    found = _matches(doc)
    return None if found is None else ("true" if found else "false")


def _secret_list(render: Callable[[Doc, Doc, Doc], str]) -> Callable[[Doc], str | None]:
    def get(doc: Doc) -> str | None:
        found = _matches(doc)
        return None if found is None else ",".join(render(doc, f, m) for f, m in found)

    return get


def _link(doc: Doc, f: Doc, m: Doc) -> str:
    repo = text_at(doc, "repository", "html_url")
    head = text_at(doc, "head_commit", "id")
    return f"{repo}/blob/{head}/{text_at(f, 'name')}#L{m.get('line', 0)}"


def _hook_id(doc: Doc) -> str:
    value = doc.get("hook")
    hid = value.get("id") if type(value) is dict else None
    return str(hid) if type(hid) is int else "0"


def _public(doc: Doc) -> str:
    repo = doc.get("repository")
    return "false" if type(repo) is dict and repo.get("private") is True else "true"


def _miners(doc: Doc) -> list[Doc] | None:
    found = _list_at(doc, "workflow_miner_detections", "matches")
    return None if found is None else [m for m in found if type(m) is dict]


def _has_miners(doc: Doc) -> str | None:
    found = _miners(doc)
    return None if found is None else ("true" if found else "false")


def _miner_types(doc: Doc) -> str | None:
    found = _miners(doc)
    if found is None:
        return None
    return ",".join(dict.fromkeys(text_at(m, "type") for m in found))


def _on_doc(fn: Callable[[Doc], Any]) -> Callable[[Any], Any]:
    return lambda e: fn(e.data) if type(e.data) is dict else None


def _at(*keys: str) -> Callable[[Any], Any]:
    return _on_doc(lambda d: text_at(d, *keys))


_REPO = (
    "Github Webhook payloads contain the repository property when the event occurs from "
    "activity in a repository."
)
_SECRETS = "For push messages, if one of the commits includes one or more secrets (AWS keys, "
_SECRETS += "github tokens...), this field contains "


def github_fields() -> list[Field]:
    """The plugin's 25 fields."""
    spec: list[tuple[str, str, Callable[[Any], Any]]] = [
        ("github.type", "Message type, e.g. 'star' or 'repository'.", _at("webhook_type")),
        ("github.action", "The github event action. This field typically qualifies the "
         "github.type field. For example, a message of type 'star' can have action "
         "'created' or 'deleted'.", _at("action")),
        ("github.user", "Name of the user that triggered the event.", _at("sender", "login")),
        ("github.repo", f"(deprecated) URL of the git repository where the event occurred. "
         f"{_REPO}", _at("repository", "html_url")),
        ("github.repo.url", f"URL of the git repository where the event occurred. {_REPO}",
         _at("repository", "html_url")),
        ("github.repo.name", f"Name of the git repository where the event occurred. {_REPO}",
         _on_doc(lambda d: text_at(d, "repository", "html_url").removeprefix(
             "https://github.com/"))),
        ("github.repo.description", "Description of the GitHub repository.",
         _at("repository", "description")),
        ("github.org", "Name of the organization the git repository belongs to.",
         _at("organization", "login")),
        ("github.owner", "Name of the repository's owner.",
         _at("repository", "owner", "login")),
        ("github.repo.public", "'true' if the repository affected by the action is public. "
         "'false' otherwise.", _on_doc(_public)),
        ("github.collaborator.name", "The member name for message that add or remove users.",
         _at("member", "login")),
        ("github.collaborator.role", "The member role for message that add or remove users.",
         _at("changes", "permission", "to")),
        ("github.webhook.id", "When a new webhook has been created, the webhook id.",
         _on_doc(_hook_id)),
        ("github.webhook.type", "When a new webhook has been created, the webhook type, e.g. "
         "'repository'.", _at("hook", "type")),
        ("github.commit.added", "Comma separated list of files that have been added.",
         _on_doc(_commit_files("added"))),
        ("github.commit.modified", "Comma separated list of files that have been modified.",
         _on_doc(_commit_files("modified"))),
        ("github.commit.removed", "Comma separated list of files that have been removed.",
         _on_doc(_commit_files("removed"))),
        ("github.diff.has_secrets", "For push messages, 'true' if the diff of one of the "
         "commits contains a secret.", _on_doc(_has_secrets)),
        ("github.diff.committed_secrets.desc", f"{_SECRETS}the description of each of the "
         "committed secrets, as a comma separated list.",
         _on_doc(_secret_list(lambda _d, _f, m: text_at(m, "desc")))),
        ("github.diff.committed_secrets.files", f"{_SECRETS}the names of the files in which "
         "each of the secrets was committed, as a comma separated list.",
         _on_doc(_secret_list(lambda _d, f, _m: text_at(f, "name")))),
        ("github.diff.committed_secrets.lines", f"{_SECRETS}the file line positions of the "
         "committed secrets, as a comma separated list.",
         _on_doc(_secret_list(lambda _d, _f, m: str(m.get("line", 0))))),
        ("github.diff.committed_secrets.links", f"{_SECRETS}the github source code link for "
         "each of the committed secrets, as a comma separated list.",
         _on_doc(_secret_list(_link))),
        ("github.workflow.has_miners", "For workflow_run messages, 'true' if the a miner has "
         "been detected in the workflow definition file.", _on_doc(_has_miners)),
        ("github.workflow.miners.type", "For workflow_run messages, if one or more miners is "
         "detected in the workflow definition file, this field contains the type of each of "
         "the detected miner, as a comma separated list (e.g. xmrig, stratum).",
         _on_doc(_miner_types)),
        ("github.workflow.filename", "For workflow_run messages, the name of the workflow "
         "definition file.", _at("workflow", "path")),
    ]  # fmt: skip
    return [plain(name, desc, get) for name, desc, get in spec]


def summary(doc: Doc) -> str:
    """``evt.plugininfo``: type, action, repository and user."""
    parts = [text_at(doc, "webhook_type"), text_at(doc, "action"),
             text_at(doc, "repository", "full_name"), text_at(doc, "sender", "login")]  # fmt: skip
    return " ".join(p for p in parts if p)
