"""AKS control-plane audit logs from an Azure Event Hub, as Falco's k8saudit-aks plugin reads
them: AKS's diagnostic settings send the ``kube-audit`` (or ``kube-audit-admin``) category
to an Event Hub, each event a JSON object ``{"records": [...]}`` whose records carry one
audit event as the JSON text ``properties.log``. Read with Microsoft's client
(azure-eventhub), every partition of ``event_hub_name`` in the ``$Default`` consumer group.

``init_config`` takes the plugin's keys: ``event_hub_namespace_connection_string``,
``event_hub_name``, ``rate_limit_events_per_second`` (100), ``rate_limit_burst`` (200),
``maxEventSize`` (262144 bytes), each also from the environment variable the plugin reads
(``EVENTHUB_NAMESPACE_CONNECTION_STRING``, ...), and Lanner's ``consumer_group`` and
``stateFile``. The plugin keeps its checkpoints in Azure Blob Storage
(``blob_storage_connection_string``, ``blob_storage_container_name``); Lanner keeps them in
the local ``stateFile`` instead (the offset and sequence number of the last event handed
over, per partition, written atomically once the batch was handed over), so a restart
neither loses nor repeats events; the blob keys are refused with that explanation. Without
``stateFile`` the checkpoints are in memory: a restart starts at the hub's newest events.
A partition with no checkpoint is read from its newest events, as the plugin's processor
does. One Lanner reads all partitions (no load balancing between replicas).

A bad event (not JSON, no ``records``, a record without ``properties.log``, a log that is no
audit event or is larger than ``maxEventSize``) is logged, counted and skipped; a cut
connection is opened again by the client itself; the errors it reports (authorisation,
connection) are logged and counted, and the client is made again.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from lanner.sources.cloud_reader import ErrorCounts, load_state, save_state
from lanner.sources.json_source.event import JsonEvent
from lanner.sources.k8s_audit.payload import numbered_events
from lanner.sources.plugin_init import read_init_config

log = logging.getLogger("lanner.k8saudit-aks")

PLUGIN = "k8saudit-aks"
DEFAULT_MAX_EVENT_SIZE = 262144
AUDIT_CATEGORIES = ("kube-audit", "kube-audit-admin")
_INIT_KEYS: dict[str, type] = {
    "event_hub_namespace_connection_string": str,
    "event_hub_name": str,
    "blob_storage_connection_string": str,
    "blob_storage_container_name": str,
    "rate_limit_events_per_second": int,
    "rate_limit_burst": int,
    "maxEventSize": int,
    "consumer_group": str,
    "stateFile": str,
}
# init_config key -> the environment variable the plugin reads for it
_ENV = {
    "event_hub_namespace_connection_string": "EVENTHUB_NAMESPACE_CONNECTION_STRING",
    "event_hub_name": "EVENTHUB_NAME",
    "blob_storage_connection_string": "BLOB_STORAGE_CONNECTION_STRING",
    "blob_storage_container_name": "BLOB_STORAGE_CONTAINER_NAME",
    "rate_limit_events_per_second": "RATE_LIMIT_EVENTS_PER_SECOND",
    "rate_limit_burst": "RATE_LIMIT_BURST",
}


class AksConfigError(ValueError):
    """A plugin configuration Lanner cannot honour; the message names the key."""


@dataclass(slots=True)
class AksOpen:
    """The parsed ``init_config``."""

    connection_string: str
    event_hub: str
    rate: int = 100  # events per second
    burst: int = 200
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE
    consumer_group: str = "$Default"
    state_file: str | None = None
    cluster: str = ""  # open_params

    @classmethod
    def parse(
        cls, init_config: Any, open_params: str = "", env: dict[str, str] | None = None
    ) -> AksOpen:
        """The plugin's keys (environment variables as defaults) and Lanner's."""
        env = dict(os.environ) if env is None else env
        init = read_init_config(PLUGIN, init_config, _INIT_KEYS, AksConfigError)
        for key, name in _ENV.items():
            if key not in init and env.get(name):
                value: Any = env[name]
                if _INIT_KEYS[key] is int:
                    try:
                        value = int(value)
                    except ValueError:
                        raise AksConfigError(f"{PLUGIN} {name}: expected an integer") from None
                init[key] = value
        for key in ("blob_storage_connection_string", "blob_storage_container_name"):
            if init.get(key):
                raise AksConfigError(
                    f"{PLUGIN} init_config.{key}: Lanner keeps the checkpoints in a local file, "
                    "not in Azure Blob Storage: remove the blob_storage_* keys and set stateFile"
                )
        conn = init.get("event_hub_namespace_connection_string", "")
        if not conn:
            raise AksConfigError(
                f"{PLUGIN} init_config.event_hub_namespace_connection_string: missing "
                "(or set EVENTHUB_NAMESPACE_CONNECTION_STRING)"
            )
        try:
            from azure.eventhub import parse_connection_string
        except ImportError:
            raise AksConfigError(
                f"{PLUGIN} needs the azure-eventhub package: pip install 'lanner[services]'"
            ) from None
        try:
            props = parse_connection_string(conn)
        except (ValueError, TypeError) as exc:
            raise AksConfigError(
                f"{PLUGIN} init_config.event_hub_namespace_connection_string: {exc}"
            ) from None
        hub = init.get("event_hub_name") or props.eventhub_name or ""
        if not hub:
            raise AksConfigError(f"{PLUGIN} init_config.event_hub_name: missing")
        opened = cls(conn, hub, cluster=open_params.strip())
        limits = (("rate_limit_events_per_second", "rate"), ("rate_limit_burst", "burst"),
                  ("maxEventSize", "max_event_size"))  # fmt: skip
        for key, attr in limits:
            if key in init:
                if init[key] <= 0:
                    raise AksConfigError(f"{PLUGIN} init_config.{key}: must be positive")
                setattr(opened, attr, init[key])
        opened.consumer_group = init.get("consumer_group") or "$Default"
        opened.state_file = init.get("stateFile") or None
        return opened


class FileCheckpointStore:
    """azure-eventhub's checkpoint store interface over a JSON file (checkpoints only;
    ownership is this process's, in memory). Each update is written atomically."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._owners: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self._checkpoints: dict[str, dict[str, Any]] = (
            load_state(path, _read_checkpoints, AksConfigError, PLUGIN) or {}
        )

    @staticmethod
    def _key(ns: str, hub: str, group: str, pid: str) -> str:
        return "/".join((ns, hub, group, pid))

    def list_ownership(
        self, fully_qualified_namespace: str, eventhub_name: str, consumer_group: str,
        **_: Any,
    ) -> Iterable[dict[str, Any]]:  # fmt: skip
        with self._lock:
            prefix = (fully_qualified_namespace, eventhub_name, consumer_group)
            return [dict(o) for k, o in self._owners.items() if k[:3] == prefix]

    def claim_ownership(
        self, ownership_list: Iterable[dict[str, Any]], **_: Any
    ) -> Iterable[dict[str, Any]]:
        claimed = []
        with self._lock:
            for ownership in ownership_list:
                key = (ownership["fully_qualified_namespace"], ownership["eventhub_name"],
                       ownership["consumer_group"], ownership["partition_id"])  # fmt: skip
                old = self._owners.get(key)
                if old is not None and ownership.get("etag") != old["etag"]:
                    continue  # someone else's claim won
                new = {**ownership, "etag": str(uuid.uuid4()), "last_modified_time": time.time()}
                self._owners[key] = new
                claimed.append(dict(new))
        return claimed

    def update_checkpoint(self, checkpoint: dict[str, Any], **_: Any) -> None:
        key = self._key(checkpoint["fully_qualified_namespace"], checkpoint["eventhub_name"],
                        checkpoint["consumer_group"], checkpoint["partition_id"])  # fmt: skip
        with self._lock:
            self._checkpoints[key] = dict(checkpoint)
            if self.path:
                save_state(self.path, {"checkpoints": self._checkpoints})

    def list_checkpoints(
        self, fully_qualified_namespace: str, eventhub_name: str, consumer_group: str,
        **_: Any,
    ) -> Iterable[dict[str, Any]]:  # fmt: skip
        prefix = self._key(fully_qualified_namespace, eventhub_name, consumer_group, "")
        with self._lock:
            return [dict(c) for k, c in self._checkpoints.items() if k.startswith(prefix)]


