"""EKS control-plane audit logs from CloudWatch Logs, as Falco's k8saudit-eks plugin reads
them: ``open_params`` is the cluster name, the log group ``/aws/eks/<cluster>/cluster``,
its streams ``kube-apiserver-audit-*``, read with ``FilterLogEvents`` every
``polling_interval`` seconds from ``shift`` seconds back. ``init_config`` takes the
plugin's keys (``region``, ``profile``, ``shift``, ``polling_interval``, ``buffer_size``,
``use_async``) and Lanner's ``stateFile``: where reading goes on, so a restart neither
loses nor repeats events. Through boto3 (credentials and endpoint from the AWS SDK's
usual settings: ``AWS_PROFILE``, ``AWS_REGION``, ``AWS_ENDPOINT_URL``...).

The position is a start time (ms) and the ids of the events already handed over from it
on: a poll asks from the start time, skips those ids, then moves the start to ``shift``
seconds before the newest event seen (events ingested late by up to ``shift`` are still
read). Throttling and other API errors are logged, counted and retried with back-off;
a log line that is not an audit event (not JSON, truncated by CloudWatch at 256 KB,
another kind) is logged, counted and skipped.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lanner.sources.cloud_reader import Backoff, ErrorCounts, load_state, save_state
from lanner.sources.json_source.event import JsonEvent
from lanner.sources.k8s_audit.payload import numbered_events
from lanner.sources.plugin_init import read_init_config

log = logging.getLogger("lanner.k8saudit-eks")

PLUGIN = "k8saudit-eks"
STREAM_PREFIX = "kube-apiserver-audit"
TRUNCATED = "[Truncated...]"
MAX_PAGE = 10_000  # FilterLogEvents' largest limit
MAX_BACKOFF = 60.0
_AUDIT_ID = re.compile(r'"auditID"\s*:\s*"([^"]*)"')
_THROTTLED = {"ThrottlingException", "LimitExceededException", "TooManyRequestsException",
              "RequestLimitExceeded"}  # fmt: skip
_INIT_KEYS: dict[str, type] = {
    "region": str,
    "profile": str,
    "shift": int,
    "polling_interval": int,
    "buffer_size": int,
    "use_async": bool,
    "stateFile": str,
}


class EksConfigError(ValueError):
    """A plugin configuration Lanner cannot honour; the message names the key."""


@dataclass(slots=True)
class EksOpen:
    """The parsed ``init_config`` and ``open_params``."""

    cluster: str
    region: str | None = None
    profile: str | None = None
    shift: float = 1.0  # seconds
    polling_interval: float = 5.0  # seconds
    buffer_size: int = 200  # events per FilterLogEvents call
    state_file: str | None = None

    @property
    def log_group(self) -> str:
        return f"/aws/eks/{self.cluster}/cluster"

    @classmethod
    def parse(
        cls, init_config: Any, open_params: str, env: dict[str, str] | None = None
    ) -> EksOpen:
        """Both as the plugin documents them; the region and profile default to
        ``AWS_REGION``/``AWS_DEFAULT_REGION`` and ``AWS_PROFILE``/``AWS_DEFAULT_PROFILE``."""
        env = dict(os.environ) if env is None else env
        init = read_init_config(PLUGIN, init_config, _INIT_KEYS, EksConfigError)
        cluster = open_params.strip()
        if not cluster:
            raise EksConfigError(f"{PLUGIN} open_params: empty (the EKS cluster's name)")
        if "/" in cluster or ":" in cluster:
            raise EksConfigError(f"{PLUGIN} open_params {cluster!r}: not a cluster name")
        for key in ("shift", "polling_interval", "buffer_size"):
            if init.get(key, 0) < 0:
                raise EksConfigError(f"{PLUGIN} init_config.{key}: must not be negative")
        opened = cls(cluster)
        opened.region = (
            init.get("region") or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
        )
        opened.profile = (
            init.get("profile") or env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or None
        )
        opened.shift = float(init.get("shift") or 1)  # 0 means the default, as the plugin
        opened.polling_interval = float(init.get("polling_interval") or 5)
        opened.buffer_size = min(MAX_PAGE, init.get("buffer_size") or 200)
        opened.state_file = init.get("stateFile")
        return opened


@dataclass(slots=True)
class Position:
    """Where reading goes on: ``start`` (ms) and the ids of the events handed over whose
    time is at or after it (id -> time in ms), kept in a JSON file when given."""

    start: int | None = None
    seen: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | None) -> Position:
        def read(doc: Any) -> Position:
            return cls(int(doc["start"]), {str(k): int(v) for k, v in doc["seen"].items()})

        return load_state(path, read, EksConfigError, PLUGIN) or cls()

    def save(self, path: str | None) -> None:
        if path:
            save_state(path, {"start": self.start, "seen": self.seen})

    def advance(self, shift_ms: int) -> None:
        """Move the start to ``shift_ms`` before the newest event seen; forget older ids."""
        if not self.seen or self.start is None:
            return
        self.start = max(self.start, max(self.seen.values()) - shift_ms)
        start = self.start
        self.seen = {k: t for k, t in self.seen.items() if t >= start}


@dataclass(slots=True)
class PollStats(ErrorCounts):
    """Calls, events and errors by kind (the source's metrics)."""

    requests: int = 0
    events: int = 0


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str((response.get("Error") or {}).get("Code") or "")
    return ""


class EksPoller:
    """Polls the cluster's audit log streams; ``deliver(events)`` hands a page on
    (False: stop). ``client`` makes the boto3 ``logs`` client."""

    def __init__(
        self,
        opened: EksOpen,
        client: Callable[[EksOpen], Any] | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.opened = opened
        self.logs = (client or _boto3_logs)(opened)
        self.position = Position.load(opened.state_file)
        self.stats = PollStats()
        self.stop = threading.Event()
        self._now = now
        self._numbers = itertools.count(1)

    def run(self, deliver: Callable[[list[JsonEvent]], bool]) -> None:
        """Poll until ``stop`` is set or ``deliver`` refuses."""
        logs = self.logs
        if self.position.start is None:
            self.position.start = int((self._now() - self.opened.shift) * 1000)
        backoff = Backoff(longest=MAX_BACKOFF)
        while not self.stop.is_set():
            done = self._poll(logs, deliver)
            if done is None:  # refused: stopping
                return
            if not done:  # an API error, logged: wait and ask again from the same start
                backoff.wait(self.stop)
                continue
            backoff.reset()
            self.position.advance(int(self.opened.shift * 1000))
            self.position.save(self.opened.state_file)
            self.stop.wait(self.opened.polling_interval)

    def _poll(self, logs: Any, deliver: Callable[[list[JsonEvent]], bool]) -> bool | None:
        """Every page from the start time: True when read to the end, False on an API
        error, None when ``deliver`` refused."""
        token: str | None = None
        while not self.stop.is_set():
            args: dict[str, Any] = {
                "logGroupName": self.opened.log_group,
                "logStreamNamePrefix": STREAM_PREFIX,
                "startTime": self.position.start,
                "limit": self.opened.buffer_size,
            }
            if token:
                args["nextToken"] = token
            self.stats.requests += 1
            try:
                page = logs.filter_log_events(**args)
            except Exception as exc:  # botocore's errors: logged, counted, retried
                self._api_error(exc)
                return False
            events = self._events(page.get("events") or [])
            if events and not deliver(events):
                return None
            self.position.save(self.opened.state_file)  # the page's ids: never again
            token = page.get("nextToken")
            if not token:
                return True
        return True

    def _api_error(self, exc: Exception) -> None:
        code = _error_code(exc)
        if code in _THROTTLED:
            kind = "throttled"
        elif code in ("AccessDeniedException", "UnrecognizedClientException",
                      "ExpiredTokenException", "InvalidSignatureException"):  # fmt: skip
            kind = "auth"
        elif code:
            kind = "api"
        else:
            kind = "network"
        log.warning("%s: FilterLogEvents on %s: %s", PLUGIN, self.opened.log_group, exc)
        self.stats.error(kind)

    def _events(self, records: list[Any]) -> list[JsonEvent]:
        """The audit events of a page's log events not handed over before."""
        out: list[JsonEvent] = []
        for record in records:
            if not isinstance(record, dict):
                self._bad("bad_record", "a log event that is not an object")
                continue
            stream = str(record.get("logStreamName") or "")
            if stream and not stream.startswith(STREAM_PREFIX):
                continue  # another control-plane log (authenticator, scheduler...)
            event_id = str(record.get("eventId") or "")
            stamp = record.get("timestamp")
            if not event_id or not isinstance(stamp, int):
                self._bad("bad_record", "a log event without eventId or timestamp")
                continue
            if event_id in self.position.seen:
                continue  # handed over already (a previous poll, or before a restart)
            self.position.seen[event_id] = stamp
            out.extend(self._parse(stream, event_id, str(record.get("message") or "")))
        self.stats.events += len(out)
        return out

    def _parse(self, stream: str, event_id: str, message: str) -> list[JsonEvent]:
        where = f"{self.opened.log_group} {stream} event {event_id}"
        if message.endswith(TRUNCATED):
            m = _AUDIT_ID.search(message)
            audit_id = f" (auditID {m.group(1)})" if m else ""
            self._bad("truncated", f"{where}: truncated by CloudWatch{audit_id}; skipped")
            return []
        try:
            doc = json.loads(message)
        except ValueError as exc:
            self._bad("bad_json", f"{where}: not JSON ({exc}); skipped")
            return []
        return numbered_events(doc, where, self._bad, self._numbers)

    def _bad(self, kind: str, message: str) -> None:
        log.warning("%s: %s", PLUGIN, message)
        self.stats.error(kind)


def _boto3_logs(opened: EksOpen) -> Any:
    """A boto3 CloudWatch Logs client for the profile and region (EksConfigError when
    the profile does not exist or no region is known)."""
    import boto3
    from botocore.exceptions import BotoCoreError

    try:
        session = boto3.Session(profile_name=opened.profile, region_name=opened.region)
        return session.client("logs")
    except BotoCoreError as exc:
        raise EksConfigError(
            f"{PLUGIN}: no CloudWatch Logs client ({exc}): see init_config.profile and "
            "init_config.region (or AWS_PROFILE, AWS_REGION)"
        ) from None
