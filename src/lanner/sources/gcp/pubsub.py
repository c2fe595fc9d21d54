"""Reading a Google Cloud Pub/Sub subscription with Google's official subscriber client
(``google-cloud-pubsub``, StreamingPull), as Falco's gcpaudit and k8saudit-gke plugins do.

``open_params`` is the subscription ID (in ``init_config.project_id``'s project) or its full
path ``projects/P/subscriptions/S``. Credentials: ``init_config.credentials_file`` when
given (any Google credentials JSON: service account key, authorized user, workload identity
federation), else Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``,
gcloud's, the metadata server); ``PUBSUB_EMULATOR_HOST`` points the client at an emulator
(plaintext, no credentials), as for every Google client.

Delivery is at least once, never lossy: a message is acknowledged only once its event was
taken by the engine (``deliver`` returns a probe the acker polls); a message the engine has
not taken when Lanner stops is nacked, and one Lanner never acked (a crash, a kill) comes
again after its ack deadline, so an event may be evaluated twice but never skipped. A
message that cannot be converted is logged, counted (``errors["bad_message"]``) and
acked, as the plugins drop it; the reader goes on. A missing subscription, refused
credentials or permissions end the reader with an :class:`InputError` that says so;
transient errors (unavailable, quota) are retried by the client.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from lanner.exceptions import ConfigError, InputError, NotAuditEvent
from lanner.sources.plugin_init import read_init_config

log = logging.getLogger("lanner.gcp")

# a probe: True once the engine took the event, False if it never will (stopping), None
# while it waits in the queue
Probe = Callable[[], bool | None]
Deliver = Callable[[list[Any]], Probe | None]  # None: refused (stopping)
Convert = Callable[[bytes, int], list[Any]]  # raises InputError/NotAuditEvent: bad message

COMMON_KEYS: dict[str, type] = {
    "project_id": str,
    "credentials_file": str,
    "num_goroutines": int,
    "max_outstanding_messages": int,
    "maxout_stand_messages": int,  # the name the plugins' READMEs document
}
SCOPE = "https://www.googleapis.com/auth/pubsub"
ACK_TICK = 0.05


@dataclass(slots=True)
class PubSubOpen:
    """A plugin's subscription and client settings."""

    plugin: str
    subscription: str  # projects/P/subscriptions/S
    credentials_file: str = ""
    num_goroutines: int = 10
    max_outstanding_messages: int = 1000
    extra: dict[str, Any] = field(default_factory=dict)  # the plugin's own keys

    @classmethod
    def parse(
        cls, plugin: str, init_config: Any, open_params: str, own: dict[str, type] | None = None
    ) -> PubSubOpen:
        """``init_config`` (the common keys and ``own``) and ``open_params``, the
        subscription; ConfigError naming the plugin and key."""
        init = read_init_config(plugin, init_config, {**COMMON_KEYS, **(own or {})}, ConfigError)
        sub = open_params.strip()
        if not sub:
            raise ConfigError(f"{plugin} open_params: the Pub/Sub subscription ID is required")
        project = init.get("project_id", "")
        if not sub.startswith("projects/"):
            if not project:
                raise ConfigError(
                    f"{plugin} init_config.project_id: required with the subscription ID "
                    f"{sub!r} (or give projects/P/subscriptions/S)"
                )
            sub = f"projects/{project}/subscriptions/{sub}"
        parts = sub.split("/")
        if len(parts) != 4 or parts[2] != "subscriptions" or not parts[1] or not parts[3]:
            raise ConfigError(f"{plugin} open_params {open_params!r}: not a subscription "
                              "(ID or projects/P/subscriptions/S)")  # fmt: skip
        path = init.get("credentials_file", "")
        if path and not os.path.isfile(path):
            raise ConfigError(f"{plugin} init_config.credentials_file {path!r}: no such file")
        outstanding = init.get("max_outstanding_messages", init.get("maxout_stand_messages", 1000))
        own_values = {k: init[k] for k in own or {} if k in init}
        return cls(plugin, sub, path, max(1, init.get("num_goroutines", 10)),
                   max(1, outstanding), own_values)  # fmt: skip


