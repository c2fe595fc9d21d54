"""GKE clusters' resource labels, for k8saudit-gke's ``fetch_cluster_metadata``: fetched
from Google's Container API (``ClusterManager.GetCluster`` with Google's official client,
``google-cloud-container``) for the cluster an audit entry names, cached for
``cache_expiration`` minutes, and added to the entry's resource labels (so to the rebuilt
event's annotations) without overriding Google's own (``cluster_name``, ``location``,
``project_id``). A failed fetch is logged and the entry goes on without them; it is tried
again after a minute, not on every entry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("lanner.gcp")

GOOGLE_LABELS = ("cluster_name", "location", "project_id")
RETRY_AFTER = 60.0


def cluster_path(resource_labels: dict[str, Any]) -> str | None:
    """``projects/P/locations/L/clusters/C`` of an entry's resource labels, or None."""
    parts = [resource_labels.get(k) for k in ("project_id", "location", "cluster_name")]
    if not all(isinstance(p, str) and p for p in parts):
        return None
    project, location, cluster = parts
    return f"projects/{project}/locations/{location}/clusters/{cluster}"


class ClusterLabels:
    """The resource labels of the clusters entries come from, fetched and cached."""

    def __init__(
        self, client: Any, expiration_minutes: int = 10, now: Callable[[], float] = time.monotonic
    ) -> None:
        self.client = client  # google.cloud.container_v1.ClusterManagerClient
        self.ttl = max(0, expiration_minutes) * 60.0
        self.fetches = 0
        self.failures = 0
        self._now = now
        self._cache: dict[str, tuple[float, dict[str, str] | None]] = {}
        self._lock = threading.Lock()

    def extra(self, resource_labels: dict[str, Any]) -> dict[str, str]:
        """The cluster's labels that may be added (Google's own are never replaced)."""
        name = cluster_path(resource_labels)
        if name is None:
            return {}
        labels = self._get(name)
        return {k: v for k, v in (labels or {}).items() if k not in GOOGLE_LABELS}

    def _get(self, name: str) -> dict[str, str] | None:
        now = self._now()
        with self._lock:
            found = self._cache.get(name)
            if found is not None and found[0] > now:
                return found[1]
        labels: dict[str, str] | None
        try:
            self.fetches += 1
            cluster = self.client.get_cluster(name=name)
            labels = {str(k): str(v) for k, v in dict(cluster.resource_labels).items()}
            until = now + self.ttl
            log.info("k8saudit-gke: fetched the labels of %s", name)
        except Exception as exc:  # google.api_core's errors: logged, the entry goes on
            self.failures += 1
            log.warning("k8saudit-gke: failed to fetch the metadata of %s: %s", name, exc)
            labels, until = None, now + RETRY_AFTER
        with self._lock:
            self._cache[name] = (until, labels)
        return labels
