"""CloudTrail from AWS, as Falco's cloudtrail plugin reads it: ``open_params`` is
``s3://BUCKET[/PREFIX]`` (every log object below, once, then the end), ``sqs://QUEUE``
(SNS notifications of new log files, polled forever) or a local path; ``init_config``
takes the plugin's keys (``sqsDelete``, ``s3DownloadConcurrency``, ``S3Interval``,
``useS3SNS``, ``S3AccountList``, ``useAsync``, and ``aws``: ``profile``, ``region``,
``config``, ``credentials``) and Lanner's ``stateFile``: the log objects already read, so
a restart neither loses nor repeats events. Through boto3 (endpoint, region and
credentials from ``aws``, else the AWS SDK's usual settings: ``AWS_ENDPOINT_URL``,
``AWS_REGION``, ``AWS_PROFILE``...); the clients are made when the reader is, so a
profile that does not exist, no region or a missing queue is a start-up error.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from lanner.sources.cloud_reader import ErrorCounts, load_state, save_state
from lanner.sources.cloudtrail.reader import read_cloudtrail_events
from lanner.sources.json_source.event import JsonEvent
from lanner.sources.json_source.reader import LineError
from lanner.sources.plugin_init import canonical_keys, read_init_config

log = logging.getLogger("lanner.cloudtrail")

_INIT_KEYS = {
    "sqsDelete": bool,
    "s3DownloadConcurrency": int,
    "S3Interval": str,
    "useS3SNS": bool,
    "S3AccountList": str,
    "useAsync": bool,  # the plugin's extraction optimisation: accepted, nothing to do here
    "aws": dict,
    "stateFile": str,
}
_AWS_KEYS = ("profile", "region", "config", "credentials")
# CloudTrail log file names: <account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<id>.json.gz
_FILE_TIME = re.compile(r"_CloudTrail(?:-Digest)?_[^_]+_(\d{8}T\d{4}Z)_")
_DURATION = re.compile(r"^(\d+)([wdhms])$")
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


class CloudTrailConfigError(ValueError):
    """A plugin configuration Lanner cannot honour; the message names the key."""


@dataclass(slots=True)
class CloudTrailOpen:
    """The parsed ``init_config`` and ``open_params``."""

    kind: str  # "s3", "sqs" or "file"
    target: str  # bucket, queue name or path
    prefix: str = ""
    sqs_delete: bool = True
    concurrency: int = 1
    interval: tuple[datetime, datetime] | None = None
    use_s3_sns: bool = False
    accounts: frozenset[str] = frozenset()
    state_file: str | None = None
    aws: dict[str, str] = field(default_factory=dict)  # init_config.aws, set keys only

    @classmethod
    def parse(
        cls, init_config: Any, open_params: str, now: datetime | None = None
    ) -> CloudTrailOpen:
        """Both strings as the plugin documents them; unknown init keys are refused."""
        init = read_init_config("cloudtrail", init_config, _INIT_KEYS, CloudTrailConfigError)
        params = open_params.strip()
        if params.startswith("s3://"):
            bucket, _, prefix = params[5:].partition("/")
            opened = cls("s3", bucket, prefix)
        elif params.startswith("sqs://"):
            opened = cls("sqs", params[6:])
        elif params:
            opened = cls("file", params)
        else:
            raise CloudTrailConfigError("cloudtrail open_params: empty (s3://, sqs:// or a path)")
        if not opened.target:
            raise CloudTrailConfigError(f"cloudtrail open_params {params!r}: no bucket or queue")
        opened.sqs_delete = init.get("sqsDelete", True)
        opened.concurrency = max(1, init.get("s3DownloadConcurrency", 1))
        opened.use_s3_sns = init.get("useS3SNS", False)
        accounts = init.get("S3AccountList", "")
        opened.accounts = frozenset(a.strip() for a in accounts.split(",") if a.strip())
        if init.get("S3Interval"):
            opened.interval = parse_interval(init["S3Interval"], now or datetime.now(UTC))
        opened.state_file = init.get("stateFile")
        opened.aws = _aws_settings(init.get("aws") or {})
        return opened


def _aws_settings(aws: dict[str, Any]) -> dict[str, str]:
    """``init_config.aws``: its known keys, strings; the empty ones left out (the SDK's
    defaults then apply, as in the plugin)."""
    aws = canonical_keys("cloudtrail init_config.aws", aws, _AWS_KEYS, CloudTrailConfigError)
    for key, value in aws.items():
        if not isinstance(value, str):
            raise CloudTrailConfigError(f"cloudtrail init_config.aws.{key}: expected str")
    return {k: v for k, v in aws.items() if v}


def _point(text: str, now: datetime) -> datetime:
    m = _DURATION.match(text)
    if m:
        return now - timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise CloudTrailConfigError(
            f"cloudtrail init_config.S3Interval: {text!r} is neither a duration (5d, 2h, "
            "30m...) nor an RFC 3339 time (2021-03-30T18:07:17Z)"
        ) from None


def parse_interval(text: str, now: datetime) -> tuple[datetime, datetime]:
    """``5d``, ``2021-03-30T18:07:17Z``, ``5d-2d``, ``T1-T2``, ``T1-5d``: (start, end)."""
    parts = re.split(r"(?<=[wdhmsZ])-(?=[0-9])", text.strip(), maxsplit=1)
    start = _point(parts[0], now)
    end = _point(parts[1], now) if len(parts) > 1 else now
    if end < start:
        raise CloudTrailConfigError(
            f"cloudtrail init_config.S3Interval {text!r}: ends before it starts"
        )
    return start, end


@dataclass(slots=True)
class ReadState:
    """The log objects already read (``bucket/key``), kept in a JSON file when given."""

    path: str | None = None
    done: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.done = load_state(self.path, set, CloudTrailConfigError, "cloudtrail") or set()

    def seen(self, key: str) -> bool:
        return key in self.done

    def mark(self, key: str) -> None:
        """Remember ``key`` (written atomically)."""
        with self._lock:
            self.done.add(key)
            if self.path:
                save_state(self.path, sorted(self.done))


@dataclass(slots=True)
class ReadStats(ErrorCounts):
    """Objects and events read, and errors, by kind (the source's metrics)."""

    objects: int = 0
    events: int = 0
    skipped_objects: int = 0


def _file_time(key: str) -> datetime | None:
    m = _FILE_TIME.search(key)
    if not m:
        return None
    return datetime.strptime(m.group(1), "%Y%m%dT%H%MZ").replace(tzinfo=UTC)


def _account_of(key: str) -> str | None:
    parts = key.split("/")
    if "AWSLogs" in parts:
        i = parts.index("AWSLogs") + 1
        if i < len(parts) and parts[i].startswith("o-"):
            i += 1  # organization trail: AWSLogs/o-id/<account>/...
        if i < len(parts):
            return parts[i]
    return None


def _wanted(opened: CloudTrailOpen, key: str) -> bool:
    if key.endswith("/") or "CloudTrail-Digest" in key:
        return False
    if opened.accounts and _account_of(key) not in opened.accounts:
        return False
    if opened.interval is not None:
        when = _file_time(key)
        if when is None or not opened.interval[0] <= when <= opened.interval[1]:
            return False
    return True


def _events_of(label: str, body: bytes, stats: ReadStats) -> list[JsonEvent]:
    if body[:2] == b"\x1f\x8b":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as exc:
            log.warning("cloudtrail: %s: not gzip data (%s); skipped", label, exc)
            stats.error("bad_object")
            return []

    def on_error(err: LineError) -> None:
        log.warning("cloudtrail: %s", err)
        stats.error("bad_record")

    return list(read_cloudtrail_events(io.BytesIO(body), on_error=on_error, name=label))


class CloudTrailReader:
    """Reads CloudTrail events from S3 or SQS with boto3 clients (made by ``client``,
    default :func:`aws_clients`). Made at start-up: ``CloudTrailConfigError`` when the
    clients cannot be (profile, region), the queue does not exist or the state file is
    unreadable."""

    def __init__(
        self,
        opened: CloudTrailOpen,
        client: Callable[[str], Any] | None = None,
        state: ReadState | None = None,
    ) -> None:
        self.opened = opened
        self.state = state or ReadState(opened.state_file)
        self.stats = ReadStats()
        self.stop = threading.Event()
        self.s3: Any = None
        self.sqs: Any = None
        self.queue_url = ""
        if opened.kind == "file":
            return
        make = client or aws_clients(opened)
        self.s3 = make("s3")
        if opened.kind == "sqs":
            self.sqs = make("sqs")
            try:
                self.queue_url = self.sqs.get_queue_url(QueueName=opened.target)["QueueUrl"]
            except Exception as exc:  # botocore's errors: no such queue, no access, no network
                raise CloudTrailConfigError(
                    f"cloudtrail open_params sqs://{opened.target}: {exc}"
                ) from None

    def events(self) -> Iterator[list[JsonEvent]]:
        """Batches of events (one per log object), in the order objects are read. An
        object is remembered as read (and its SQS message deleted) when the consumer asks
        for the next batch, i.e. once it has taken this one."""
        if self.opened.kind == "s3":
            yield from self._s3()
        elif self.opened.kind == "sqs":
            yield from self._sqs()
        else:
            yield list(read_cloudtrail_events(self.opened.target))

    def _s3(self) -> Iterator[list[JsonEvent]]:
        s3 = self.s3
        keys = []
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.opened.target, Prefix=self.opened.prefix):
            for obj in page.get("Contents") or []:
                key = obj["Key"]
                if not _wanted(self.opened, key):
                    self.stats.skipped_objects += 1
                elif not self.state.seen(f"{self.opened.target}/{key}"):
                    keys.append(key)
        keys.sort()  # CloudTrail names sort by account, region, then time
        with ThreadPoolExecutor(self.opened.concurrency) as pool:
            bodies = pool.map(lambda k: (k, self._get(s3, self.opened.target, k)), keys)
            for key, body in bodies:
                if self.stop.is_set():
                    return
                if body is None:
                    continue
                yield self._object_events(self.opened.target, key, body)
                self.done(self.opened.target, key)  # resumed: the batch was handed over

    def _get(self, s3: Any, bucket: str, key: str) -> bytes | None:
        try:
            return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except Exception as exc:  # botocore errors: one object, the source goes on
            log.warning("cloudtrail: s3://%s/%s: %s", bucket, key, exc)
            self.stats.error("s3_get")
            return None

    def _object_events(self, bucket: str, key: str, body: bytes) -> list[JsonEvent]:
        events = _events_of(f"s3://{bucket}/{key}", body, self.stats)
        self.stats.objects += 1
        self.stats.events += len(events)
        return events

    def done(self, bucket: str, key: str) -> None:
        """The events of this object were handed over: never read it again."""
        self.state.mark(f"{bucket}/{key}")

    def _sqs(self) -> Iterator[list[JsonEvent]]:
        sqs, s3, url = self.sqs, self.s3, self.queue_url
        backoff = 1.0
        while not self.stop.is_set():
            try:
                got = (
                    sqs.receive_message(
                        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1
                    ).get("Messages")
                    or []
                )
                backoff = 1.0
            except Exception as exc:  # throttling, network: wait and try again
                log.warning(
                    "cloudtrail: sqs://%s: %s; retrying in %gs", self.opened.target, exc, backoff
                )
                self.stats.error("sqs_receive")
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            for msg in got:
                for bucket, key in self._notified(msg):
                    if self.state.seen(f"{bucket}/{key}"):
                        continue
                    body = self._get(s3, bucket, key)
                    if body is None:
                        continue
                    yield self._object_events(bucket, key, body)
                    self.done(bucket, key)
                if self.opened.sqs_delete:
                    try:
                        sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
                    except Exception as exc:
                        log.warning("cloudtrail: deleting a message: %s", exc)
                        self.stats.error("sqs_delete")

    def _notified(self, msg: dict[str, Any]) -> list[tuple[str, str]]:
        """The (bucket, key) pairs an SNS notification announces."""
        try:
            note = json.loads(msg["Body"])
            inner = json.loads(note["Message"]) if "Message" in note else note
            if self.opened.use_s3_sns:
                return [
                    (r["s3"]["bucket"]["name"], r["s3"]["object"]["key"])
                    for r in inner.get("Records") or []
                ]
            return [(inner["s3Bucket"], k) for k in inner.get("s3ObjectKey") or []]
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("cloudtrail: a queue message is not a log file notification (%s)", exc)
            self.stats.error("bad_message")
            return []


