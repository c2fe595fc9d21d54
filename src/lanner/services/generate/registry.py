"""Every action, the default rules no action covers (and why), and selection by regex."""

from __future__ import annotations

import re

from lanner.services.generate import (
    k8s_actions,
    syscall_files,
    syscall_kernel,
    syscall_network,
    syscall_process,
)
from lanner.services.generate.action import Action, Uncovered

_CONTAINER = "needs a container context (container.id != host); not triggerable on a bare host"

UNCOVERED: list[Uncovered] = [
    Uncovered("Interactive shell in container", _CONTAINER),
    Uncovered("Non-interactive shell in container", _CONTAINER),
    Uncovered("Container drift", _CONTAINER + " (and an overlayfs upper layer)"),
    Uncovered("Package manager in container", _CONTAINER),
    Uncovered("Privilege change tool in container", _CONTAINER),
    Uncovered("Kernel module tool in container", _CONTAINER),
    Uncovered("Debugfs started in container", _CONTAINER),
    Uncovered("Mount in container", _CONTAINER),
    Uncovered("Namespace change in container", _CONTAINER),
    Uncovered("Docker socket used from container", _CONTAINER),
    Uncovered("Packet socket created in container", _CONTAINER),
    Uncovered("Cloud metadata service contacted from container", _CONTAINER),
    Uncovered(
        "Kubernetes API contacted from a shell in container",
        "needs a container context in a pod (container.id != host, k8s.pod.name)",
    ),
    Uncovered("Privileged container started", "needs a container runtime starting a container"),
    Uncovered(
        "Container with sensitive host mount started",
        "needs a container runtime starting a container",
    ),
    Uncovered(
        "Connection to a crypto-mining pool",
        "fd.sip.name is never resolved by Lanner (always empty) and the port branch "
        "needs a container context",
    ),
    Uncovered(
        "Kernel module loaded",
        "loading a module changes the running kernel; the generator leaves the host as it was",
    ),
]


def all_actions() -> list[Action]:
    """Every action: syscall actions first, then the k8s audit ones."""
    return [
        *syscall_files.ACTIONS,
        *syscall_process.ACTIONS,
        *syscall_network.ACTIONS,
        *syscall_kernel.ACTIONS,
        *k8s_actions.ACTIONS,
    ]


def select(pattern: str | None = None, source: str | None = None) -> list[Action]:
    """Actions whose name or rule matches ``pattern`` (a regex, searched), of ``source``."""
    rx = re.compile(pattern) if pattern else None
    return [
        a
        for a in all_actions()
        if (source is None or a.source == source)
        and (rx is None or rx.search(a.name) or rx.search(a.rule))
    ]
