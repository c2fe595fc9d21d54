"""The github plugin in ``lanner run``: GitHub webhook deliveries, signed with
``X-Hub-Signature-256`` as GitHub signs them, are POSTed to the running webhook server
and the upstream github.yaml rules fire (or not) on them. Pushes and workflow runs are
scanned through GitHub's REST API, served here by a local double of the two endpoints
used (``/repos/{repo}/compare/{refs}``, ``/repos/{repo}/contents/{path}``: paths, bearer
token, JSON answers, 401/404 as GitHub's)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import yaml

from app.servers import make_certs
from helpers import free_port, wait_until
from helpers.lanner_process import LANNER_RUN, LannerProcess, metrics

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT.parent / "shared" / "fixtures" / "rules" / "github.yaml"
SECRET = "whsec-test-1"
TOKEN = "ghp_apitoken_for_the_double"
AWS_KEY = "AKIA" + "Z7QW3ERT5YUI2OPA"  # the shape of an access key id, not a real one
GH_TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"

PATCHES = {  # compare refs -> files, as GitHub's compare API answers
    "aaa111...bbb222": [{"filename": "deploy/settings.py", "status": "modified",
                         "patch": "@@ -10,2 +10,3 @@ def cfg():\n context\n"
                                  f"+AWS_ACCESS_KEY_ID = '{AWS_KEY}'\n-old = 1\n context"}],
    "ccc333...ddd444": [{"filename": "ci/env.sh", "status": "added",
                         "patch": f"@@ -0,0 +1,2 @@\n+set -e\n+export TOKEN={GH_TOKEN}"}],
    "eee555...fff666": [{"filename": "README.md", "status": "modified",
                         "patch": "@@ -1 +1 @@\n-hello\n+hello world"}],
}  # fmt: skip
WORKFLOWS = {
    ".github/workflows/build.yml": "on: push\njobs:\n  b:\n    steps:\n"
    "      - run: ./xmrig -o stratum+tcp://pool.example:3333\n",
    ".github/workflows/test.yml": "on: push\njobs:\n  t:\n    steps:\n      - run: make test\n",
}


class GithubApiDouble(BaseHTTPRequestHandler):
    """A double of GitHub's REST API (compare and contents endpoints only)."""

    seen: ClassVar[list[str]] = []
    hooks: ClassVar[dict[str, list[dict[str, Any]]]] = {}  # repo -> its webhooks
    repos: ClassVar[list[dict[str, Any]]] = [
        {"full_name": "acme/app", "permissions": {"admin": True}, "archived": False},
        {"full_name": "acme/old", "permissions": {"admin": True}, "archived": True},
        {"full_name": "acme/readonly", "permissions": {"admin": False}, "archived": False},
    ]

    def log_message(self, *_args: Any) -> None:
        pass

    def _answer(self, status: int, doc: Any) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-RateLimit-Remaining", "4999")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.seen.append(self.path)
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._answer(401, {"message": "Bad credentials"})
            return
        parts = self.path.split("/", 5)  # '', repos, owner, repo, kind, rest
        if self.path.startswith("/user/repos?"):
            self._answer(200, self.repos if "page=1" in self.path else [])
        elif len(parts) == 5 and parts[4] == "hooks":
            self._answer(200, self.hooks.get(f"{parts[2]}/{parts[3]}", []))
        elif len(parts) == 6 and parts[4] == "compare" and parts[5] in PATCHES:
            self._answer(200, {"status": "ahead", "files": PATCHES[parts[5]]})
        elif len(parts) == 6 and parts[4] == "contents" and parts[5] in WORKFLOWS:
            content = base64.b64encode(WORKFLOWS[parts[5]].encode()).decode()
            self._answer(200, {"type": "file", "encoding": "base64", "content": content})
        else:
            self._answer(404, {"message": "Not Found"})

    def do_POST(self) -> None:
        parts = self.path.split("/")
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._answer(401, {"message": "Bad credentials"})
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        hook = {"id": 1000 + sum(len(v) for v in self.hooks.values()), "type": "Repository",
                "name": body["name"], "events": body["events"],
                "config": body["config"]}  # fmt: skip
        self.hooks.setdefault(f"{parts[2]}/{parts[3]}", []).append(hook)
        self._answer(201, hook)

    def do_DELETE(self) -> None:
        parts = self.path.split("/")
        hooks = self.hooks.get(f"{parts[2]}/{parts[3]}", [])
        kept = [h for h in hooks if str(h["id"]) != parts[5]]
        if len(kept) == len(hooks):
            self._answer(404, {"message": "Not Found"})
            return
        self.hooks[f"{parts[2]}/{parts[3]}"] = kept
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()


