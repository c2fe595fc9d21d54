"""AWS outputs through boto3: Lambda, SQS, SNS, CloudWatch Logs, S3 and Kinesis.

Falcosidekick's keys: `aws.{accesskeyid,secretaccesskey,region,rolearn,externalid,
checkidentity}` shared, one section per service (`aws.sqs.url`, env `AWS_SQS_URL`). Without
keys, boto3's own chain applies (`AWS_ACCESS_KEY_ID`, profiles, instance or pod roles), and
`AWS_ENDPOINT_URL[_<SERVICE>]` points a service at another endpoint (a local stack).

boto3 is synchronous: each call runs in a worker thread. botocore's own retries are off
(one attempt per call) because the delivery worker retries with its back-off and spool.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from lanner.exceptions import DeliveryError, PermanentError

from ..alert import Alert
from ..schema import Opt
from .base import Output, OutputContext, dumps, falco_payload, register

if TYPE_CHECKING:  # boto3 loads only when an AWS output is configured
    import boto3

log = logging.getLogger("lanner.sidekick")

AWS_OPTIONS: dict[str, Opt] = {
    "accesskeyid": Opt("str", ""),
    "secretaccesskey": Opt("str", "", secret=True),
    "region": Opt("str", ""),
    "rolearn": Opt("str", ""),
    "externalid": Opt("str", ""),
    "checkidentity": Opt("bool", True),
}

# Environment variables the AWS SDK reads itself (not sidekick configuration keys).
SDK_ENV_PREFIXES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                    "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL",
                    "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ROLE_ARN",
                    "AWS_ROLE_SESSION_NAME", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CA_BUNDLE",
                    "AWS_STS_REGIONAL_ENDPOINTS", "AWS_CONTAINER_")  # fmt: skip

# Error codes that blame the request itself: sending it again cannot succeed, so the alert
# is dropped (counted, logged). Every other failure (throttling, 5xx, network, expired or
# missing credentials, a queue or bucket not there yet) is retried: the alert is not at fault.
_REFUSED_CODES = frozenset(
    {
        "InvalidParameterValue",
        "InvalidParameterException",
        "InvalidParameterCombination",
        "InvalidMessageContents",
        "ValidationError",
        "ValidationException",
        "RequestEntityTooLargeException",
        "EntityTooLarge",
        "InvalidRequestContentException",
        "MalformedInput",
    }
)


def aws_error(service: str, exc: Exception) -> DeliveryError:
    """The DeliveryError (retried) or PermanentError (dropped) for a boto3 failure."""
    from botocore.exceptions import ClientError, ParamValidationError

    if isinstance(exc, ParamValidationError):  # refused before sending: the request's fault
        return PermanentError(f"{service}: {exc}")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        message = f"{service}: {code or status}: {error.get('Message', '')}"
        if code in _REFUSED_CODES or status == 413:
            return PermanentError(message)
        return DeliveryError(message)
    return DeliveryError(f"{service}: {type(exc).__name__}: {exc}")


class AwsOutput(Output):
    """An output calling one AWS service with the shared `aws.*` credentials."""

    family = "queues"
    service: ClassVar[str]  # the boto3 client name
    shared_options = AWS_OPTIONS

    def __init__(self, settings: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(settings, ctx)
        self.aws: dict[str, Any] = settings.get("aws") or {}
        self._client: Any = None

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """aws.externalid, when set, has STS's length (2 to 1224 characters)."""
        external = (settings.get("aws") or {}).get("externalid", "")
        if external and not 2 <= len(external) <= 1224:
            return "externalid", "must be 2 to 1224 characters (STS AssumeRole's limit)"
        return None

    def client_kwargs(self) -> dict[str, Any]:
        """Extra arguments for this service's client (e.g. an S3 endpoint)."""
        return {}

    def region(self) -> str | None:
        """The region of this output's client: `aws.region`, else `AWS_REGION` (read by
        the Go SDK Falcosidekick uses, not by boto3), else boto3's own chain."""
        return self.aws.get("region") or os.environ.get("AWS_REGION") or None

    def session(self) -> boto3.Session:
        """A boto3 session with the configured keys, assuming `rolearn` when set."""
        import boto3

        keys: dict[str, Any] = {"region_name": self.region()}
        if self.aws.get("accesskeyid") and self.aws.get("secretaccesskey"):
            keys.update(
                aws_access_key_id=self.aws["accesskeyid"],
                aws_secret_access_key=self.aws["secretaccesskey"],
            )
        session = boto3.Session(**keys)
        if self.aws.get("rolearn"):
            session = self._assume_role(session)
        return session

    def _assume_role(self, base: boto3.Session) -> boto3.Session:
        import boto3
        import botocore.session
        from botocore.credentials import DeferredRefreshableCredentials

        sts = base.client("sts", config=self._config())
        args = {"RoleArn": self.aws["rolearn"], "RoleSessionName": "lanner-sidekick"}
        if self.aws.get("externalid"):
            args["ExternalId"] = self.aws["externalid"]

        def refresh() -> dict[str, str]:
            creds = sts.assume_role(**args)["Credentials"]
            return {
                "access_key": creds["AccessKeyId"],
                "secret_key": creds["SecretAccessKey"],
                "token": creds["SessionToken"],
                "expiry_time": creds["Expiration"].isoformat(),
            }

        core = botocore.session.get_session()
        core._credentials = DeferredRefreshableCredentials(refresh, "assume-role")
        return boto3.Session(botocore_session=core, region_name=self.region())

    def _config(self) -> Any:
        from botocore.config import Config

        return Config(
            connect_timeout=self.ctx.timeout,
            read_timeout=self.ctx.timeout,
            retries={"total_max_attempts": 1},
            user_agent_extra="lanner-sidekick",
        )

    def client(self) -> Any:
        """The service client, made on first use (in the calling thread)."""
        if self._client is None:
            verify = self.ctx.extra_ca or None
            self._client = self.session().client(
                self.service, config=self._config(), verify=verify, **self.client_kwargs()
            )
        return self._client

    async def call(self, method: str, **kwargs: Any) -> Any:
        """Call `client.<method>(**kwargs)` in a thread; failures become DeliveryError."""

        def run() -> Any:
            return getattr(self.client(), method)(**kwargs)

        try:
            return await asyncio.to_thread(run)
        except Exception as exc:  # botocore raises ClientError, BotoCoreError and OSErrors
            raise aws_error(self.kind, exc) from exc

    async def start(self) -> None:
        """With `aws.checkidentity` (the default), check the credentials once (STS
        GetCallerIdentity); a failure is logged and delivery still tries."""
        if not self.aws.get("checkidentity", True):
            return

        def check() -> Any:
            return self.session().client("sts", config=self._config()).get_caller_identity()

        try:
            identity = await asyncio.to_thread(check)
            log.info("%s: AWS identity %s", self.kind, identity.get("Arn"))
        except Exception as exc:  # reported, not fatal: the worker retries each alert
            log.error("%s: AWS identity check failed: %s", self.kind, aws_error("sts", exc))


