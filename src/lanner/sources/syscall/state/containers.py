"""Container ids from cgroup paths (docker, containerd/CRI, cri-o, podman), or ``host``."""

from __future__ import annotations

import re

HOST = "host"

# 64-hex container ids as the runtimes put them in cgroup paths, e.g.
#   /docker/<id>, /system.slice/docker-<id>.scope, /kubepods/.../<id>,
#   cri-containerd-<id>.scope, crio-<id>.scope, libpod-<id>.scope
_PATTERNS = (
    re.compile(r"/docker[/-]([0-9a-f]{64})(?:\.scope)?(?:/|$)"),
    re.compile(r"cri-containerd[-:]([0-9a-f]{64})(?:\.scope)?(?:/|$)"),
    re.compile(r"crio-(?:conmon-)?([0-9a-f]{64})(?:\.scope)?(?:/|$)"),
    re.compile(r"libpod-(?:conmon-)?([0-9a-f]{64})(?:\.scope)?(?:/|$)"),
    re.compile(r"/kubepods[^ ]*/(?:pod[^/]+/)?([0-9a-f]{64})(?:/|$)"),
    re.compile(r"/ecs/[0-9a-f-]+/([0-9a-f]{64})(?:/|$)"),
)


def container_id(cgroups: list[tuple[str, str]]) -> str:
    """The 12-character container id found in cgroup paths, else ``host``."""
    for _subsys, path in cgroups:
        for pat in _PATTERNS:
            m = pat.search(path)
            if m:
                return m.group(1)[:12]
    return HOST