def repo(name: str, private: bool) -> dict[str, Any]:
    return {"id": 1, "name": name.split("/")[1], "full_name": name, "private": private,
            "html_url": f"https://github.com/{name}", "description": "demo",
            "owner": {"login": name.split("/")[0], "type": "Organization"}}  # fmt: skip


def message(user: str, name: str = "acme/app", private: bool = False, **body: Any) -> dict:
    return {"repository": repo(name, private), "sender": {"login": user, "type": "User"},
            "organization": {"login": "acme"}, **body}  # fmt: skip


def push(user: str, refs: str, private: bool) -> dict[str, Any]:
    before, after = refs.split("...")
    return message(user, private=private, ref="refs/heads/main", before=before, after=after,
                   compare=f"https://github.com/acme/app/compare/{refs}",
                   head_commit={"id": after}, commits=[{"id": after, "added": [],
                   "modified": ["x"], "removed": []}])  # fmt: skip


def workflow(user: str, path: str) -> dict[str, Any]:
    return message(user, action="requested", workflow={"path": path, "name": "ci"},
                   workflow_run={"id": 9, "path": path})  # fmt: skip


# (X-GitHub-Event, payload, the rules that fire with rule_matching: all)
DELIVERIES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("ping", message("u-ping", zen="Keep it simple", hook_id=4242,
                     hook={"id": 4242, "type": "Repository", "active": True}),
     {"Webhook Connected"}),
    ("meta", message("u-meta", action="deleted", hook_id=4242,
                     hook={"id": 4242, "type": "Repository"}), {"Webhook Disconnected"}),
    ("repository", message("u-public", action="publicized"),
     {"Private Repository Becoming Public"}),
    ("repository", message("u-private", action="privatized", private=True),
     {"Public Repository Becoming Private"}),
    ("repository", message("u-create-pub", action="created"),
     {"Create Public Repository", "Create Repository"}),
    ("repository", message("u-create-priv", action="created", private=True),
     {"Create Repository"}),
    ("repository", message("u-del-pub", action="deleted"),
     {"Delete Public Repository", "Delete Repository"}),
    ("repository", message("u-del-priv", action="deleted", private=True),
     {"Delete Repository"}),
    ("repository", message("u-edited", action="edited"), set()),
    ("deploy_key", message("u-key-add", action="created", key={"id": 5, "title": "ci"}),
     {"Create Deploy Key"}),
    ("deploy_key", message("u-key-del", action="deleted", key={"id": 5}),
     {"Delete Deploy Key"}),
    ("member", message("u-member-add", action="added", member={"login": "mallory"},
                       changes={"permission": {"to": "admin"}}),
     {"Add Collaborator to Repository"}),
    ("member", message("u-member-del", action="removed", member={"login": "mallory"}),
     {"Remove Collaborator from Repository"}),
    ("member", message("u-member-edit", action="edited", member={"login": "bob"}), set()),
    ("star", message("u-star", action="created"), set()),
    ("push", push("u-push-aws", "aaa111...bbb222", private=False),
     {"Secret pushed into a public repository"}),
    ("push", push("u-push-token", "ccc333...ddd444", private=True),
     {"Secret pushed into a private repository"}),
    ("push", push("u-push-clean", "eee555...fff666", private=False), set()),
    ("push", {**push("u-push-newbranch", "aaa111...bbb222", private=False),
              "before": "0" * 40}, set()),  # a new branch: no diff to scan
    ("workflow_run", workflow("u-wf-miner", ".github/workflows/build.yml"),
     {"Github action with miners"}),
    ("workflow_run", workflow("u-wf-clean", ".github/workflows/test.yml"), set()),
    ("workflow_run", {**workflow("u-wf-done", ".github/workflows/build.yml"),
                      "action": "completed"}, set()),
    ("repository", message("u-other-repo", "other/x", action="publicized"), set()),
]  # fmt: skip


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), GithubApiDouble)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def write_config(
    tmp: Path,
    api: str,
    port: int,
    open_params: str = "acme/app, acme/lib",
    web_port: int = 0,
    **init: Any,
) -> Path:
    secrets = tmp / "ghplugin"
    secrets.mkdir(exist_ok=True)
    if "websocketServerURL" not in init:
        (secrets / "webhook.secret").write_text(SECRET + "\n")
    init = {"useHTTPs": False, "secretsDir": str(secrets), "listen": f"127.0.0.1:{port}",
            "apiURL": api, **init}  # fmt: skip
    cfg = {"json_output": True, "stdout_output": {"enabled": True}, "log_level": "info",
           "priority": "debug", "rule_matching": "all", "load_plugins": ["github"],
           "plugins": [{"name": "github", "init_config": json.dumps(init),
                        "open_params": open_params}]}  # fmt: skip
    if web_port:  # the metrics endpoint
        cfg["webserver"] = {"enabled": True, "listen_port": web_port,
                            "listen_address": "127.0.0.1"}  # fmt: skip
    path = tmp / "lanner.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def start_lanner(cfg: Path, err: Path, token: str) -> LannerProcess:
    """``lanner run`` with the github plugin, its alerts read as they come."""
    return LannerProcess(cfg, [RULES], err, {**os.environ, "GITHUB_PLUGIN_TOKEN": token})