@register
class AwsLambda(AwsOutput):
    """Invokes a Lambda function with the alert JSON as its event."""

    kind = "awslambda"
    family = "faas"
    section = "aws.lambda"
    service = "lambda"
    enable_key = "functionname"
    options: ClassVar[dict[str, Opt]] = {
        "functionname": Opt("str", ""),
        "invocationtype": Opt("str", "RequestResponse"),
        "logtype": Opt("str", "Tail"),
    }

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """Lambda's invocation and log types (exact case, as the API takes them)."""
        problem = super().validate(settings)
        if problem:
            return problem
        if settings["invocationtype"] not in ("RequestResponse", "Event", "DryRun"):
            return "invocationtype", (
                f"{settings['invocationtype']!r} is not one of RequestResponse, Event, DryRun"
            )
        if settings["logtype"] not in ("Tail", "None"):
            return "logtype", f"{settings['logtype']!r} is not one of Tail, None"
        return None

    async def send(self, alert: Alert) -> None:
        """Invoke; a function error (`X-Amz-Function-Error`) is retried like an HTTP 5xx."""
        reply = await self.call(
            "invoke",
            FunctionName=self.settings["functionname"],
            InvocationType=self.settings["invocationtype"],
            LogType=self.settings["logtype"],
            Payload=dumps(falco_payload(alert)),
        )
        if self.ctx.debug and reply.get("LogResult"):
            import base64

            log.info("%s: log %s", self.kind, base64.b64decode(reply["LogResult"])[-2000:])
        if reply.get("FunctionError"):
            payload = reply.get("Payload")
            detail = payload.read()[:200].decode(errors="replace") if payload else ""
            raise DeliveryError(f"awslambda: function error {reply['FunctionError']}: {detail}")