@dataclass(slots=True)
class ReadStats:
    """Messages, events and errors by kind (the source's metrics)."""

    messages: int = 0
    events: int = 0
    acked: int = 0
    nacked: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


def credentials(opened: PubSubOpen, scope: str = SCOPE, emulated: bool = True) -> Any:
    """The credentials of ``credentials_file`` (a service account key or gcloud's
    authorized-user file, loaded by their own type's loader), or None (the client's
    defaults; also with ``PUBSUB_EMULATOR_HOST`` when ``emulated``, the Pub/Sub client's)."""
    if not opened.credentials_file or (emulated and os.environ.get("PUBSUB_EMULATOR_HOST")):
        return None
    from google.auth import exceptions as auth_errors
    from google.oauth2 import credentials as user_credentials
    from google.oauth2 import service_account

    where = f"{opened.plugin} init_config.credentials_file {opened.credentials_file!r}"
    try:
        with open(opened.credentials_file, encoding="utf-8") as fh:
            kind = json.load(fh).get("type")
        if kind == "service_account":
            return service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                opened.credentials_file, scopes=[scope]
            )
        if kind == "authorized_user":
            return user_credentials.Credentials.from_authorized_user_file(  # type: ignore[no-untyped-call]
                opened.credentials_file, scopes=[scope]
            )
    except (auth_errors.GoogleAuthError, OSError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    raise ConfigError(f"{where}: credentials of type {kind!r} are not read (a service "
                      "account key or an authorized_user file; or leave it empty for "
                      "Application Default Credentials)")  # fmt: skip


def subscriber_client(opened: PubSubOpen) -> Any:
    """Google's SubscriberClient for these settings (ConfigError without credentials)."""
    try:
        from google.auth import exceptions as auth_errors
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]
    except ImportError as exc:
        raise ConfigError(f"{opened.plugin}: google-cloud-pubsub is not installed ({exc}); "
                          "install lanner[services]") from None  # fmt: skip
    creds = credentials(opened)
    try:
        return pubsub_v1.SubscriberClient(**({"credentials": creds} if creds else {}))
    except auth_errors.DefaultCredentialsError as exc:
        raise ConfigError(f"{opened.plugin}: no Google credentials: set "
                          "init_config.credentials_file or GOOGLE_APPLICATION_CREDENTIALS "
                          f"({exc})") from None  # fmt: skip


def _explain(plugin: str, subscription: str, exc: BaseException) -> InputError:
    from google.api_core import exceptions as api

    if isinstance(exc, api.NotFound):
        why = "not found (create it, or check open_params and project_id)"
    elif isinstance(exc, api.PermissionDenied):
        why = "permission denied (the credentials need roles/pubsub.subscriber on it)"
    elif isinstance(exc, api.Unauthenticated):
        why = "the credentials were refused"
    else:
        why = "reading failed"
    return InputError(f"{plugin}: subscription {subscription}: {why}: {exc}")