def until_user(lanner: LannerProcess, user: str) -> list[dict[str, Any]]:
    """Every alert up to and including the first one whose github.user is ``user``."""
    return lanner.until(lambda a: a["output_fields"].get("github.user") == user, f"user {user}")


def post(
    url: str,
    kind: str,
    doc: dict[str, Any],
    signature: str | None = None,
    tls: ssl.SSLContext | None = None,
) -> int:
    body = json.dumps(doc).encode()
    headers = {"X-GitHub-Event": kind, "X-GitHub-Delivery": "d-1", "User-Agent":
               "GitHub-Hookshot/abc", "Content-Type": "application/json",
               "X-Hub-Signature-256": signature or sign(body)}  # fmt: skip
    return httpx.post(
        url, content=body, headers=headers, timeout=30, verify=tls or True
    ).status_code


def start(
    tmp_path: Path,
    api: str,
    token: str = TOKEN,
    tls: ssl.SSLContext | None = None,
    web_port: int = 0,
) -> tuple[LannerProcess, str]:
    port = free_port()
    cfg = write_config(tmp_path, api, port, web_port=web_port, useHTTPs=tls is not None)
    lanner = start_lanner(cfg, tmp_path / "lanner.err", token)
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/"

    def up() -> bool:
        try:
            return httpx.get(url, verify=tls or True).status_code == 405
        except httpx.TransportError:
            assert lanner.proc.poll() is None, lanner.log()[-3000:]
            return False

    wait_until(up, timeout=60, what="the github webhook server")
    return lanner, url


def test_upstream_github_rules_fire_on_signed_deliveries(tmp_path: Path, api: str) -> None:
    web = free_port()
    lanner, url = start(tmp_path, api, web_port=web)
    try:
        for kind, doc, _rules in DELIVERIES:
            assert post(url, kind, doc) in (200, 202), (kind, doc["sender"], lanner.log()[-3000:])
        # a forged delivery (wrong secret) and a garbled one: refused, the server goes on
        forged = message("u-forged", action="publicized")
        assert post(url, "repository", forged, sign(json.dumps(forged).encode(), "x")) == 401
        assert post(url, "repository", forged, "sha256=") == 401
        garbled = b"{not json"
        resp = httpx.post(url, content=garbled, headers={"X-GitHub-Event": "push",
                          "X-Hub-Signature-256": sign(garbled)})  # fmt: skip
        assert resp.status_code == 400
        assert post(url, "ping", message("sentinel", hook={"id": 1, "type": "Repository"})) == 200
        alerts = until_user(lanner, "sentinel")
        counters = metrics(web)
    finally:
        code = lanner.stop()
    assert 'lanner_input_errors_total{kind="bad_signature",source="github"} 2.0' in counters
    assert 'lanner_input_errors_total{kind="bad_json",source="github"} 1.0' in counters
    fired: dict[str, set[str]] = {}
    for alert in alerts:
        fired.setdefault(alert["output_fields"]["github.user"], set()).add(alert["rule"])
    for _kind, doc, rules in DELIVERIES:
        user = doc["sender"]["login"]
        assert fired.get(user, set()) == rules, (user, fired.get(user), lanner.log()[-3000:])
    assert "u-forged" not in fired
    by_user = {a["output_fields"]["github.user"]: a for a in alerts}
    aws = by_user["u-push-aws"]["output_fields"]
    assert aws["github.diff.committed_secrets.desc"] == "AWS Access Key", aws
    assert aws["github.diff.committed_secrets.files"] == "deploy/settings.py", aws
    assert aws["github.diff.committed_secrets.lines"] == "11", aws  # the added line's number
    assert aws["github.diff.committed_secrets.links"] == (
        "https://github.com/acme/app/blob/bbb222/deploy/settings.py#L11"
    )
    member = by_user["u-member-add"]["output_fields"]
    assert member["github.collaborator.name"] == "mallory"
    assert member["github.collaborator.role"] == "admin"
    assert by_user["u-ping"]["output_fields"]["github.webhook.id"] == "4242"
    assert by_user["u-wf-miner"]["output_fields"]["github.workflow.filename"] == (
        ".github/workflows/build.yml"
    )
    log = lanner.log()
    assert code == 0, log
    assert log.count("signature check failed") == 2, log
    assert "has no effect" not in log, log  # the plugin entry is read
    assert "not JSON" in log, log
    assert "/repos/acme/app/compare/aaa111...bbb222" in GithubApiDouble.seen


