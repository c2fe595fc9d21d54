"""A cache of container metadata filled by runtime clients off the event path.

``get(id)`` never blocks longer than the configured deadline: the first request for an id
starts a lookup in a worker thread and returns what is known within the deadline (often
nothing); later events of the same container see the metadata once it has arrived, the
way Falco's fields resolve late.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from .info import ContainerInfo

log = logging.getLogger(__name__)

Resolver = Callable[[str], ContainerInfo | None]
HOST = "host"


class MetadataStore:
    """Container id -> ContainerInfo, resolved asynchronously by the registered resolvers."""

    def __init__(self, deadline: float = 0.0, workers: int = 2) -> None:
        self.deadline = deadline
        self._infos: dict[str, ContainerInfo] = {}
        self._pending: dict[str, Future[ContainerInfo | None]] = {}
        self._resolvers: list[Resolver] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lanner-meta")
        self.failures = 0

    def add_resolver(self, resolver: Resolver) -> None:
        """Register a runtime client (tried in order until one knows the container)."""
        self._resolvers.append(resolver)

    def put(self, info: ContainerInfo) -> None:
        """Record metadata (from a capture's container events, a runtime event...)."""
        with self._lock:
            self._infos[info.id] = info

    def forget(self, container_id: str) -> None:
        """Drop a container (it exited)."""
        with self._lock:
            self._infos.pop(container_id, None)
            self._pending.pop(container_id, None)

    def _resolve(self, container_id: str) -> ContainerInfo | None:
        for resolver in self._resolvers:
            try:
                info = resolver(container_id)
            except Exception as exc:  # a runtime error never reaches the event path
                self.failures += 1
                log.warning("container %s: metadata lookup failed: %s", container_id, exc)
                continue
            if info is not None:
                self.put(info)
                return info
        return None

    def get(self, container_id: str | None) -> ContainerInfo | None:
        """Metadata for a container id, waiting at most ``deadline`` seconds for a lookup."""
        if not container_id or container_id == HOST:
            return None
        info = self._infos.get(container_id)
        if info is not None or not self._resolvers:
            return info
        with self._lock:
            fut = self._pending.get(container_id)
            if fut is None:
                fut = self._pool.submit(self._resolve, container_id)
                self._pending[container_id] = fut
        if self.deadline > 0:
            try:
                return fut.result(timeout=self.deadline)
            except Exception:
                return self._infos.get(container_id)
        return self._infos.get(container_id)

    def wait(self, container_id: str, timeout: float) -> ContainerInfo | None:
        """Block until the lookup of ``container_id`` finishes (for tests and tools)."""
        self.get(container_id)
        fut = self._pending.get(container_id)
        if fut is not None:
            with contextlib.suppress(Exception):
                fut.result(timeout=timeout)
        return self._infos.get(container_id)

    def close(self) -> None:
        """Stop the worker threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)


_DEFAULT = MetadataStore()


def default_store() -> MetadataStore:
    """The process-wide store the syscall fields read."""
    return _DEFAULT
