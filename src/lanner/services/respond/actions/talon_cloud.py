"""Falco Talon's cloud actionners: `aws:lambda` invokes a Lambda function with the alert
as its payload; `gcp:function` calls a Cloud Function (2nd gen) with it.

AWS credentials: Talon's config `aws:` section (`access_key`/`secret_key`, `region`, and
`role_arn` with `external_id` to assume a role through STS), else boto3's usual chain.
GCP credentials: Talon's config `gcp.credentials_path` (a service account key), else
Google's application default credentials.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

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


def functions_client(credentials: Any) -> Any:
    """Cloud Functions v2 FunctionServiceClient (gRPC) with these credentials (None: the
    default chain)."""
    from google.cloud import functions_v2

    return functions_v2.FunctionServiceClient(credentials=credentials)


def id_token(conf: dict[str, Any], audience: str) -> str:
    """A Google-signed ID token for `audience` (the function's URL), as Talon's idtoken
    source makes one: from the configured service account key, else the default chain
    (a key file in GOOGLE_APPLICATION_CREDENTIALS, or the metadata server)."""
    import google.auth.transport.requests
    from google.oauth2 import id_token as tokens
    from google.oauth2 import service_account

    from lanner.services.respond.artifacts import gcp_credentials

    request = google.auth.transport.requests.Request()
    creds = gcp_credentials(conf)
    if creds is None:
        return str(tokens.fetch_id_token(request, audience))  # type: ignore[no-untyped-call]
    signer = service_account.IDTokenCredentials(  # type: ignore[no-untyped-call]
        creds.signer,
        creds.service_account_email,
        creds._token_uri,
        target_audience=audience,
    )
    signer.refresh(request)
    return str(signer.token)


def gcp_project(conf: dict[str, Any]) -> tuple[Any, str]:
    """(credentials or None, project id) from Talon's gcp: settings or the default chain."""
    from lanner.services.respond.artifacts import gcp_credentials

    creds = gcp_credentials(conf)
    if creds is not None:
        return creds, str(creds.project_id or "")
    import google.auth

    _, project = google.auth.default()
    return None, str(project or "")


class GcpFunction(Action):
    """Talon's `gcp:function`: read the function (FunctionService.GetFunction) for its URL,
    then POST the alert to that URL with an ID token for it; any answer but 200 fails."""

    name = "gcp:function"
    summary = "call a GCP Cloud Function with the alert (Talon)"
    params = (
        Param("gcp_function_name", str, required=True),
        Param("gcp_function_location", str, default="us-central1"),
        Param("gcp_function_timeout", int, default=30,
              check=lambda v: None if v > 0 else "parameter 'gcp_function_timeout' must be > 0"),
    )  # fmt: skip

    def run(self, ctx: ActionContext) -> ActionResult:
        """GetFunction, ID token, POST; the function's answer goes to the audit record."""
        from google.api_core.exceptions import GoogleAPICallError
        from google.auth.exceptions import GoogleAuthError

        p = ctx.params
        conf = ctx.settings.get("gcp") or {}
        location, function = p["gcp_function_location"], p["gcp_function_name"]
        target = f"function {location}/{function}"
        if ctx.dry_run:
            return ActionResult(target, "would call the function")
        try:
            creds, project = gcp_project(conf)
            if not project:
                raise ActionError(f"{target}: no GCP project (key's project_id or default)")
            name = f"projects/{project}/locations/{location}/functions/{function}"
            target = f"function {name}"
            found = functions_client(creds).get_function(
                name=name, timeout=p["gcp_function_timeout"]
            )
            url = found.service_config.uri if found.service_config else ""
            if not url:
                raise ActionError(f"{target}: the function has no URL", target=target)
            token = id_token(conf, url)
        except (GoogleAPICallError, GoogleAuthError, OSError) as exc:
            transient = getattr(exc, "code", None) in (429, 500, 502, 503, 504)
            raise ActionError(f"{target}: {exc}", transient=transient, target=target) from exc
        try:
            answer = httpx.post(url, content=json.dumps(ctx.alert.raw).encode(),
                                headers={"Content-Type": "application/json",
                                         "Authorization": f"Bearer {token}"},
                                timeout=p["gcp_function_timeout"])  # fmt: skip
        except httpx.HTTPError as exc:
            raise ActionError(f"{target}: {url}: {exc}", transient=True, target=target) from exc
        changes = {"url": url, "status": answer.status_code, "output": answer.text[:_MAX_OUTPUT]}
        if answer.status_code != 200:
            raise ActionError(f"{target}: HTTP {answer.status_code}: {answer.text[:200]}",
                              transient=answer.status_code in (429, 500, 502, 503, 504),
                              target=target, changes=changes)  # fmt: skip
        return ActionResult(target, "called (HTTP 200)", changes)
