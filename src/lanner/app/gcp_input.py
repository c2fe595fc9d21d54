"""The gcpaudit and k8saudit-gke plugins in ``lanner run``: ``load_plugins: [gcpaudit]`` or
``[k8saudit-gke]`` with a ``plugins`` entry (``init_config`` as the plugin documents it,
``open_params`` the Pub/Sub subscription) reads the subscription
(:mod:`lanner.sources.gcp.pubsub`) into the ``gcp_auditlog`` or ``k8s_audit`` source.

A message is acknowledged once the run loop took its event from the feed (the event is
then evaluated), so a stop or crash before that means Pub/Sub delivers it again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson

from lanner.app.config import Config
from lanner.app.live import LiveFeed
from lanner.app.plugin_inputs import PluginInput, Producer, plugin_entry
from lanner.exceptions import ConfigError, InputError
from lanner.sources.gcp.pubsub import Probe, PubSubOpen, PubSubReader, subscriber_client
from lanner.sources.json_source.event import JsonEvent, parse_rfc3339

log = logging.getLogger("lanner.gcp")

GKE_KEYS: dict[str, type] = {
    "fetch_cluster_metadata": bool,
    "set_cluster_labels": bool,  # the name of the plugin README's example
    "cache_expiration": int,
    "use_async": bool,
    "max_event_size": int,
}
GCPAUDIT_KEYS: dict[str, type] = {"useAsync": bool, "sub_id": str}
MAX_EVENT_SIZE = 262144


def _json(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc}") from None


def audit_entry_event(data: bytes, num: int) -> list[Any]:
    """A Cloud Audit Log entry (JSON, as a logs sink publishes it) as a gcp_auditlog
    event; its time is the entry's ``timestamp`` (else when it was received)."""
    doc = _json(data)
    if not isinstance(doc, dict):
        raise InputError("not a JSON object (a LogEntry)")
    ts = parse_rfc3339(doc.get("timestamp")) or time.time_ns()
    return [JsonEvent(doc, ts, num)]


def gke_entry_events(
    max_size: int, cluster_labels: Any = None
) -> Callable[[bytes, int], list[Any]]:
    """A GKE audit log entry as a k8s_audit event (NotAuditEvent for other entries), with
    the cluster's labels when ``cluster_labels`` (fetch_cluster_metadata) is given."""
    from lanner.sources.k8s_audit.gke import gke_audit_event

    def convert(data: bytes, num: int) -> list[Any]:
        event = gke_audit_event(_json(data), num, cluster_labels)
        size = len(orjson.dumps(event.data))
        if size > max_size:
            raise InputError(f"event larger than max_event_size ({size} > {max_size} bytes)")
        return [event]

    return convert


def gcpaudit_input(cfg: Config) -> PluginInput | None:
    """The Pub/Sub input of the gcpaudit plugin when it is loaded (ConfigError when its
    configuration is unusable); the client is made when it starts."""
    entry = plugin_entry(cfg, "gcpaudit")
    if entry is None:
        return None
    init = entry.get("init_config")
    params = str(entry.get("open_params") or "") or _sub_id(init)
    opened = PubSubOpen.parse("gcpaudit", init, params, GCPAUDIT_KEYS)
    from lanner.sources.gcp import gcp_audit_source

    spec = gcp_audit_source()
    return PluginInput("gcpaudit", spec, _starter(spec.name, opened, lambda: audit_entry_event))


def gke_input(cfg: Config) -> PluginInput | None:
    """The Pub/Sub input of the k8saudit-gke plugin when it is loaded, into k8s_audit."""
    entry = plugin_entry(cfg, "k8saudit-gke")
    if entry is None:
        return None
    params = str(entry.get("open_params") or "")
    if params.startswith("file://"):
        raise ConfigError(
            "k8saudit-gke open_params file://: not supported by Lanner "
            "(the plugin's debugging mode); give the Pub/Sub subscription"
        )
    opened = PubSubOpen.parse("k8saudit-gke", entry.get("init_config"), params, GKE_KEYS)
    from lanner.sources.k8s_audit.source import k8s_audit_source

    size = max(1, int(opened.extra.get("max_event_size", MAX_EVENT_SIZE)))
    fetch = opened.extra.get("fetch_cluster_metadata", opened.extra.get("set_cluster_labels"))
    expiration = int(opened.extra.get("cache_expiration", 10))

    def convert() -> Callable[[bytes, int], list[Any]]:
        labels = cluster_labels(opened, expiration) if fetch else None
        return gke_entry_events(size, labels)

    spec = k8s_audit_source()
    return PluginInput("k8saudit-gke", spec, _starter(spec.name, opened, convert))