def aws_clients(opened: CloudTrailOpen) -> Callable[[str], Any]:
    """A maker of boto3 clients of one session, as the plugin's ``aws`` settings say:
    ``profile`` (else AWS_PROFILE...), ``region`` (else AWS_REGION, as the plugin's Go SDK,
    then boto3's own settings), ``config`` and ``credentials`` (the shared files).
    ``CloudTrailConfigError`` naming the setting when the profile does not exist, a file
    is missing or no region is known (the plugin's SDK needs one for S3 and SQS alike)."""
    import boto3
    import botocore.session
    from botocore.exceptions import BotoCoreError

    aws = opened.aws
    where = "init_config.aws.profile/region (or AWS_PROFILE, AWS_REGION)"
    core = botocore.session.Session()
    for key, variable in (("config", "config_file"), ("credentials", "credentials_file")):
        if key in aws:
            path = os.path.expanduser(aws[key])
            if not os.path.isfile(path):
                raise CloudTrailConfigError(
                    f"cloudtrail init_config.aws.{key}: {path}: no such file"
                )
            core.set_config_variable(variable, path)
    try:
        session = boto3.Session(
            botocore_session=core,
            profile_name=aws.get("profile"),
            region_name=aws.get("region") or os.environ.get("AWS_REGION") or None,
        )
    except BotoCoreError as exc:
        raise CloudTrailConfigError(f"cloudtrail: no AWS session ({exc}): see {where}") from None
    if not session.region_name:
        raise CloudTrailConfigError(f"cloudtrail: no AWS region: set {where}")

    def make(service: str) -> Any:
        try:
            return session.client(service)
        except BotoCoreError as exc:
            raise CloudTrailConfigError(
                f"cloudtrail: no {service} client ({exc}): see {where}"
            ) from None

    return make
