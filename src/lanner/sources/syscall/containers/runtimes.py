"""Which container runtimes to ask, from falco.yaml-style ``container_engines`` settings."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from .cri import CRI_SOCKETS, CriResolver
from .docker import DEFAULT_SOCKET, DockerResolver
from .store import MetadataStore

log = logging.getLogger(__name__)

PODMAN_SOCKETS = ("/run/podman/podman.sock",)


def _engine(cfg: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = cfg.get(name) or {}
    return value if isinstance(value, Mapping) else {}


def _sockets(engine: Mapping[str, Any], default: list[str]) -> list[str]:
    """``sockets`` as a list (a single path given as a string is accepted too)."""
    value = engine.get("sockets")
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if value else default


def configure_runtimes(
    store: MetadataStore, container_engines: Mapping[str, Any] | None
) -> list[str]:
    """Register a resolver for each enabled runtime whose socket exists; return their sockets.

    Keys follow Falco's ``container_engines`` (and its container plugin's ``engines``):
    ``docker.enabled``, ``docker.sockets``, ``cri.enabled``, ``cri.sockets``,
    ``cri.timeout`` (seconds here), ``podman.enabled``, ``podman.sockets``. Lanner adds
    ``docker.timeout`` (seconds) and ``lookup_deadline_ms``: how long an event may wait
    for a new container's metadata (0, the default: never; fields fill in later). A
    missing socket is a one-line notice, never an error.
    """
    cfg = container_engines or {}
    used: list[str] = []
    deadline = cfg.get("lookup_deadline_ms")
    if deadline is not None:
        store.deadline = max(0.0, float(deadline) / 1000.0)
    docker = _engine(cfg, "docker")
    if docker.get("enabled", True):
        dtimeout = float(docker.get("timeout", 2.0))
        for sock in _sockets(docker, [DEFAULT_SOCKET]):
            if DockerResolver.available(sock):
                store.add_resolver(DockerResolver(sock, timeout=dtimeout))
                used.append(sock)
            else:
                log.info("docker: no socket at %s, skipping", sock)
    podman = _engine(cfg, "podman")
    if podman.get("enabled", True):
        for sock in _sockets(podman, list(PODMAN_SOCKETS)):
            if DockerResolver.available(sock):  # podman serves the Docker-compatible API
                store.add_resolver(DockerResolver(sock, runtime="podman"))
                used.append(sock)
    cri = _engine(cfg, "cri")
    if cri.get("enabled", True):
        timeout = float(cri.get("timeout", 2.0))
        for sock in _sockets(cri, list(CRI_SOCKETS)):
            if CriResolver.available(sock):
                store.add_resolver(CriResolver(sock, timeout=timeout))
                used.append(sock)
            else:
                log.info("cri: no socket at %s, skipping", sock)
    return used