def cluster_labels(opened: PubSubOpen, expiration: int) -> Any:
    """The Container API's cluster labels cache (ConfigError without credentials)."""
    try:
        from google.auth import exceptions as auth_errors
        from google.cloud import container_v1

        from lanner.sources.gcp.pubsub import credentials
        from lanner.sources.k8s_audit.gke_metadata import ClusterLabels
    except ImportError as exc:
        raise ConfigError(f"k8saudit-gke init_config.fetch_cluster_metadata: {exc}; "
                          "install lanner[services]") from None  # fmt: skip
    creds = credentials(opened, "https://www.googleapis.com/auth/cloud-platform", emulated=False)
    try:
        client = container_v1.ClusterManagerClient(**({"credentials": creds} if creds else {}))
    except auth_errors.DefaultCredentialsError as exc:
        raise ConfigError(f"k8saudit-gke init_config.fetch_cluster_metadata: no Google "
                          f"credentials ({exc})") from None  # fmt: skip
    return ClusterLabels(client, expiration)


def _starter(
    source: str, opened: PubSubOpen, convert: Callable[[], Callable[[bytes, int], list[Any]]]
) -> Callable[[], tuple[Producer, Any]]:
    """Make the clients (ConfigError without usable credentials) and the producer."""

    def start() -> tuple[Producer, Any]:
        reader = PubSubReader(opened, convert(), subscriber_client(opened))
        return pubsub_producer(source, reader), reader.stats

    return start


def _sub_id(init: Any) -> str:
    """The old plugin versions' ``sub_id`` init key, when open_params is empty."""
    if isinstance(init, dict):
        return str(init.get("sub_id") or "")
    if isinstance(init, str) and init.strip().startswith("{"):
        try:
            doc = orjson.loads(init)
        except orjson.JSONDecodeError:
            return ""  # PubSubOpen.parse reports it
        return str(doc.get("sub_id") or "") if isinstance(doc, dict) else ""
    return ""


class QueuedBatches:
    """Which batches still wait in a feed's queue: one look at the queue serves every
    probe asked within ``fresh`` seconds (the acker asks for all its messages at once),
    never one taken before the batch was queued."""

    def __init__(self, feed: LiveFeed, fresh: float = 0.01) -> None:
        self.feed, self.fresh = feed, fresh
        self._ids: set[int] = set()
        self._at = -1.0
        self._lock = threading.Lock()

    def waiting(self, batch: list[Any], queued_at: float) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._at > self.fresh or self._at <= queued_at:
                with self.feed.queue.mutex:  # ids of live objects: a probe holds its batch
                    self._ids = {id(b) for b in self.feed.queue.queue}
                self._at = now
            return id(batch) in self._ids

    def probe(self, batch: list[Any]) -> Probe:
        """True once the run loop took ``batch`` (just queued) off the feed, False if the
        feed stopped with it still queued, None while it waits."""
        queued_at = time.monotonic()

        def probe() -> bool | None:
            if not self.waiting(batch, queued_at):
                return True
            return False if self.feed.stopping.is_set() else None

        return probe


def pubsub_producer(source: str, reader: PubSubReader) -> Callable[[LiveFeed], None]:
    """A producer receiving until the feed stops; a subscription that cannot be read
    ends it with the reason (logged, and the run's exit status says so)."""

    def relay_stop(feed: LiveFeed) -> None:
        feed.stopping.wait()
        reader.stop.set()

    def produce(feed: LiveFeed) -> None:
        threading.Thread(target=relay_stop, args=(feed,), daemon=True).start()

        queued = QueuedBatches(feed)

        def deliver(events: list[Any]) -> Probe | None:
            batch = [(source, e) for e in events]
            return queued.probe(batch) if feed.put(batch) else None

        name = reader.opened.plugin
        log.info("%s: reading Pub/Sub subscription %s", name, reader.opened.subscription)
        try:
            reader.run(deliver)
        except (InputError, ConfigError) as exc:
            log.error("%s", exc)
            raise
        finally:
            s = reader.stats
            log.info("%s: %d messages, %d events, %d acked, %d nacked, errors %s", name,
                     s.messages, s.events, s.acked, s.nacked, s.errors or "none")  # fmt: skip

    return produce
