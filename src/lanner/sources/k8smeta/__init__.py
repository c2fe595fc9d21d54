"""Kubernetes metadata for syscall events (what Falco's k8smeta plugin provides): a cache
of the node's pods and the objects around them, kept in sync by a watch of the API
server. The ``k8s.*`` / ``k8smeta.*`` fields (``sources/syscall/containers/fields.py``)
read it."""

from __future__ import annotations

from .cache import K8sMetaCache, Obj, PodView, pod_uid_from_cgroups
from .watch import K8sMetaConfig, K8sMetaWatcher

__all__ = [
    "K8sMetaCache",
    "K8sMetaConfig",
    "K8sMetaWatcher",
    "Obj",
    "PodView",
    "pod_uid_from_cgroups",
]
