"""aws_cloudtrail_rules.yaml against CloudTrail records written here, and the file readers."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from helpers import shared_fixture
from lanner.engine.engine import Engine
from lanner.sources.cloudtrail import (
    cloudtrail_source,
    looks_like_cloudtrail_file,
    read_cloudtrail_events,
)
from lanner.sources.json_source import JsonEvent, LineError

RULES = shared_fixture("rules")
CT_RULES = RULES / "aws_cloudtrail_rules.yaml"
IAM_USER = {
    "type": "IAMUser",
    "principalId": "AIDAEXAMPLE",
    "arn": "arn:aws:iam::123456789012:user/alice",
    "accountId": "123456789012",
    "userName": "alice",
}
ROOT = {
    "type": "Root",
    "principalId": "123456789012",
    "arn": "arn:aws:iam::123456789012:root",
    "accountId": "123456789012",
    "userName": "root-account",
}
WHO = "requesting user=alice, requesting IP=203.0.113.7, AWS region=eu-west-1"


def record(name: str, source: str, **extra: Any) -> dict[str, Any]:
    """One CloudTrail record."""
    rec: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": copy.deepcopy(IAM_USER),
        "eventTime": "2026-11-25T09:30:15Z",
        "eventSource": source,
        "eventName": name,
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.17.0",
        "requestParameters": None,
        "responseElements": None,
        "eventID": "6f0d1b1e-0000-4000-8000-000000000001",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": "123456789012",
    }
    rec.update(extra)
    return rec


def console_login(identity: dict[str, Any], mfa: str) -> dict[str, Any]:
    return record(
        "ConsoleLogin",
        "signin.amazonaws.com",
        userIdentity=identity,
        eventType="AwsConsoleSignIn",
        responseElements={"ConsoleLogin": "Success"},
        additionalEventData={"MFAUsed": mfa, "LoginTo": "https://console.aws.amazon.com/"},
    )


ASSUMED = {
    "type": "AssumedRole",
    "principalId": "AROAEXAMPLE:bob",
    "arn": "arn:aws:sts::123456789012:assumed-role/Admin/bob",
    "accountId": "123456789012",
    "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "Admin"}},
}


@pytest.fixture(scope="module")
def engine() -> Engine:
    eng = Engine([cloudtrail_source()], hostname="test-host")
    outcome = eng.load_rules([CT_RULES])
    assert outcome.successful, [str(d) for r in outcome.results for d in r.errors]
    eng.ruleset.match_all = True
    return eng


def fired(engine: Engine, rec: dict[str, Any]) -> dict[str, str]:
    ev = JsonEvent(rec, 1795599015000000000, 1)
    return {a.rule: a.message for a in engine.process(ev, "aws_cloudtrail")}


POSITIVE: list[tuple[str, dict[str, Any], str]] = [
    (
        "Console Login Through Assume Role",
        console_login(ASSUMED, "Yes"),
        "Detected a console login through Assume Role (principal=AROAEXAMPLE:bob, "
        "assumedRole=arn:aws:sts::123456789012:assumed-role/Admin/bob, "
        "requesting IP=203.0.113.7, AWS region=eu-west-1)",
    ),
    (
        "Console Login Without MFA",
        console_login(IAM_USER, "No"),
        f"Detected a console login without MFA ({WHO})",
    ),
    (
        "Console Root Login Without MFA",
        console_login(ROOT, "No"),
        "Detected a root console login without MFA. (requesting user=root-account, "
        "requesting IP=203.0.113.7, AWS region=eu-west-1)",
    ),
    (
        "Deactivate MFA for Root User",
        record(
            "DeactivateMFADevice",
            "iam.amazonaws.com",
            userIdentity=ROOT,
            requestParameters={
                "userName": "AWS ROOT USER",
                "serialNumber": "arn:aws:iam::123456789012:mfa/root",
            },
        ),
        "Multi Factor Authentication configuration has been disabled for root (requesting "
        "user=root-account, requesting IP=203.0.113.7, AWS region=eu-west-1, MFA serial "
        "number=arn:aws:iam::123456789012:mfa/root)",
    ),
    (
        "Create AWS user",
        record("CreateUser", "iam.amazonaws.com", requestParameters={"userName": "mallory"}),
        f"A new AWS user has been created ({WHO}, new user created=mallory)",
    ),
    (
        "Create Group",
        record("CreateGroup", "iam.amazonaws.com", requestParameters={"groupName": "ops"}),
        f"A new user group has been created. ({WHO}, group name=ops)",
    ),
    (
        "Delete Group",
        record("DeleteGroup", "iam.amazonaws.com", requestParameters={"groupName": "ops"}),
        f"A user group has been deleted. ({WHO}, group name=ops)",
    ),
    (
        "ECS Service Created",
        record(
            "CreateService",
            "ecs.amazonaws.com",
            requestParameters={"cluster": "prod", "serviceName": "web", "taskDefinition": "web:7"},
        ),
        f"A new service has been created in ECS ({WHO}, cluster=prod, service name=web, "
        "task definition=web:7)",
    ),
    (
        "ECS Task Run or Started",
        record(
            "RunTask",
            "ecs.amazonaws.com",
            requestParameters={"cluster": "prod", "taskDefinition": "miner:1"},
        ),
        f"A new task has been started in ECS ({WHO}, cluster=prod, task definition=miner:1)",
    ),
    (
        "Create Lambda Function",
        record(
            "CreateFunction20150331",
            "lambda.amazonaws.com",
            requestParameters={"functionName": "exfil"},
        ),
        f"Lambda function has been created. ({WHO}, lambda function=exfil)",
    ),
    (
        "Update Lambda Function Code",
        record(
            "UpdateFunctionCode20150331v2",
            "lambda.amazonaws.com",
            requestParameters={"functionName": "exfil"},
        ),
        f"The code of a Lambda function has been updated. ({WHO}, lambda function=exfil)",
    ),
    (
        "Run Instances in Non-approved Region",
        record(
            "RunInstances",
            "ec2.amazonaws.com",
            requestParameters={"availabilityZone": "eu-west-1a"},
            responseElements={
                "reservationId": "r-0abc",
                "subnetId": "subnet-1",
                "instancesSet": {"items": [{"instanceId": "i-0123"}]},
            },
        ),
        f"A number of instances have been launched in a non-approved region. ({WHO}, "
        "availability zone=eu-west-1a, subnet id=subnet-1, reservation id=r-0abc, "
        "image id=i-0123)",
    ),
    (
        "Delete Bucket Encryption",
        record(
            "DeleteBucketEncryption",
            "s3.amazonaws.com",
            requestParameters={"bucketName": "payroll", "Host": "payroll.s3.amazonaws.com"},
        ),
        f"A encryption configuration for a bucket has been deleted ({WHO}, bucket=payroll)",
    ),
    (
        "Delete Bucket Public Access Block",
        record(
            "PutBucketPublicAccessBlock",
            "s3.amazonaws.com",
            requestParameters={
                "bucketName": "payroll",
                "publicAccessBlock": "",
                "PublicAccessBlockConfiguration": {
                    "RestrictPublicBuckets": False,
                    "BlockPublicPolicy": True,
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                },
            },
        ),
        f"A public access block for a bucket has been deleted ({WHO}, bucket=payroll)",
    ),
    (
        "Put Bucket Policy",
        record(
            "PutBucketPolicy",
            "s3.amazonaws.com",
            requestParameters={"bucketName": "payroll", "policy": '{"Version":"2012"}'},
        ),
        f"An Amazon S3 bucket policy has been applied to an Amazon S3 bucket. ({WHO}, "
        'bucket name=payroll, policy={"Version":"2012"})',
    ),
    (
        "CloudTrail Logging Disabled",
        record("StopLogging", "cloudtrail.amazonaws.com", requestParameters={"name": "main"}),
        f"The CloudTrail logging has been disabled. ({WHO}, resource name=main)",
    ),
    (
        "CloudTrail Trail Created",
        record("CreateTrail", "cloudtrail.amazonaws.com", requestParameters={"name": "shadow"}),
        f"A new trail has been created. ({WHO}, trail name=shadow)",
    ),
]


@pytest.mark.parametrize(("rule", "rec", "message"), POSITIVE, ids=[c[0] for c in POSITIVE])
def test_rule_fires_with_its_output(
    engine: Engine, rule: str, rec: dict[str, Any], message: str
) -> None:
    got = fired(engine, rec)
    assert rule in got, sorted(got)
    assert got[rule] == message


def test_at_least_ten_rules_are_covered() -> None:
    assert len({c[0] for c in POSITIVE}) >= 10


NEGATIVE: list[tuple[str, dict[str, Any]]] = [
    ("Console Login Without MFA", console_login(IAM_USER, "Yes")),
    ("Console Login Without MFA", console_login(ASSUMED, "No")),
    ("Console Root Login Without MFA", console_login(IAM_USER, "No")),
    (
        "Console Login Through Assume Role",
        {**console_login(ASSUMED, "Yes"), "errorCode": "Failed authentication"},
    ),
    ("Create AWS user", record("CreateUser", "iam.amazonaws.com", errorCode="AccessDenied")),
    (
        "Deactivate MFA for Root User",
        record("DeactivateMFADevice", "iam.amazonaws.com", requestParameters={"userName": "alice"}),
    ),
    ("ECS Service Created", record("CreateService", "apprunner.amazonaws.com")),
    (
        "Run Instances in Non-approved Region",
        record("RunInstances", "ec2.amazonaws.com", awsRegion="us-east-0"),
    ),
    (
        "Delete Bucket Public Access Block",
        record(
            "PutBucketPublicAccessBlock",
            "s3.amazonaws.com",
            requestParameters={
                "bucketName": "b",
                "publicAccessBlock": "",
                "PublicAccessBlockConfiguration": {
                    "RestrictPublicBuckets": True,
                    "BlockPublicPolicy": True,
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                },
            },
        ),
    ),
    ("List Buckets", record("ListBuckets", "s3.amazonaws.com")),  # disabled upstream
    ("All Cloudtrail Events", record("GetObject", "s3.amazonaws.com")),  # disabled upstream
]


@pytest.mark.parametrize(
    ("rule", "rec"), NEGATIVE, ids=[f"{r}-{i}" for i, (r, _) in enumerate(NEGATIVE)]
)
def test_rule_stays_quiet(engine: Engine, rule: str, rec: dict[str, Any]) -> None:
    assert rule not in fired(engine, rec)


def test_disabled_rule_compiles_and_can_be_enabled() -> None:
    eng = Engine([cloudtrail_source()], hostname="h", iso8601=True)
    assert eng.load_rules([CT_RULES]).successful
    eng.ruleset.set_enabled(True, name="All Cloudtrail Events")
    ev = JsonEvent(record("GetObject", "s3.amazonaws.com", eventID="e-1"), 1795599015000000000, 9)
    (alert,) = eng.process(ev, "aws_cloudtrail")
    assert alert.rule == "All Cloudtrail Events"
    assert alert.message == (
        "Some Cloudtrail Event (evtnum=9 info=alice via 203.0.113.7 → GetObject "
        "ts=2026-11-25T09:30:15.000000000Z id=e-1 error=<NA>)"
    )


# -- readers ---------------------------------------------------------------------------------


def _records(*names: str) -> dict[str, Any]:
    return {"Records": [record(n, "iam.amazonaws.com") for n in names]}


def test_gzipped_records_file(tmp_path: Path) -> None:
    path = tmp_path / "123456789012_CloudTrail_eu-west-1_20261125T0930Z_abc.json.gz"
    path.write_bytes(gzip.compress(orjson.dumps(_records("CreateUser", "CreateGroup"))))
    events = list(read_cloudtrail_events(path))
    assert [e.data["eventName"] for e in events] == ["CreateUser", "CreateGroup"]
    assert [e.num for e in events] == [1, 2]
    assert events[0].ts == 1795599015000000000
    assert looks_like_cloudtrail_file(path)


def test_pretty_records_file_and_json_lines(tmp_path: Path) -> None:
    pretty = tmp_path / "trail.json"
    pretty.write_text(json.dumps(_records("A", "B"), indent=2))
    assert [e.data["eventName"] for e in read_cloudtrail_events(pretty)] == ["A", "B"]
    lines = tmp_path / "trail.jsonl"
    errors: list[LineError] = []
    lines.write_bytes(
        orjson.dumps(record("C", "s3.amazonaws.com"))
        + b"\n"
        + b"garbage\n"
        + b'{"hello": "world"}\n'
        + orjson.dumps(_records("D"))
        + b"\n"
    )
    names = [e.data["eventName"] for e in read_cloudtrail_events(lines, errors.append)]
    assert names == ["C", "D"]
    assert [(e.line, e.reason.split(":")[0]) for e in errors] == [
        (2, "not JSON"),
        (3, "not a CloudTrail record or log file (no Records array, no eventName)"),
    ]
    assert str(errors[0]).startswith(f"{lines}:2: skipped")
    other = tmp_path / "k8s.json"
    other.write_text('{"kind": "Event", "auditID": "x"}')
    assert not looks_like_cloudtrail_file(other)


def test_directory_in_name_order(tmp_path: Path) -> None:
    for n in ("b", "a"):
        (tmp_path / f"{n}.json").write_bytes(orjson.dumps(_records(n.upper())))
    assert [e.data["eventName"] for e in read_cloudtrail_events(tmp_path)] == ["A", "B"]
