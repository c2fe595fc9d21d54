"""A cache of container metadata filled by runtime clients off the event path.

``get(id)`` never blocks longer than the configured deadline: the first request for an id
starts a lookup in a worker thread and returns what is known within the deadline (often
nothing); later events of the same container see the metadata once it has arrived, the
way Falco's fields resolve late.

Entries go when their container is gone: :meth:`MetadataStore.sweep`, called
periodically with the container ids the thread table still holds (see
``announce.py``), drops the others, as libsinsp's ``remove_inactive_containers``. The
cache is also capped at ``MAX_CONTAINERS`` entries.

Runtimes come and go: :meth:`MetadataStore.watch` registers a probe (``runtimes.py``'s
socket watch) that the store runs in a worker at most every ``probe_interval`` seconds,
and only while a runtime is awaited (a configured socket missing) or failing, or when
:meth:`poll` is forced (the announcer's sweep timer). The probe adds the resolver of a
socket that appeared (:meth:`add_resolver` with ``relookup``: the containers seen
meanwhile are looked up again) and has the failed lookups retried at once when a socket
is back (:meth:`retry_unresolved`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Container
from typing import TYPE_CHECKING

from lanner.exceptions import LookupFailed

from .info import ContainerInfo

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    from lanner.sources.k8smeta.cache import K8sMetaCache

log = logging.getLogger(__name__)

Resolver = Callable[[str], ContainerInfo | None]
HOST = "host"


def resolver_name(resolver: Resolver) -> str:
    """How logs name a resolver: its ``name`` (runtime and socket) or its type."""
    name = getattr(resolver, "name", None) or getattr(resolver, "__name__", None)
    return str(name or type(resolver).__name__)


class MetadataStore:
    """Container id -> ContainerInfo, resolved asynchronously by the registered resolvers."""

    MAX_BACKOFF = 30.0
    # containers kept; beyond, the oldest entry goes (and is looked up again if seen again)
    MAX_CONTAINERS = 50_000
    # seconds between two probes of the runtime sockets (see watch())
    PROBE_INTERVAL = 2.0

    def __init__(
        self, deadline: float = 0.0, workers: int = 2, max_containers: int | None = None
    ) -> None:
        self.deadline = deadline
        if max_containers is not None:
            self.MAX_CONTAINERS = max_containers
        self._infos: dict[str, ContainerInfo] = {}
        self._pending: dict[str, Future[ContainerInfo | None]] = {}
        self._resolvers: list[Resolver] = []
        self._retry_at: dict[str, float] = {}
        self._backoff: dict[str, float] = {}
        self._logged: set[str] = set()
        self._failing: set[str] = set()  # resolvers whose last lookup failed
        self._inflight: set[str] = set()  # ids whose lookup runs now
        # when reads of a container stop waiting for its lookup (monotonic seconds)
        self._wait_until: dict[str, float] = {}
        self._lock = threading.Lock()
        # the lookup workers, made by _executor() on first use (a replay whose containers
        # no runtime is asked about never needs them); close() ends them
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._closed = False
        self.failures = 0
        self.evicted = 0  # entries dropped by sweep() (containers without threads)
        self.arrivals = 0  # metadata entries that lookups brought (the announcer watches it)
        # a configured runtime has no resolver yet (its socket is missing): lookups of
        # unknown containers are not settled, and the sockets are probed
        self.awaiting = False
        self.probe_interval = self.PROBE_INTERVAL
        self._probe: Callable[[], None] | None = None
        self._next_probe = 0.0
        self._probing = False
        self._generation = 0  # bumped when a resolver is added
        # the API server's view of pods (lanner.sources.k8smeta), when k8smeta is loaded
        self.k8s: K8sMetaCache | None = None

    def add_resolver(self, resolver: Resolver, relookup: bool = False) -> None:
        """Register a runtime client (tried in order until one knows the container).

        With ``relookup`` (a runtime that appeared while running), the containers whose
        lookup is over without metadata (no runtime knew them, or the runtimes failed)
        are looked up again, now including this runtime."""
        with self._lock:
            resolvers = [*self._resolvers, resolver]  # copied: lookups iterate the old one
            if not relookup:
                self._resolvers = resolvers
                self._generation += 1
                return
            again = self._unresolved(failed_only=False)
            from concurrent.futures import Future

            placeholders: list[Future[ContainerInfo | None]] = []
            for cid in again:  # not settled in between (the announcer must wait for them)
                placeholders.append(Future())
                self._pending[cid] = placeholders[-1]
            self._resolvers = resolvers
            self._generation += 1
            self._submit(again)
        for fut in placeholders:  # replaced; done, for anyone who got one meanwhile
            fut.set_result(None)

    def retry_unresolved(self) -> int:
        """Look the containers whose last lookup failed up again now, whatever their
        back-off (a runtime is back). Returns how many."""
        with self._lock:
            again = self._unresolved(failed_only=True)
            self._submit(again)
        return len(again)

    def _unresolved(self, failed_only: bool) -> list[str]:
        # with the lock held: settled lookups without metadata (failed ones only, or all)
        return [
            cid
            for cid, fut in self._pending.items()
            if fut.done()
            and cid not in self._infos
            and cid not in self._inflight
            and (not failed_only or cid in self._retry_at)
        ]

    def _submit(self, ids: list[str]) -> None:
        # with the lock held
        for cid in ids:
            self._retry_at.pop(cid, None)
            self._backoff.pop(cid, None)
            self._inflight.add(cid)
            try:
                self._pending[cid] = self._executor().submit(self._resolve, cid)
            except RuntimeError:  # closed
                self._inflight.discard(cid)
                self._pending.pop(cid, None)

    def watch(self, probe: Callable[[], None], interval: float | None = None) -> None:
        """Run ``probe`` (checks the runtime sockets) in a worker, at most every
        ``interval`` seconds, while a runtime is awaited or failing (see :meth:`poll`)."""
        self._probe = probe
        if interval is not None:
            self.probe_interval = interval

    def poll(self, force: bool = False) -> None:
        """Start the probe if one is due: a monotonic-clock comparison when not. Without
        ``force`` only while a runtime is awaited or failing."""
        if self._probe is None or self._probing:
            return
        if not force and not (self.awaiting or self._failing):
            return
        now = time.monotonic()
        if now < self._next_probe:
            return
        self._next_probe = now + self.probe_interval
        self._probing = True
        try:
            self._executor().submit(self._run_probe)
        except RuntimeError:  # closed
            self._probing = False

    def _run_probe(self) -> None:
        try:
            if self._probe is not None:
                self._probe()
        except Exception:  # a probe never stops the lookups
            log.exception("container runtime socket probe failed")
        finally:
            self._probing = False

    def may_learn(self) -> bool:
        """Whether metadata may still come for a container without it: a runtime is
        there (it may recover or answer a retry) or awaited."""
        return bool(self._resolvers) or self.awaiting

    def peek(self, container_id: str) -> ContainerInfo | None:
        """The cached metadata of a container, without starting a lookup."""
        return self._infos.get(container_id)

    def put(self, info: ContainerInfo) -> None:
        """Record metadata (from a capture's container events, a runtime event...)."""
        with self._lock:
            if info.id not in self._infos and len(self._infos) >= self.MAX_CONTAINERS:
                self._drop(next(iter(self._infos)))
            self._infos[info.id] = info

    def forget(self, container_id: str) -> None:
        """Drop a container (it exited)."""
        with self._lock:
            self._drop(container_id)

    def _drop(self, container_id: str) -> None:
        # with the lock held; an in-flight lookup still lands in the cache when it ends
        self._infos.pop(container_id, None)
        self._pending.pop(container_id, None)
        self._retry_at.pop(container_id, None)
        self._backoff.pop(container_id, None)
        self._wait_until.pop(container_id, None)

    def sweep(self, in_use: Container[str]) -> list[str]:
        """Drop every container not in ``in_use`` (the container ids of the live threads):
        its metadata, its settled lookup and its back-off. Lookups still running are left
        for the next sweep. Returns the ids dropped."""
        with self._lock:
            gone = [
                cid
                for cid in (*self._infos, *(c for c in self._pending if c not in self._infos))
                if cid not in in_use and cid not in self._inflight
            ]
            for cid in gone:
                self._drop(cid)
            self.evicted += len(gone)
        return gone

    def watcher(self) -> Callable[[], None] | None:
        """The probe registered with :meth:`watch` (read-only; for the metrics)."""
        return self._probe

    def failing(self) -> frozenset[str]:
        """Names (:func:`resolver_name`) of the resolvers whose last lookup failed."""
        with self._lock:
            return frozenset(self._failing)

    def cached(self) -> int:
        """How many containers have metadata in the cache."""
        return len(self._infos)

    def known(self) -> list[str]:
        """Ids of the containers whose metadata is cached, oldest first."""
        return list(self._infos)

    def _resolve(self, container_id: str) -> ContainerInfo | None:
        info = None
        try:
            while True:
                generation = self._generation
                info = self._lookup(container_id)
                if info is not None or generation == self._generation:
                    return info
                # a runtime was added during the lookup: ask again, it may know the id
        finally:
            if info is not None:  # the cache answers from now on: the future can go
                with self._lock:
                    self._pending.pop(container_id, None)
            self._inflight.discard(container_id)

    def _lookup(self, container_id: str) -> ContainerInfo | None:
        failed = False
        for resolver in self._resolvers:  # replaced, never changed in place
            name = resolver_name(resolver)
            try:
                info = resolver(container_id)
            except Exception as exc:  # a runtime error never reaches the event path
                failed = True
                reason = (
                    f"{name}: {exc}"
                    if isinstance(exc, LookupFailed)
                    else (f"{name}: {type(exc).__name__}: {exc}")
                )
                with self._lock:
                    self.failures += 1
                    self._failing.add(name)
                    first = reason not in self._logged
                    self._logged.add(reason)
                if first:  # each distinct reason is logged once per outage
                    log.warning(
                        "container metadata lookup failed (%s); detection goes on, "
                        "will retry with back-off",
                        reason,
                    )
                continue
            with self._lock:
                recovered = name in self._failing
                if recovered:
                    self._failing.discard(name)
                    self._logged = {r for r in self._logged if not r.startswith(name + ":")}
            if recovered:
                log.info("container metadata: %s answers again", name)
                self._next_probe = 0.0  # the watch logs the socket's return and has
                self.poll(force=True)  # the other failed lookups retried now
            if info is not None:
                self.put(info)
                with self._lock:
                    self.arrivals += 1
                    self._backoff.pop(container_id, None)
                    self._retry_at.pop(container_id, None)
                return info
        if failed:  # retry later with exponential back-off, up to MAX_BACKOFF seconds
            with self._lock:
                delay = min(self._backoff.get(container_id, 0.5) * 2, self.MAX_BACKOFF)
                self._backoff[container_id] = delay
                self._retry_at[container_id] = time.monotonic() + delay
        return None

    def get(self, container_id: str | None) -> ContainerInfo | None:
        """Metadata for a container id, waiting at most ``deadline`` seconds for a lookup."""
        if not container_id or container_id == HOST:
            return None
        info = self._infos.get(container_id)
        if info is not None:
            return info
        if not self._resolvers and not self.awaiting:
            return None  # no runtime to ask, none to come
        if self._probe is not None:
            self.poll()  # a runtime awaited or failing: is its socket there (now)?
        if container_id in self._pending and (  # a miss, its wait spent: no lock taken
            self.deadline <= 0 or time.monotonic() >= self._wait_until.get(container_id, 0.0)
        ):
            if container_id in self._inflight:
                return None  # lookup in flight
            retry = self._retry_at.get(container_id)
            if retry is None or time.monotonic() < retry:
                return self._infos.get(container_id)  # settled, or retry not due yet
        with self._lock:
            fut = self._pending.get(container_id)
            retry = self._retry_at.get(container_id)
            if fut is not None and fut.done() and retry is not None and time.monotonic() >= retry:
                fut = None
                del self._retry_at[container_id]
            if fut is None:
                info = self._infos.get(container_id)
                if info is not None:  # arrived meanwhile
                    return info
                if len(self._pending) >= self.MAX_CONTAINERS:
                    oldest = next(iter(self._pending))
                    if self._pending[oldest].done():
                        del self._pending[oldest]
                        self._retry_at.pop(oldest, None)
                        self._wait_until.pop(oldest, None)
                        self._backoff.pop(oldest, None)
                self._inflight.add(container_id)
                fut = self._executor().submit(self._resolve, container_id)
                self._pending[container_id] = fut
                # one wait per lookup, however many events read the container meanwhile
                self._wait_until[container_id] = time.monotonic() + self.deadline
        wait = self._wait_until.get(container_id, 0.0) - time.monotonic()
        if wait > 0:
            try:
                return fut.result(timeout=wait)
            except Exception:
                return self._infos.get(container_id)
        return self._infos.get(container_id)

    def settled(self, container_id: str) -> bool:
        """True once the lookup of ``container_id`` is over: metadata known, the runtimes
        answered that they do not know it or failed, or there is no runtime to ask (nor
        one awaited: while a runtime's socket is missing and no runtime is there, a new
        container waits for it, up to the announcer's wait)."""
        if container_id in self._infos:
            return True
        if not self._resolvers:
            return not self.awaiting
        fut = self._pending.get(container_id)
        return fut is not None and fut.done()

    def wait(self, container_id: str, timeout: float) -> ContainerInfo | None:
        """Block until the lookup of ``container_id`` finishes (for tests and tools)."""
        self.get(container_id)
        fut = self._pending.get(container_id)
        if fut is not None:
            with contextlib.suppress(Exception):
                fut.result(timeout=timeout)
        return self._infos.get(container_id)

    def _executor(self) -> ThreadPoolExecutor:
        """The lookup workers, started on first use. After close() RuntimeError, as a
        pool that was shut down raises on submit."""
        pool = self._pool
        if pool is None:
            with self._pool_lock:
                if self._closed:
                    raise RuntimeError("cannot schedule new futures after shutdown")
                if self._pool is None:
                    from concurrent.futures import ThreadPoolExecutor

                    self._pool = ThreadPoolExecutor(
                        max_workers=self._workers, thread_name_prefix="lanner-meta"
                    )
                pool = self._pool
        return pool

    def close(self) -> None:
        """Stop the worker threads."""
        with self._pool_lock:
            self._closed = True
            pool = self._pool
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
