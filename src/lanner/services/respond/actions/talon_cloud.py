"""Falco Talon's `aws:lambda`: invoke a Lambda function with the alert as its payload.

Credentials: Talon's config `aws:` section (`access_key`/`secret_key`, `region`, and
`role_arn` with `external_id` to assume a role through STS), else boto3's usual chain.
"""

from __future__ import annotations

import json
from typing import Any

from lanner.exceptions import ActionError
from lanner.services.respond.actions.base import Action, ActionContext, ActionResult, Param

_MAX_OUTPUT = 4096


def aws_client(service: str, conf: dict[str, Any]) -> Any:
    """A boto3 client from Talon's aws: settings (assuming role_arn when given)."""
    import boto3

    kwargs: dict[str, Any] = {}
    if conf.get("region"):
        kwargs["region_name"] = conf["region"]
    if conf.get("access_key"):
        kwargs["aws_access_key_id"] = conf["access_key"]
        kwargs["aws_secret_access_key"] = conf.get("secret_key", "")
    if conf.get("role_arn"):
        assume: dict[str, Any] = {"RoleArn": conf["role_arn"], "RoleSessionName": "lanner-respond"}
        if conf.get("external_id"):
            assume["ExternalId"] = conf["external_id"]
        creds = boto3.client("sts", **kwargs).assume_role(**assume)["Credentials"]
        kwargs.update(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
    return boto3.client(service, **kwargs)


class AwsLambda(Action):
    """Invoke the function (RequestResponse waits for its answer; Event queues it)."""

    name = "aws:lambda"
    summary = "invoke an AWS Lambda function with the alert (Talon)"
    params = (
        Param("aws_lambda_name", str, required=True),
        Param("aws_lambda_alias_or_version", str, default="$LATEST"),
        Param(
            "aws_lambda_invocation_type",
            str,
            default="RequestResponse",
            choices=("RequestResponse", "Event", "DryRun"),
        ),
    )

    def run(self, ctx: ActionContext) -> ActionResult:
        """Invoke; an HTTP status outside 2xx or a function error fails the action."""
        from botocore.exceptions import BotoCoreError, ClientError

        p = ctx.params
        target = f"lambda {p['aws_lambda_name']}:{p['aws_lambda_alias_or_version']}"
        if ctx.dry_run:
            return ActionResult(target, "would invoke the function")
        try:
            answer = aws_client("lambda", ctx.settings.get("aws") or {}).invoke(
                FunctionName=p["aws_lambda_name"],
                Qualifier=p["aws_lambda_alias_or_version"],
                InvocationType=p["aws_lambda_invocation_type"],
                Payload=json.dumps(ctx.alert.raw).encode(),
            )
            payload = answer["Payload"].read().decode(errors="replace")[:_MAX_OUTPUT]
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            raise ActionError(f"{target}: {exc}", transient=status in (429, 500, 502, 503)) from exc
        except BotoCoreError as exc:
            raise ActionError(f"{target}: {exc}", transient=True) from exc
        changes = {"status": answer["StatusCode"], "output": payload}
        if answer.get("FunctionError"):
            raise ActionError(f"{target}: function error {answer['FunctionError']}: {payload}",
                              target=target, changes=changes)  # fmt: skip
        if not 200 <= answer["StatusCode"] < 300:
            raise ActionError(f"{target}: HTTP {answer['StatusCode']}", target=target,
                              changes=changes)  # fmt: skip
        return ActionResult(target, f"invoked (HTTP {answer['StatusCode']})", changes)
