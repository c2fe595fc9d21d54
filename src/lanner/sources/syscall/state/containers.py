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
    cache = _PATH_IDS
    for _subsys, path in cgroups:
        cid = cache.get(path)
        if cid is None:
            cid = _path_id(path)
            if len(cache) >= _MAX_CACHED:
                cache.clear()
            cache[path] = cid
        if cid:
            return cid
    return HOST


def _path_id(path: str) -> str:
    """The container id in one cgroup path, "" when none."""
    for pat in _PATTERNS:
        m = pat.search(path)
        if m:
            return m.group(1)[:12]
    return ""


# cgroup path -> its container id ("" for none): every clone and execve parses the same few
_PATH_IDS: dict[str, str] = {}
_MAX_CACHED = 4096
