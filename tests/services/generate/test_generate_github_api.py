"""The generator's stand-in for GitHub's REST API (api.github.com; ``lanner generate
--github-api-serve``), served on loopback: the github source's own API client
(:class:`lanner.sources.github.webhook.GithubApi`) finds the secrets and miners the
actions push through it, and it answers as GitHub documents (paths, token, User-Agent,
JSON shapes, 401/403/404, rate-limit headers)."""

from __future__ import annotations

import base64
import logging
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from helpers import free_port, shared_fixture
from lanner.exceptions import ActionError
from lanner.services.generate.github_actions import fake_secret
from lanner.services.generate.github_api_double import GithubApiDouble
from lanner.sources.github.webhook import GithubApi, WebhookStats

from .lanner_proc import LANNER

TOKEN = "stand-in-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/vnd.github+json",
           "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "lanner-test"}  # fmt: skip
WORKFLOW = "on: push\njobs:\n  b:\n    steps:\n      - run: ./xmrig -o stratum+tcp://x:1\n"


@pytest.fixture
def double() -> Iterator[GithubApiDouble]:
    api = GithubApiDouble("127.0.0.1", 0, TOKEN)
    try:
        yield api
    finally:
        api.close()


def get(double: GithubApiDouble, path: str, **headers: str) -> httpx.Response:
    return httpx.get(double.url + path, headers={**HEADERS, **headers}, timeout=10)


def test_the_source_client_finds_what_the_actions_push(double: GithubApiDouble) -> None:
    before, after = double.push("acme/app", {"deploy/a.env": f"X=1\n{fake_secret('aws')}\n"},
                                "gen-user", "config")  # fmt: skip
    clean_before, clean_after = double.push("acme/app", {"README.md": "# app\nmore\n"}, "u", "doc")
    double.push("acme/app", {".github/workflows/b.yml": WORKFLOW}, "u", "ci")
    double.push("acme/app", {".github/workflows/t.yml": "on: push\n"}, "u", "ci")
    client = GithubApi(double.url, TOKEN, WebhookStats())
    try:
        # the refs as a push delivery's compare URL abbreviates them
        found = client.diff_secrets("acme/app", f"{before[:12]}...{after[:12]}")
        assert found == [{"name": "deploy/a.env", "matches": [
            {"type": "aws_access_key", "desc": "AWS Access Key", "line": 2}]}]  # fmt: skip
        token_push = double.push("acme/app", {"ci/env.sh": fake_secret("github")}, "u", "t")
        found = client.diff_secrets("acme/app", "...".join(token_push))
        assert found is not None and found[0]["matches"][0]["type"] == (
            "github_personal_access_token"
        )
        # the control: a push without a secret, a workflow without a miner
        clean = client.diff_secrets("acme/app", f"{clean_before}...{clean_after}")
        assert clean == [{"name": "README.md", "matches": []}]
        assert client.workflow_miners("acme/app", ".github/workflows/b.yml") == [
            {"type": "xmrig", "line": 5}
        ]
        assert client.workflow_miners("acme/app", ".github/workflows/t.yml") == []
    finally:
        client.close()


def test_answers_as_github_documents(double: GithubApiDouble) -> None:
    before, after = double.push("acme/app", {"deploy/a.env": "A=1\nB=2\n"}, "gen-user", "add")
    doc = get(double, f"/repos/acme/app/compare/{before[:7]}...{after[:7]}").json()
    assert (doc["status"], doc["ahead_by"], doc["behind_by"], doc["total_commits"]) == (
        "ahead",
        1,
        0,
        1,
    )
    assert [c["sha"] for c in doc["commits"]] == [after]
    assert doc["commits"][0]["parents"][0]["sha"] == before
    assert doc["commits"][0]["commit"]["author"]["name"] == "gen-user"
    (f,) = doc["files"]
    assert (f["filename"], f["status"], f["additions"], f["deletions"]) == (
        "deploy/a.env",
        "added",
        2,
        0,
    )
    assert f["patch"] == "@@ -0,0 +1,2 @@\n+A=1\n+B=2"
    # a modification: the hunk of the changed line, with context
    _b, changed = double.push("acme/app", {"deploy/a.env": "A=1\nB=3\n"}, "gen-user", "edit")
    one = get(double, f"/repos/acme/app/commits/{changed}").json()
    assert one["files"][0]["status"] == "modified" and one["stats"]["total"] == 2
    assert one["files"][0]["patch"] == "@@ -1,2 +1,2 @@\n A=1\n-B=2\n+B=3"
    # behind: nothing new on the head side
    back = get(double, f"/repos/acme/app/compare/{changed}...{after}").json()
    assert (back["status"], back["behind_by"], back["files"]) == ("behind", 1, [])
    # contents: base64 in 60-column lines; at a commit before the file, 404
    got = get(double, "/repos/acme/app/contents/deploy/a.env").json()
    assert got["type"] == "file" and got["encoding"] == "base64"
    assert base64.b64decode(got["content"]).decode() == "A=1\nB=3\n"
    assert get(double, f"/repos/acme/app/contents/deploy/a.env?ref={after}").json()["size"] == 8
    assert get(double, f"/repos/acme/app/contents/deploy/a.env?ref={before}").status_code == 404