def test_api_refusal_is_logged_and_the_push_still_delivered(tmp_path: Path, api: str) -> None:
    """A wrong token: the compare call answers 401; the push is logged and still reaches
    the rules (without the scan, so no secret rule fires), the server goes on."""
    lanner, url = start(tmp_path, api, token="ghp_wrong")
    try:
        assert post(url, "push", push("u-push-aws", "aaa111...bbb222", private=False)) == 200
        assert post(url, "ping", message("sentinel", hook={"id": 1, "type": "Repository"})) == 200
        alerts = until_user(lanner, "sentinel")
    finally:
        lanner.stop()
    assert [a["rule"] for a in alerts] == ["Webhook Connected"], alerts
    assert "HTTP 401" in lanner.log(), lanner.log()[-3000:]


def test_https_is_required_unless_turned_off(tmp_path: Path, api: str) -> None:
    cfg = write_config(tmp_path, api, free_port(), useHTTPs=True)
    res = subprocess.run([*LANNER_RUN, "-c", str(cfg), "-r", str(RULES), "--disable-source",
                          "syscall"], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert res.returncode != 0 and "server.crt" in res.stderr, res.stderr


@pytest.mark.parametrize(
    ("api_url", "needle"),
    [("http://api.example.com", "https required"), ("ftp://127.0.0.1/", "not a URL")],
)
def test_api_url_over_plain_http_only_on_loopback(
    tmp_path: Path, api_url: str, needle: str
) -> None:
    """The token goes to apiURL: plain http to another host is refused at start."""
    cfg = write_config(tmp_path, api_url, free_port())
    res = subprocess.run([*LANNER_RUN, "-c", str(cfg), "-r", str(RULES), "--disable-source",
                          "syscall"], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert res.returncode != 0 and needle in res.stderr and "apiURL" in res.stderr, res.stderr


def test_https_webhook_with_the_certificate_of_secrets_dir(tmp_path: Path, api: str) -> None:
    """useHTTPs with server.crt/server.key in secretsDir: deliveries over TLS are
    evaluated; a plain-HTTP connection gets nothing."""
    secrets = tmp_path / "ghplugin"
    secrets.mkdir()
    certs = make_certs(secrets)  # writes server.crt and server.key, the plugin's names
    tls = ssl.create_default_context(cafile=str(certs.ca))
    lanner, url = start(tmp_path, api, tls=tls)
    try:
        doc = message("u-tls", action="publicized")
        assert post(url, "repository", doc, tls=tls) == 200
        alerts = until_user(lanner, "u-tls")
        with pytest.raises(httpx.HTTPError):
            httpx.post(url.replace("https:", "http:"), content=b"{}", timeout=5)
    finally:
        code = lanner.stop()
    assert [a["rule"] for a in alerts] == ["Private Repository Becoming Public"], alerts
    assert code == 0, lanner.log()[-3000:]


def test_webhooks_installed_and_removed_as_the_plugin(tmp_path: Path, api: str) -> None:
    """With websocketServerURL (and open_params ``*``) Lanner installs a webhook with a
    generated secret in each repository the token administers (not archived), replacing
    one with the same URL, and removes them when it stops."""
    port = free_port()
    public = f"http://127.0.0.1:{port}/"
    GithubApiDouble.hooks.clear()
    GithubApiDouble.hooks["acme/app"] = [{"id": 7, "config": {"url": public}}]  # a stale one
    cfg = write_config(tmp_path, api, port, open_params="*", websocketServerURL=public)
    lanner = start_lanner(cfg, tmp_path / "lanner.err", TOKEN)
    try:
        wait_until(lambda: len(GithubApiDouble.hooks.get("acme/app", [])) == 1
                   and GithubApiDouble.hooks["acme/app"][0]["id"] != 7, timeout=60,
                   what="the webhook installed")  # fmt: skip
        assert set(GithubApiDouble.hooks) == {"acme/app"}  # not archived, admin only
        hook = GithubApiDouble.hooks["acme/app"][0]
        assert hook["config"]["url"] == public and hook["events"] == ["*"]
        secret = hook["config"]["secret"]
        assert len(secret) >= 32
        doc = message("u-installed", action="publicized")
        body = json.dumps(doc).encode()
        assert post(public, "repository", doc, sign(body, secret)) == 200
        assert post(public, "repository", doc, sign(body, SECRET)) == 401
        alerts = until_user(lanner, "u-installed")
    finally:
        code = lanner.stop()
    assert [a["rule"] for a in alerts] == ["Private Repository Becoming Public"]
    assert code == 0, lanner.log()[-3000:]
    assert GithubApiDouble.hooks["acme/app"] == [], lanner.log()[-3000:]  # removed at stop
