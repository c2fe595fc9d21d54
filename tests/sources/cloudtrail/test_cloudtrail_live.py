"""The cloudtrail plugin's live modes in ``lanner run`` (``open_params: s3://...`` and
``sqs://...``) against AWS's APIs served by moto in server mode on loopback (PyPI
``moto[server]``), driven by boto3 (the real SDK): the upstream aws_cloudtrail_rules.yaml
fire on records read from S3 objects and from SQS notifications, nothing is read twice
across restarts, and a bad object or message is logged while the source goes on."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import wait_until
from helpers.moto_server import aws_client, aws_env, moto_server

ROOT = Path(__file__).resolve().parents[3]
CT_RULES = ROOT.parent / "shared" / "fixtures" / "rules" / "aws_cloudtrail_rules.yaml"
LANNER = [sys.executable, "-c", "from lanner.cli import main; main()", "run"]
ACCOUNT = "123456789012"
USER = {"type": "IAMUser", "principalId": "AIDAEX", "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
        "accountId": ACCOUNT, "userName": "alice"}  # fmt: skip


def record(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "eventVersion": "1.08", "userIdentity": USER, "eventTime": "2026-12-07T12:00:00Z",
        "eventSource": "iam.amazonaws.com", "eventName": name, "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli", "eventType": "AwsApiCall",
        "recipientAccountId": ACCOUNT, **extra,
    }  # fmt: skip


def login(mfa: str) -> dict[str, Any]:
    return record("ConsoleLogin", eventSource="signin.amazonaws.com",
                  responseElements={"ConsoleLogin": "Success"},
                  additionalEventData={"MFAUsed": mfa}, eventType="AwsConsoleSignIn")  # fmt: skip


def log_object(*records: dict[str, Any]) -> bytes:
    return gzip.compress(json.dumps({"Records": list(records)}).encode())


def key(stamp: str, n: int) -> str:
    return (f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/12/07/"
            f"{ACCOUNT}_CloudTrail_us-east-1_{stamp}_{n:04d}.json.gz")  # fmt: skip


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto")) as url:
        yield url


def config(tmp: Path, open_params: str, **init: Any) -> Path:
    cfg = {
        "json_output": True, "stdout_output": {"enabled": True}, "log_level": "info",
        "load_plugins": ["cloudtrail", "json"],
        "plugins": [{"name": "cloudtrail", "init_config": json.dumps(init),
                     "open_params": open_params}, {"name": "json"}],
    }  # fmt: skip
    path = tmp / "lanner.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def alerts(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_s3_bucket_read_once_across_restarts(tmp_path: Path, moto: str) -> None:
    s3 = aws_client(moto, "s3")
    s3.create_bucket(Bucket="trail")
    s3.put_object(Bucket="trail", Key=key("20261207T1200Z", 1),
                  Body=log_object(login("No"), login("Yes"), record("CreateUser")))  # fmt: skip
    s3.put_object(Bucket="trail", Key=key("20261207T1205Z", 2), Body=b"not gzip, not json")
    s3.put_object(Bucket="trail", Key="AWSLogs/other/readme.txt", Body=b"{}")  # outside prefix
    cfg = config(tmp_path, f"s3://trail/AWSLogs/{ACCOUNT}/",
                 stateFile=str(tmp_path / "state.json"))  # fmt: skip

    def lanner() -> subprocess.CompletedProcess[str]:
        return subprocess.run([*LANNER, "-c", str(cfg), "-r", str(CT_RULES), "--disable-source",
                               "syscall"], env=aws_env(moto), capture_output=True, text=True,
                              timeout=120)  # fmt: skip

    first = lanner()
    assert first.returncode == 0, first.stderr[-3000:]
    rules = sorted(a["rule"] for a in alerts(first.stdout))
    assert rules == ["Console Login Without MFA", "Create AWS user"], first.stdout
    assert "s3://trail/" in first.stderr and "bad_record" in first.stderr  # the bad object
    # a restart reads nothing again; a new object is read alone
    again = lanner()
    assert again.returncode == 0 and alerts(again.stdout) == [], again.stdout
    s3.put_object(
        Bucket="trail", Key=key("20261207T1210Z", 3), Body=log_object(record("CreateUser"))
    )
    third = lanner()
    assert [a["rule"] for a in alerts(third.stdout)] == ["Create AWS user"], third.stdout


def test_s3_interval_and_account_list_select_objects(tmp_path: Path, moto: str) -> None:
    s3 = aws_client(moto, "s3")
    s3.create_bucket(Bucket="org")

    def org_key(account: str, stamp: str) -> str:
        day = f"{stamp[:4]}/{stamp[4:6]}/{stamp[6:8]}"
        name = f"{account}_CloudTrail_us-east-1_{stamp}_x.json.gz"
        return f"AWSLogs/o-abc/{account}/CloudTrail/us-east-1/{day}/{name}"

    old, new = org_key(ACCOUNT, "20200101T0000Z"), org_key(ACCOUNT, "20261207T1200Z")
    other = org_key("999999999999", "20261207T1200Z")
    for k in (old, new, other):
        s3.put_object(Bucket="org", Key=k, Body=log_object(record("CreateUser", eventID=k)))
    cfg = config(tmp_path, "s3://org/AWSLogs/o-abc/", S3Interval="2026-01-01T00:00:00Z",
                 S3AccountList=ACCOUNT)  # fmt: skip
    argv = [*LANNER, "-c", str(cfg), "-r", str(CT_RULES), "--disable-source", "syscall"]
    res = subprocess.run(argv, env=aws_env(moto), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    assert len(alerts(res.stdout)) == 1, res.stdout  # only the new object of the listed account


def test_unknown_init_key_is_a_startup_error(tmp_path: Path, moto: str) -> None:
    cfg = config(tmp_path, "s3://trail/", sqsDelete=True, s3Concurrency=4)
    res = subprocess.run([*LANNER, "-c", str(cfg), "-r", str(CT_RULES), "--disable-source",
                          "syscall"], env=aws_env(moto), capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert res.returncode != 0 and "s3Concurrency" in res.stderr, res.stderr


def bare_env(moto: str, tmp: Path) -> dict[str, str]:
    """The environment without AWS credentials, region or profile, and empty shared files
    (so that the developer's ~/.aws cannot answer instead)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    (tmp / "empty").write_text("")
    return {**env, "AWS_ENDPOINT_URL": moto, "AWS_CONFIG_FILE": str(tmp / "empty"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "empty")}  # fmt: skip


@pytest.mark.parametrize(
    ("params", "init", "needle"),
    [
        ("s3://trail/", {"aws": {"profile": "no-such-profile"}}, "no-such-profile"),
        ("sqs://trail-events", {}, "no AWS region"),  # nothing names a region
        ("sqs://no-such-queue", {"aws": {"region": "us-east-1"}}, "sqs://no-such-queue"),
        ("s3://trail/", {"aws": {"region": "us-east-1", "config": "/nonexistent/cfg"}},
         "init_config.aws.config"),
        ("s3://trail/", {"aws": {"region": "us-east-1", "zone": "a"}}, "zone"),
        ("s3://trail/", {"aws": {"region": 1}}, "init_config.aws.region"),
    ],
)  # fmt: skip
def test_unusable_aws_settings_are_a_startup_error(
    tmp_path: Path, moto: str, params: str, init: dict[str, Any], needle: str
) -> None:
    """As for k8saudit-eks: the clients (and the queue) are made when the input starts, so
    lanner run stops at once with the setting named, instead of a reader thread failing."""
    aws_client(moto, "sqs").create_queue(QueueName="trail-events")
    cfg = config(tmp_path, params, **init)
    env = {**bare_env(moto, tmp_path), "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing"}  # fmt: skip
    res = subprocess.run([*LANNER, "-c", str(cfg), "-r", str(CT_RULES), "--disable-source",
                          "syscall"], env=env, capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert res.returncode != 0, res.stderr[-2000:]
    assert needle in res.stderr and "cloudtrail" in res.stderr, res.stderr[-2000:]
    assert "Traceback" not in res.stderr, res.stderr[-3000:]


def test_aws_profile_and_shared_files_are_used(tmp_path: Path, moto: str) -> None:
    """init_config.aws names the profile and its files: its region and credentials are the
    ones used (nothing in the environment names any)."""
    s3 = aws_client(moto, "s3")
    s3.create_bucket(Bucket="profiled")
    s3.put_object(Bucket="profiled", Key=key("20261207T1230Z", 9),
                  Body=log_object(record("CreateUser")))  # fmt: skip
    (tmp_path / "aws-config").write_text("[profile trail]\nregion = us-east-1\n")
    (tmp_path / "aws-credentials").write_text(
        "[trail]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    aws = {"profile": "trail", "config": str(tmp_path / "aws-config"),
           "credentials": str(tmp_path / "aws-credentials")}  # fmt: skip
    cfg = config(tmp_path, "s3://profiled/", aws=aws, useAsync=True)
    argv = [*LANNER, "-c", str(cfg), "-r", str(CT_RULES), "--disable-source", "syscall"]
    env = bare_env(moto, tmp_path)
    res = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    assert [a["rule"] for a in alerts(res.stdout)] == ["Create AWS user"], res.stdout
    # the control: without the profile, the same environment has no region
    res = subprocess.run([*LANNER, "-c", str(config(tmp_path, "s3://profiled/")), "-r",
                          str(CT_RULES), "--disable-source", "syscall"], env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert res.returncode != 0 and "no AWS region" in res.stderr, res.stderr[-2000:]


def test_sqs_notifications_are_read_and_deleted(tmp_path: Path, moto: str) -> None:
    s3, sqs = aws_client(moto, "s3"), aws_client(moto, "sqs")
    s3.create_bucket(Bucket="live")
    url = sqs.create_queue(QueueName="trail-events")["QueueUrl"]
    k = key("20261207T1215Z", 4)
    s3.put_object(Bucket="live", Key=k, Body=log_object(login("No")))
    note = {"s3Bucket": "live", "s3ObjectKey": [k]}  # CloudTrail's SNS message
    body = {"Type": "Notification", "Message": json.dumps(note)}
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
    sqs.send_message(QueueUrl=url, MessageBody="garbage")  # logged, deleted, the source goes on
    cfg = config(tmp_path, "sqs://trail-events", stateFile=str(tmp_path / "sqs-state.json"))
    err_path = tmp_path / "lanner.err"
    with open(err_path, "w") as err_fh:
        proc = subprocess.Popen([*LANNER, "-c", str(cfg), "-r", str(CT_RULES),
                                 "--disable-source", "syscall"], env=aws_env(moto),
                                stdout=subprocess.PIPE, stderr=err_fh, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the alert, as soon as the message is read
        assert line.startswith("{"), (line, err_path.read_text()[-3000:])
        assert json.loads(line)["rule"] == "Console Login Without MFA", line

        def queued() -> int:
            names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
            return sum(int(got[n]) for n in names)

        wait_until(lambda: queued() == 0, timeout=30, what="the messages deleted")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    err = err_path.read_text()
    assert proc.returncode == 0, err[-2000:]  # stopped by SIGTERM, cleanly
    assert "not a log file notification" in err, err[-2000:]