@pytest.mark.parametrize(
    ("path", "headers", "status", "message"),
    [
        ("/repos/acme/app/commits/main", {"Authorization": "Bearer wrong"}, 401,
         "Bad credentials"),
        ("/repos/acme/app/commits/main", {"Authorization": f"token {TOKEN}"}, 200, None),
        ("/repos/acme/app/commits/main", {"User-Agent": ""}, 403, "User-Agent"),
        ("/repos/acme/app/commits/main", {"X-GitHub-Api-Version": "1999-01-01"}, 400,
         "not supported"),
        ("/repos/acme/nope/commits/main", {}, 404, "Not Found"),
        ("/repos/acme/app/commits/0123456789", {}, 404, "Not Found"),
        ("/repos/acme/app/compare/main", {}, 404, "Not Found"),
        ("/repos/acme/app/contents/missing.txt", {}, 404, "Not Found"),
        ("/user/repos", {}, 404, "Not Found"),
    ],
)  # fmt: skip
def test_refusals(
    double: GithubApiDouble, path: str, headers: dict[str, str], status: int, message: Any
) -> None:
    double.push("acme/app", {"a": "1\n"}, "u", "m")
    resp = get(double, path, **headers)
    assert resp.status_code == status, resp.text
    if message:
        assert message in resp.json()["message"]


def test_rate_limit_is_reported_and_enforced(caplog: pytest.LogCaptureFixture) -> None:
    """The x-ratelimit-* headers count down; once spent, 403, which the source's client
    logs as an exhausted rate limit and counts (the delivery then goes on unscanned)."""
    double = GithubApiDouble("127.0.0.1", 0, TOKEN, rate_limit=2)
    try:
        before, after = double.push("acme/app", {"a": "1\n"}, "u", "m")
        first = get(double, f"/repos/acme/app/commits/{after}")
        assert first.headers["x-ratelimit-remaining"] == "1"
        assert first.headers["x-ratelimit-limit"] == "2"
        assert first.headers["x-ratelimit-resource"] == "core"
        assert get(double, f"/repos/acme/app/commits/{after}").status_code == 200
        stats = WebhookStats()
        client = GithubApi(double.url, TOKEN, stats)
        with caplog.at_level(logging.WARNING, logger="lanner.github"):
            assert client.diff_secrets("acme/app", f"{before}...{after}") is None
        client.close()
        assert stats.errors == {"api": 1}
        assert "HTTP 403 (rate limit exhausted)" in caplog.text, caplog.text
    finally:
        double.close()


@pytest.mark.parametrize(
    ("host", "token", "needle"),
    [("0.0.0.0", TOKEN, "loopback only"), ("127.0.0.1", "", "token")],
)
def test_refused_settings(host: str, token: str, needle: str) -> None:
    with pytest.raises(ActionError, match=needle):
        GithubApiDouble(host, free_port(), token)


def test_cli_needs_the_webhook_with_the_api(tmp_path: Any) -> None:
    """--github-api-serve alone: a usage error naming --github; the token is required."""
    alerts = tmp_path / "alerts.json"
    alerts.touch()
    base = [*LANNER, "generate", "test", "--rules", str(shared_fixture("rules", "github.yaml")),
            "--alerts", str(alerts), "--timeout", "1", "--runtime-socket", "none",
            "--github-api-serve", f"127.0.0.1:{free_port()}"]  # fmt: skip
    r = subprocess.run(base, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--github-api-serve needs --github" in r.stderr, r.stderr
    secret = tmp_path / "webhook.secret"
    secret.write_text("s\n")
    hook = ["--github", "http://127.0.0.1:9/", "--github-secret-file", str(secret),
            "--github-repo", "acme/app"]  # fmt: skip
    env = {"PATH": "/usr/bin:/bin"}  # no GITHUB_PLUGIN_TOKEN
    r = subprocess.run([*base, *hook], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 1 and "GITHUB_PLUGIN_TOKEN" in r.stderr, r.stderr
