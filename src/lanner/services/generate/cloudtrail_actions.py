"""CloudTrail actions for upstream Falco's aws_cloudtrail_rules.yaml: the record of each
API call a rule watches, delivered as a CloudTrail log file (S3 object and SQS
notification, :class:`~lanner.services.generate.cloud.TrailTarget`). The caller's user
name, principal id and ARN carry the run's marker, which every rule's output shows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from lanner.services.generate.action import Action, Outcome, RunContext, token
from lanner.services.generate.cloud import ACCOUNT

Record = dict[str, Any]


def record(
    marker: str,
    name: str,
    source: str = "iam.amazonaws.com",
    *,
    identity: str = "IAMUser",
    region: str = "us-east-1",
    **extra: Any,
) -> Record:
    """One CloudTrail record of API call ``name`` by a caller named after ``marker``."""
    user = {"type": identity, "principalId": f"AIDA{marker}", "accountId": ACCOUNT,
            "arn": f"arn:aws:iam::{ACCOUNT}:user/{marker}", "userName": marker}  # fmt: skip
    if identity == "AssumedRole":
        user["arn"] = f"arn:aws:sts::{ACCOUNT}:assumed-role/admin/{marker}"
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "eventVersion": "1.08", "userIdentity": user, "eventTime": now, "eventSource": source,
        "eventName": name, "awsRegion": region, "sourceIPAddress": "198.51.100.7",
        "userAgent": "lanner-generate", "requestParameters": {}, "responseElements": None,
        "eventID": f"{marker}-{name}", "eventType": "AwsApiCall", "managementEvent": True,
        "recipientAccountId": ACCOUNT, **extra,
    }  # fmt: skip


def console_login(marker: str, identity: str, mfa: str) -> Record:
    return record(marker, "ConsoleLogin", "signin.amazonaws.com", identity=identity,
                  eventType="AwsConsoleSignIn", responseElements={"ConsoleLogin": "Success"},
                  additionalEventData={"MFAUsed": mfa})  # fmt: skip


def _deliver(records_for: Callable[[str], list[Record]]) -> Callable[[RunContext], Outcome]:
    def act(ctx: RunContext) -> Outcome:
        out = Outcome(token())
        records = records_for(out.marker)
        out.effects["key"] = ctx.targets["cloudtrail"].deliver(records, out.marker)
        out.effects["records"] = records
        return out

    return act


def _one(
    name: str, source: str = "iam.amazonaws.com", **extra: Any
) -> Callable[[str], list[Record]]:
    return lambda marker: [record(marker, name, source, **extra)]


# (action, rule, description, records)
_CALLS: list[tuple[str, str, str, Callable[[str], list[Record]]]] = [
    ("ct_console_login_assumed_role", "Console Login Through Assume Role",
     "A console login through an assumed role",
     lambda m: [console_login(m, "AssumedRole", "No")]),
    ("ct_console_login_without_mfa", "Console Login Without MFA",
     "An IAM user's console login without MFA", lambda m: [console_login(m, "IAMUser", "No")]),
    ("ct_root_login_without_mfa", "Console Root Login Without MFA",
     "The root user's console login without MFA", lambda m: [console_login(m, "Root", "No")]),
    ("ct_root_mfa_deactivated", "Deactivate MFA for Root User",
     "The root user's MFA device deactivated",
     _one("DeactivateMFADevice", identity="Root",
          requestParameters={"userName": "AWS ROOT USER", "serialNumber": "arn:mfa"})),
    ("ct_create_user", "Create AWS user", "An IAM user created",
     _one("CreateUser", requestParameters={"userName": "generated-user"})),
    ("ct_create_group", "Create Group", "An IAM group created",
     _one("CreateGroup", requestParameters={"groupName": "generated-group"})),
    ("ct_delete_group", "Delete Group", "An IAM group deleted",
     _one("DeleteGroup", requestParameters={"groupName": "generated-group"})),
    ("ct_ecs_service_created", "ECS Service Created", "An ECS service created",
     _one("CreateService", "ecs.amazonaws.com",
          requestParameters={"cluster": "default", "serviceName": "web"})),
    ("ct_ecs_task_run", "ECS Task Run or Started", "An ECS task run",
     _one("RunTask", "ecs.amazonaws.com",
          requestParameters={"cluster": "default", "taskDefinition": "web:1"})),
    ("ct_lambda_created", "Create Lambda Function", "A Lambda function created",
     _one("CreateFunction20150331", "lambda.amazonaws.com",
          requestParameters={"functionName": "generated"})),
    ("ct_lambda_code_updated", "Update Lambda Function Code", "A Lambda function's code updated",
     _one("UpdateFunctionCode20150331v2", "lambda.amazonaws.com",
          requestParameters={"functionName": "generated"})),
    ("ct_lambda_config_updated", "Update Lambda Function Configuration",
     "A Lambda function's configuration updated",
     _one("UpdateFunctionConfiguration20150331v2", "lambda.amazonaws.com",
          requestParameters={"functionName": "generated"})),
    ("ct_run_instances", "Run Instances", "EC2 instances launched (in us-east-0, approved)",
     _one("RunInstances", "ec2.amazonaws.com", region="us-east-0",
          requestParameters={"availabilityZone": "us-east-0a"})),
    ("ct_run_instances_other_region", "Run Instances in Non-approved Region",
     "EC2 instances launched in a region not approved",
     _one("RunInstances", "ec2.amazonaws.com", region="eu-west-3",
          requestParameters={"availabilityZone": "eu-west-3a"})),
    ("ct_bucket_encryption_deleted", "Delete Bucket Encryption",
     "A bucket's encryption configuration deleted",
     _one("DeleteBucketEncryption", "s3.amazonaws.com",
          requestParameters={"bucketName": "generated-bucket"})),
    ("ct_bucket_public_access_block_deleted", "Delete Bucket Public Access Block",
     "A bucket's public access block relaxed",
     _one("PutBucketPublicAccessBlock", "s3.amazonaws.com",
          requestParameters={"bucketName": "generated-bucket", "publicAccessBlock": "",
                             "PublicAccessBlockConfiguration": {
                                 "RestrictPublicBuckets": False, "BlockPublicPolicy": False,
                                 "BlockPublicAcls": False, "IgnorePublicAcls": False}})),
    ("ct_bucket_acl_put", "Put Bucket ACL", "A bucket's ACL set",
     _one("PutBucketAcl", "s3.amazonaws.com",
          requestParameters={"bucketName": "generated-bucket"})),
    ("ct_bucket_policy_put", "Put Bucket Policy", "A bucket policy applied",
     _one("PutBucketPolicy", "s3.amazonaws.com",
          requestParameters={"bucketName": "generated-bucket"})),
    ("ct_trail_created", "CloudTrail Trail Created", "A trail created",
     _one("CreateTrail", "cloudtrail.amazonaws.com", requestParameters={"name": "generated"})),
    ("ct_logging_stopped", "CloudTrail Logging Disabled", "A trail's logging stopped",
     _one("StopLogging", "cloudtrail.amazonaws.com", requestParameters={"name": "generated"})),
]  # fmt: skip

ACTIONS: list[Action] = [
    Action(
        name,
        rule,
        description,
        False,
        _deliver(records),
        "aws_cloudtrail",
        ruleset="falco",
        target="cloudtrail",
    )
    for name, rule, description, records in _CALLS
]
