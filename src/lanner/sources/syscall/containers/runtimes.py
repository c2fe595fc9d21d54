"""Which container runtimes to ask, from falco.yaml-style ``container_engines`` settings,
and the watch of their sockets: runtimes that start after Lanner, or restart under it."""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from .sockets import CRI_SOCKETS, DOCKER_SOCKET, PODMAN_SOCKETS
from .store import MetadataStore, Resolver

log = logging.getLogger(__name__)


def _docker_resolver(path: str, **options: Any) -> Resolver:
    """A Docker API client (podman's too); httpx is imported once a socket is there."""
    from .docker import DockerResolver

    return DockerResolver(path, **options)


def _cri_resolver(path: str, timeout: float) -> Resolver:
    """A CRI client; grpc is imported once a socket is there."""
    from .cri import CriResolver

    return CriResolver(path, timeout=timeout)


def _engine(cfg: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = cfg.get(name) or {}
    return value if isinstance(value, Mapping) else {}


def _sockets(engine: Mapping[str, Any], default: list[str]) -> list[str]:
    """``sockets`` as a list (a single path given as a string is accepted too)."""
    value = engine.get("sockets")
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if value else default


def socket_identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the unix socket at ``path``; None when there is none. A runtime
    that restarts makes a new socket: a new inode."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISSOCK(st.st_mode) else None


@dataclass
class RuntimeSocket:
    """One configured socket of a runtime, and its resolver once the socket was seen."""

    runtime: str  # docker, podman, cri
    path: str
    make: Callable[[], Resolver]
    quiet: bool = False  # no notice at start when missing (podman: rarely installed)
    resolver: Resolver | None = None
    identity: tuple[int, int] | None = None  # of the socket last seen; None: not there


class SocketWatch:
    """Probes the configured runtime sockets (a ``stat()`` each) and acts on transitions:

    - a socket that appears for the first time: its resolver is created and added to the
      store, and the containers seen meanwhile are looked up again;
    - a socket that goes away (the runtime stops or restarts): logged; its resolver stays,
      lookups fail into the store's retry back-off;
    - a socket that is back (or was made anew): the resolver reconnects and the failed
      lookups are retried at once.

    Each transition is logged once. The store runs :meth:`probe` in a worker, at most
    every ``probe_interval`` seconds, while a runtime is awaited or failing.
    """

    def __init__(self, store: MetadataStore, sockets: list[RuntimeSocket]) -> None:
        self.store = store
        self.sockets = sockets
        self._lock = threading.Lock()  # one probe at a time
        for sock in sockets:
            sock.identity = socket_identity(sock.path)
            if sock.identity is None:
                if not sock.quiet:
                    log.info(
                        "%s: no socket at %s yet; it will be used once it appears",
                        sock.runtime,
                        sock.path,
                    )
                continue
            self._create(sock, relookup=False)
        store.awaiting = self.awaiting()
        store.watch(self.probe)

    def awaiting(self) -> bool:
        """Some configured socket has no resolver yet."""
        return any(sock.resolver is None for sock in self.sockets)

    def used(self) -> list[str]:
        """The sockets with a resolver."""
        return [sock.path for sock in self.sockets if sock.resolver is not None]

    def states(self) -> dict[str, bool]:
        """Socket path -> whether it was there at the last probe."""
        return {sock.path: sock.identity is not None for sock in self.sockets}

    def _create(self, sock: RuntimeSocket, relookup: bool) -> bool:
        try:
            sock.resolver = sock.make()
        except Exception as exc:  # retried when the socket changes again
            log.warning("%s: cannot use the socket at %s (%s)", sock.runtime, sock.path, exc)
            return False
        self.store.add_resolver(sock.resolver, relookup=relookup)
        return True

    def probe(self) -> None:
        """Check each socket once; act on what changed since the last probe. A probe
        asked for while one runs is skipped (that one sees the same sockets)."""
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._probe()
        finally:
            self._lock.release()

    def _probe(self) -> None:
        for sock in self.sockets:
            identity = socket_identity(sock.path)
            if identity == sock.identity:
                continue
            before, sock.identity = sock.identity, identity
            if identity is None:
                if sock.resolver is not None:
                    log.warning(
                        "%s: socket %s disappeared; container metadata lookups fail and "
                        "are retried with back-off meanwhile",
                        sock.runtime,
                        sock.path,
                    )
                continue
            if sock.resolver is None:
                if self._create(sock, relookup=True):
                    log.info(
                        "%s: socket %s appeared; asking it for container metadata",
                        sock.runtime,
                        sock.path,
                    )
                continue
            log.info(
                "%s: socket %s is back%s; retrying the failed container metadata lookups",
                sock.runtime,
                sock.path,
                "" if before is None else " (made anew)",
            )
            reconnect = getattr(sock.resolver, "reconnect", None)
            if reconnect is not None:
                reconnect()
            self.store.retry_unresolved()
        self.store.awaiting = self.awaiting()


def socket_watch(store: MetadataStore) -> SocketWatch | None:
    """The socket watch :func:`configure_runtimes` registered with ``store``, if any
    (read-only: the metrics read its sockets at scrape time)."""
    owner = getattr(store.watcher(), "__self__", None)
    return owner if isinstance(owner, SocketWatch) else None


# a healthy local runtime answers in 1-6 ms (bench/container_first_alert.py), so the
# first alert of a new container carries its name and image; a hung runtime costs the
# event path this much once per new container (docs/containers.md)
DEFAULT_LOOKUP_DEADLINE_MS = 100


def configure_runtimes(
    store: MetadataStore, container_engines: Mapping[str, Any] | None
) -> list[str]:
    """Register a resolver for each enabled runtime whose socket exists, and watch the
    others for their socket to appear; return the sockets in use now.

    Keys follow Falco's ``container_engines`` (and its container plugin's ``engines``):
    ``docker.enabled``, ``docker.sockets``, ``cri.enabled``, ``cri.sockets``,
    ``cri.timeout`` (seconds here), ``podman.enabled``, ``podman.sockets``. Lanner adds
    ``docker.timeout`` (seconds) and ``lookup_deadline_ms``: how long the first reads of a
    new container may wait for its metadata, once per lookup (DEFAULT_LOOKUP_DEADLINE_MS;
    0: never, fields fill in later). A missing socket is a one-line notice, never an
    error; it is used once it appears.
    """
    cfg = container_engines or {}
    deadline = cfg.get("lookup_deadline_ms", DEFAULT_LOOKUP_DEADLINE_MS)
    store.deadline = max(0.0, float(deadline) / 1000.0)
    sockets: list[RuntimeSocket] = []
    docker = _engine(cfg, "docker")
    if docker.get("enabled", True):
        dtimeout = float(docker.get("timeout", 2.0))
        for path in _sockets(docker, [DOCKER_SOCKET]):
            make = partial(_docker_resolver, path, timeout=dtimeout)
            sockets.append(RuntimeSocket("docker", path, make))
    podman = _engine(cfg, "podman")
    if podman.get("enabled", True):
        for path in _sockets(podman, list(PODMAN_SOCKETS)):
            # podman serves the Docker-compatible API
            make = partial(_docker_resolver, path, runtime="podman")
            sockets.append(RuntimeSocket("podman", path, make, quiet=True))
    cri = _engine(cfg, "cri")
    if cri.get("enabled", True):
        timeout = float(cri.get("timeout", 2.0))
        for path in _sockets(cri, list(CRI_SOCKETS)):
            make = partial(_cri_resolver, path, timeout=timeout)
            sockets.append(RuntimeSocket("cri", path, make))
    if not sockets:
        return []
    return SocketWatch(store, sockets).used()
