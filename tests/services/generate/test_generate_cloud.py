"""``lanner generate test`` proves the cloud and SaaS sources end to end (issue 25): a
real ``lanner run`` with the cloudtrail (SQS notifications of log files in S3),
k8saudit-eks (CloudWatch Logs), github (signed webhook deliveries) and okta (System Log
polling) plugins, the upstream rule files loaded, and the generator delivering the events
of each rule: S3 objects, SQS messages and log events into moto in server mode on
loopback (PyPI ``moto[server]``) through boto3, webhook POSTs to lanner's github webhook,
a System Log API the generator serves for lanner's okta poller, and a stand-in for
GitHub's REST API (api.github.com: compare, commits, contents) the generator serves on
loopback for the diffs and workflow files lanner's github plugin fetches (its apiURL).
Every enabled rule of the four files is proved, or said why it cannot be here."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpers import free_port, shared_fixture, wait_until
from helpers.moto_server import aws_client, aws_env, moto_server
from lanner.services.generate.registry import UNCOVERED_FALCO, select

from .lanner_proc import LANNER, LannerRun, enabled_rules, report_rows

FILES = ("aws_cloudtrail_rules.yaml", "github.yaml", "okta_rules.yaml", "k8s_audit_rules.yaml")


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto")) as url:
        yield url


def test_generate_proves_the_cloud_rule_files_end_to_end(tmp_path: Path, moto: str) -> None:
    files = [shared_fixture("rules", f) for f in FILES]
    env = aws_env(moto)
    aws_client(moto, "s3").create_bucket(Bucket="gen-trail")
    aws_client(moto, "sqs").create_queue(QueueName="gen-trail-events")
    secrets = tmp_path / "gh"
    secrets.mkdir()
    (secrets / "webhook.secret").write_text("gen-secret\n")
    (secrets / "github.token").write_text("gen-gh-token\n")  # sent to the API stand-in
    gh_port, okta_port, gh_api_port = free_port(), free_port(), free_port()
    alerts = tmp_path / "alerts.json"
    alerts.touch()
    cfg = {
        "rule_matching": "all", "priority": "debug",
        "load_plugins": ["cloudtrail", "k8saudit-eks", "github", "okta", "json"],
        "plugins": [
            {"name": "cloudtrail", "open_params": "sqs://gen-trail-events"},
            {"name": "k8saudit-eks", "open_params": "gen",
             "init_config": {"polling_interval": 1, "region": "us-east-1"}},
            {"name": "github", "open_params": "acme/app",
             "init_config": {"useHTTPs": False, "secretsDir": str(secrets),
                             "listen": f"127.0.0.1:{gh_port}",
                             "apiURL": f"http://127.0.0.1:{gh_api_port}"}},
            {"name": "okta", "init_config": {"api_token": "gen-token", "refresh_interval": 1,
                                             "baseURL": f"http://127.0.0.1:{okta_port}"}},
            {"name": "json"},
        ],
    }  # fmt: skip
    argv = ["generate", "test", "--alerts", str(alerts), "--timeout", "30",
            "--runtime-socket", "none", "--aws-endpoint", moto,
            "--cloudtrail-bucket", "gen-trail", "--cloudtrail-queue", "gen-trail-events",
            "--eks-cluster", "gen", "--github", f"http://127.0.0.1:{gh_port}/webhook",
            "--github-secret-file", str(secrets / "webhook.secret"), "--github-repo", "acme/app",
            "--github-api-serve", f"127.0.0.1:{gh_api_port}",
            "--github-token-file", str(secrets / "github.token"),
            "--okta-serve", f"127.0.0.1:{okta_port}", "--okta-token", "gen-token"]  # fmt: skip
    for f in files:
        argv += ["--rules", str(f)]
    # the generator first: it serves the System Log the okta plugin polls from its start
    gen = subprocess.Popen([*LANNER, *argv], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)  # fmt: skip
    wait_until(lambda: httpx.get(f"http://127.0.0.1:{okta_port}/").status_code == 404,
               timeout=60, what="the generator's System Log API")  # fmt: skip
    run = LannerRun(tmp_path, files, args=("--disable-source", "syscall"), env=env, **cfg)
    try:
        out, err = gen.communicate(timeout=300)
    finally:
        run.stop()
    lanner_log = run.log_text()
    rows = report_rows(out)
    uncovered = {u.rule for u in UNCOVERED_FALCO}
    for f in files:
        for rule in enabled_rules(f):
            want = "cannot run here" if rule in uncovered else "proved"
            got = rows.get(rule) or rows.get(rule.strip())
            assert got == want or (want == "cannot run here" and got == "proved"), (
                f"{f.name}: {rule}: {got}\n{out}\n{err}\n{lanner_log[-3000:]}"
            )
    assert gen.returncode == 0, out + err
    # the cloud actions are listed, each with the source it feeds
    assert {a.source for a in select(source="okta")} == {"okta"}
    assert len(select(source="aws_cloudtrail")) == 20 and len(select(source="github")) == 15
    # the three REST API rules were proved through lanner's API calls to the stand-in
    for rule in (
        "Secret pushed into a public repository",
        "Secret pushed into a private repository",
        "Github action with miners",
    ):
        assert rows.get(rule) == "proved", f"{rule}\n{out}\n{lanner_log[-3000:]}"
    assert "github: GET" not in lanner_log, lanner_log[-3000:]  # no API call failed


def test_a_cloud_action_without_its_target_is_skipped(tmp_path: Path) -> None:
    """Without --github (and --github-api-serve), the GitHub actions cannot run: each rule
    says so; none fails."""
    alerts = tmp_path / "alerts.json"
    alerts.touch()
    rules = shared_fixture("rules", "github.yaml")
    r = subprocess.run([*LANNER, "generate", "test", "--rules", str(rules), "--alerts",
                        str(alerts), "--timeout", "1", "--runtime-socket", "none"],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    rows = re.findall(r"^(.+?)\s{2,}cannot run here\s+(\S+)\s+(.*)$", r.stdout, re.M)
    assert len(rows) == len(enabled_rules(rules)), r.stdout
    assert sum("no --github given" in detail for _r, _a, detail in rows) == 12, r.stdout
    api_rules = {
        rule.strip() for rule, _a, detail in rows if "no --github-api-serve given" in detail
    }
    assert api_rules == {"Secret pushed into a public repository", "Github action with miners",
                         "Secret pushed into a private repository"}, r.stdout  # fmt: skip