@register
class AwsSqs(AwsOutput):
    """Sends the alert JSON as one SQS message."""

    kind = "awssqs"
    section = "aws.sqs"
    service = "sqs"
    enable_key = "url"
    options: ClassVar[dict[str, Opt]] = {"url": Opt("str", "")}

    async def send(self, alert: Alert) -> None:
        """SendMessage."""
        body = dumps(falco_payload(alert)).decode()
        await self.call("send_message", QueueUrl=self.settings["url"], MessageBody=body)


def sns_attributes(alert: Alert) -> dict[str, dict[str, str]]:
    """Falcosidekick's SNS message attributes: priority, rule, source, tags, hostname, then
    string (`String`) and number (`Number`) output fields, `[x]` in names as `.x`. SNS takes
    at most 10 attributes and no empty value: fields past that are left out (the message
    body has the whole alert text)."""
    attrs: dict[str, dict[str, str]] = {}

    def put(name: str, kind: str, value: str) -> None:
        if value and len(attrs) < 10 and name not in attrs:
            attrs[name] = {"DataType": kind, "StringValue": value}

    put("priority", "String", alert.priority.label)
    put("rule", "String", alert.rule)
    put("source", "String", alert.source)
    put("tags", "String", ",".join(alert.tags))
    put("hostname", "String", alert.hostname)
    for key, value in sorted(alert.output_fields.items()):
        name = key.replace("]", "").replace("[", ".")
        if isinstance(value, str):
            put(name, "String", value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            put(name, "Number", str(value))
    return attrs


@register
class AwsSns(AwsOutput):
    """Publishes to an SNS topic: the `output` text with attributes, or with `rawjson` the
    alert JSON."""

    kind = "awssns"
    section = "aws.sns"
    service = "sns"
    enable_key = "topicarn"
    options: ClassVar[dict[str, Opt]] = {
        "topicarn": Opt("str", ""),
        "rawjson": Opt("bool", False),
    }

    async def send(self, alert: Alert) -> None:
        """Publish."""
        if self.settings["rawjson"]:
            args: dict[str, Any] = {"Message": dumps(falco_payload(alert)).decode()}
        else:
            args = {
                "Message": alert.output or alert.rule,
                "MessageAttributes": sns_attributes(alert),
            }
        await self.call("publish", TopicArn=self.settings["topicarn"], **args)


@register
class AwsCloudWatchLogs(AwsOutput):
    """Puts the alert JSON as one log event (timestamp = the alert's) in a log stream;
    without `logstream`, in `falcosidekick-logstream`, created when missing."""

    kind = "awscloudwatchlogs"
    family = "logs"
    section = "aws.cloudwatchlogs"
    service = "logs"
    enable_key = "loggroup"
    options: ClassVar[dict[str, Opt]] = {
        "loggroup": Opt("str", ""),
        "logstream": Opt("str", ""),
    }
    default_stream: ClassVar[str] = "falcosidekick-logstream"

    def __init__(self, settings: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(settings, ctx)
        self._stream_ready = bool(settings["logstream"])

    @property
    def stream(self) -> str:
        """The log stream name."""
        return self.settings["logstream"] or self.default_stream

    async def send(self, alert: Alert) -> None:
        """PutLogEvents; events CloudWatch rejects (too old, too new) are refused."""
        group = self.settings["loggroup"]
        if not self._stream_ready:
            try:
                await self.call("create_log_stream", logGroupName=group, logStreamName=self.stream)
            except DeliveryError as exc:
                if "ResourceAlreadyExists" not in str(exc):
                    raise
            self._stream_ready = True
        event = {
            "timestamp": alert.time_ns // 1_000_000,
            "message": dumps(falco_payload(alert)).decode(),
        }
        reply = await self.call(
            "put_log_events", logGroupName=group, logStreamName=self.stream, logEvents=[event]
        )
        rejected = reply.get("rejectedLogEventsInfo")
        if rejected:
            raise PermanentError(f"awscloudwatchlogs: event rejected: {rejected}")


def object_key(prefix: str, now_ns: int) -> str:
    """Falcosidekick's object name: `<prefix>/<YYYY-MM-DD>/<RFC3339Nano>.json` (UTC)."""
    day = datetime.fromtimestamp(now_ns / 1e9, UTC).strftime("%Y-%m-%d")
    return f"{prefix}/{day}/{rfc3339_nano(now_ns)}.json"


def rfc3339_nano(ns: int) -> str:
    """Go's time.RFC3339Nano in UTC: nanoseconds with trailing zeros trimmed."""
    seconds, frac = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{frac:09d}".rstrip("0")
    return f"{stamp}.{digits}Z" if digits else f"{stamp}Z"


@register
class AwsS3(AwsOutput):
    """Stores each alert as `<prefix>/<YYYY-MM-DD>/<RFC3339Nano>.json` in a bucket (the
    time is when it is stored), with `objectcannedacl` and a CRC32 checksum."""

    kind = "awss3"
    family = "storage"
    section = "aws.s3"
    service = "s3"
    enable_key = "bucket"
    options: ClassVar[dict[str, Opt]] = {
        "bucket": Opt("str", ""),
        "prefix": Opt("str", "falco"),
        "endpoint": Opt("str", ""),
        "objectcannedacl": Opt("str", "bucket-owner-full-control"),
    }

    def client_kwargs(self) -> dict[str, Any]:
        """`endpoint` for S3-compatible stores."""
        return {"endpoint_url": self.settings["endpoint"]} if self.settings["endpoint"] else {}

    def key(self, now_ns: int) -> str:
        """The object key for an alert stored at `now_ns`."""
        return object_key(self.settings["prefix"], now_ns)

    async def send(self, alert: Alert) -> None:
        """PutObject."""
        args: dict[str, Any] = {
            "Bucket": self.settings["bucket"],
            "Key": self.key(time.time_ns()),
            "Body": dumps(falco_payload(alert)),
            "ChecksumAlgorithm": "CRC32",
        }
        if self.settings["objectcannedacl"]:
            args["ACL"] = self.settings["objectcannedacl"]
        await self.call("put_object", **args)


@register
class AwsKinesis(AwsOutput):
    """Puts the alert JSON as one Kinesis record with a random partition key."""

    kind = "awskinesis"
    section = "aws.kinesis"
    service = "kinesis"
    enable_key = "streamname"
    options: ClassVar[dict[str, Opt]] = {"streamname": Opt("str", "")}

    async def send(self, alert: Alert) -> None:
        """PutRecord."""
        await self.call(
            "put_record",
            StreamName=self.settings["streamname"],
            Data=dumps(falco_payload(alert)),
            PartitionKey=str(uuid.uuid4()),
        )
