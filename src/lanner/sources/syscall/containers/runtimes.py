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


def configure_runtimes(
    store: MetadataStore, container_engines: Mapping[str, Any] | None
) -> list[str]:
    """Register a resolver for each enabled runtime whose socket exists; return their sockets.

    Keys follow Falco's ``container_engines``: ``docker.enabled``, ``cri.enabled``,
    ``cri.sockets``, ``cri.timeout`` (seconds here), ``podman.enabled``. A missing socket
    is a one-line notice, never an error.
    """
    cfg = container_engines or {}
    used: list[str] = []
    docker = _engine(cfg, "docker")
    if docker.get("enabled", True):
        for sock in docker.get("sockets") or [DEFAULT_SOCKET]:
            if DockerResolver.available(sock):
                store.add_resolver(DockerResolver(sock))
                used.append(sock)
            else:
                log.info("docker: no socket at %s, skipping", sock)
    podman = _engine(cfg, "podman")
    if podman.get("enabled", True):
        for sock in podman.get("sockets") or list(PODMAN_SOCKETS):
            if DockerResolver.available(sock):  # podman serves the Docker-compatible API
                store.add_resolver(DockerResolver(sock))
                used.append(sock)
    cri = _engine(cfg, "cri")
    if cri.get("enabled", True):
        timeout = float(cri.get("timeout", 2.0))
        for sock in cri.get("sockets") or list(CRI_SOCKETS):
            if CriResolver.available(sock):
                store.add_resolver(CriResolver(sock, timeout=timeout))
                used.append(sock)
            else:
                log.info("cri: no socket at %s, skipping", sock)
    return used