def _read_checkpoints(doc: Any) -> dict[str, dict[str, Any]]:
    return {str(k): dict(v) for k, v in doc["checkpoints"].items()}


@dataclass(slots=True)
class ReadStats(ErrorCounts):
    """Event Hubs events, audit events and errors by kind (the source's metrics)."""

    messages: int = 0
    events: int = 0


class TokenBucket:
    """The plugin's rate limit: ``rate`` per second, bursts of ``burst``."""

    def __init__(self, rate: float, burst: int, stop: threading.Event) -> None:
        self.rate, self.burst, self.stop = rate, burst, stop
        self.tokens = float(burst)
        self.last = time.monotonic()

    def take(self) -> None:
        """Wait for one token (returns at once when stopping)."""
        while not self.stop.is_set():
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1:
                self.tokens -= 1
                return
            self.stop.wait((1 - self.tokens) / self.rate)


class AksReader:
    """Receives the hub's events; ``deliver(events)`` hands a batch's audit events on
    (False: stop). ``client`` makes the consumer client (for tests)."""

    def __init__(self, opened: AksOpen, client: Callable[..., Any] | None = None) -> None:
        self.opened = opened
        self.store = FileCheckpointStore(opened.state_file)
        self.stats = ReadStats()
        self.stop = threading.Event()
        self._make_client = client or _consumer
        self._client: Any = None
        self._bucket = TokenBucket(opened.rate, opened.burst, self.stop)
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def run(self, deliver: Callable[[list[JsonEvent]], bool]) -> None:
        """Receive until ``stop`` is set or ``deliver`` refuses."""
        closer = threading.Thread(target=self._close_on_stop, daemon=True)
        closer.start()
        while not self.stop.is_set():
            with self._lock:
                self._client = self._make_client(self.opened, self.store)
            try:
                self._client.receive_batch(
                    on_event_batch=lambda ctx, batch: self._on_batch(ctx, batch, deliver),
                    on_error=self._on_error,
                    max_batch_size=100,
                    max_wait_time=1,
                    starting_position="@latest",
                )
            except Exception as exc:  # the client's own errors: logged, counted, reconnect
                self._on_error(None, exc)
            finally:
                with self._lock:
                    client, self._client = self._client, None
                if client is not None:
                    client.close()
            self.stop.wait(1.0)

    def _close_on_stop(self) -> None:
        self.stop.wait()
        with self._lock:
            if self._client is not None:
                self._client.close()

    def _on_error(self, context: Any, exc: Exception) -> None:
        from azure.eventhub.exceptions import AuthenticationError

        where = f" (partition {context.partition_id})" if context is not None else ""
        kind = "auth" if isinstance(exc, AuthenticationError) else "connection"
        log.warning("%s: %s%s: %s: %s", PLUGIN, self.opened.event_hub, where,
                    type(exc).__name__, exc)  # fmt: skip
        self.stats.error(kind)

    def _on_batch(
        self, context: Any, batch: list[Any], deliver: Callable[[list[JsonEvent]], bool]
    ) -> None:
        if not batch or self.stop.is_set():
            return
        out: list[JsonEvent] = []
        for event in batch:
            self.stats.messages += 1
            where = (f"{self.opened.event_hub} partition {context.partition_id} "
                     f"sequence {event.sequence_number}")  # fmt: skip
            out.extend(self._parse(where, event.body_as_str(encoding="utf-8")))
        for _ in out:
            self._bucket.take()
        if self.stop.is_set():
            return  # not handed over: not checkpointed, read again after a restart
        if out and not deliver(out):
            self.stop.set()
            return
        self.stats.events += len(out)
        context.update_checkpoint(batch[-1])

    def _parse(self, where: str, body: str) -> list[JsonEvent]:
        try:
            doc = json.loads(body)
        except ValueError as exc:
            self._bad("bad_json", f"{where}: not JSON ({exc}); skipped")
            return []
        records = doc.get("records") if isinstance(doc, dict) else None
        if not isinstance(records, list):
            self._bad("bad_record", f"{where}: no records list; skipped")
            return []
        out: list[JsonEvent] = []
        for i, record in enumerate(records):
            at = f"{where} record {i}"
            if not isinstance(record, dict):
                self._bad("bad_record", f"{at}: not an object; skipped")
                continue
            category = record.get("category")
            if category is not None and category not in AUDIT_CATEGORIES:
                continue  # another control-plane log (kube-apiserver, scheduler...)
            text = (record.get("properties") or {}).get("log") if isinstance(
                record.get("properties"), dict) else None  # fmt: skip
            if not isinstance(text, str):
                self._bad("bad_record", f"{at}: no properties.log text; skipped")
                continue
            if len(text.encode()) > self.opened.max_event_size:
                self._bad("too_large", f"{at}: {len(text.encode())} bytes, more than "
                          f"maxEventSize {self.opened.max_event_size}; skipped")  # fmt: skip
                continue
            out.extend(self._audit(at, text))
        return out

    def _audit(self, where: str, text: str) -> list[JsonEvent]:
        try:
            doc = json.loads(text)
        except ValueError as exc:
            self._bad("bad_json", f"{where}: properties.log is not JSON ({exc}); skipped")
            return []
        return numbered_events(doc, where, self._bad, self._numbers)

    def _bad(self, kind: str, message: str) -> None:
        log.warning("%s: %s", PLUGIN, message)
        self.stats.error(kind)


def _consumer(opened: AksOpen, store: FileCheckpointStore) -> Any:
    """The consumer client of the hub's consumer group, checkpointing into ``store``."""
    from azure.eventhub import EventHubConsumerClient

    return EventHubConsumerClient.from_connection_string(
        opened.connection_string,
        consumer_group=opened.consumer_group,
        eventhub_name=opened.event_hub,
        checkpoint_store=cast(Any, store),  # the store's interface, duck-typed
        load_balancing_interval=2,
    )