class PubSubReader:
    """Receives the subscription's messages and hands their events on."""

    def __init__(self, opened: PubSubOpen, convert: Convert, client: Any = None) -> None:
        self.opened = opened
        self.convert = convert
        self.client = client
        self.stats = ReadStats()
        self.stop = threading.Event()
        self._closing = False  # set at the end: what arrives then is kept back, nacked
        self._late: list[Any] = []
        self._pending: deque[tuple[Probe, Any]] = deque()
        self._lock = threading.Lock()
        self._num = 0

    def run(self, deliver: Deliver) -> None:
        """Receive until ``stop`` is set; InputError when the subscription cannot be read."""
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]
        from google.cloud.pubsub_v1.subscriber.scheduler import ThreadScheduler

        client = self.client or subscriber_client(self.opened)
        flow = pubsub_v1.types.FlowControl(max_messages=self.opened.max_outstanding_messages)
        pool = ThreadPoolExecutor(self.opened.num_goroutines, f"lanner-{self.opened.plugin}")
        future = client.subscribe(self.opened.subscription, lambda m: self._receive(m, deliver),
                                  flow_control=flow, scheduler=ThreadScheduler(pool))  # fmt: skip
        error: BaseException | None = None
        try:
            while not self.stop.is_set():
                self._settle(final=False)
                if future.done():
                    error = future.exception()
                    break
                self.stop.wait(ACK_TICK)
        finally:
            self._closing = True  # from now on a message reaching the callback is kept back
            left = self._settle(final=True)  # taken: acked; the others: returned
            future.cancel()  # the stream first, so that what is nacked is not sent back to it
            try:
                future.result(timeout=10)
            except Exception as exc:  # the stream's own end, or the error seen above
                error = error or (None if self.stop.is_set() else exc)
            with self._lock:
                left += self._late
            self._nack(client, left)
        if error is not None:
            self.stats.error("subscription")
            raise _explain(self.opened.plugin, self.opened.subscription, error)

    def _receive(self, message: Any, deliver: Deliver) -> None:
        """The client's callback (one of its threads): convert, hand over, keep for ack."""
        with self._lock:
            self.stats.messages += 1
            self._num += 1
            num = self._num
        try:
            events = self.convert(message.data, num)
        except (InputError, NotAuditEvent) as exc:
            log.warning("%s: message %s (delivery %s) dropped: %s", self.opened.plugin,
                        message.message_id, message.delivery_attempt or 1, exc)  # fmt: skip
            with self._lock:  # malformed, or an entry the plugin does not read
                self.stats.error("bad_message" if isinstance(exc, InputError) else "skipped")
                self.stats.acked += 1
            message.ack()
            return
        if self._closing:  # nacked once the stream is closed
            with self._lock:
                self._late.append(message)
            return
        probe = deliver(events) if events else (lambda: True)
        if probe is None:  # stopping: comes again
            message.nack()
            with self._lock:
                self.stats.nacked += 1
            return
        with self._lock:
            self.stats.events += len(events)
            self._pending.append((probe, message))

    def _settle(self, final: bool) -> list[Any]:
        """Ack the messages whose events the engine took, nack those it never will; on
        ``final``, return the undecided ones too (nacked by the caller) instead of
        nacking them."""
        with self._lock:
            pending, self._pending = self._pending, deque()
        keep: deque[tuple[Probe, Any]] = deque()
        left: list[Any] = []
        acked = 0
        for probe, message in pending:
            state = probe()
            if state:
                message.ack()
                acked += 1
            elif state is None and not final:
                keep.append((probe, message))
            else:
                left.append(message)
        with self._lock:
            self._pending.extendleft(reversed(keep))
            self.stats.acked += acked
        if not final:
            for message in left:
                message.nack()
            with self._lock:
                self.stats.nacked += len(left)
            return []
        return left

    def _nack(self, client: Any, messages: list[Any]) -> None:
        """Give ``messages`` back at once (a deadline of 0), with a direct call: the
        stream is closed, so Pub/Sub delivers them to the next reader."""
        if not messages:
            return
        try:
            client.modify_ack_deadline(subscription=self.opened.subscription,
                                       ack_ids=[m.ack_id for m in messages],
                                       ack_deadline_seconds=0)  # fmt: skip
            with self._lock:
                self.stats.nacked += len(messages)
        except Exception as exc:  # they come again after their ack deadline
            log.warning("%s: %d message(s) not given back (%s); Pub/Sub redelivers them "
                        "after their ack deadline", self.opened.plugin, len(messages),
                        exc)  # fmt: skip
