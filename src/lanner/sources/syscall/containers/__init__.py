"""Container and Kubernetes metadata for syscall events.

A thread's container id comes from its cgroups (``state/containers.py``); this package
turns the id into runtime metadata (name, image, privileged, mounts, pod...) through
runtime clients, asynchronously and cached, and exposes it as ``container.*`` / ``k8s.*``
fields.
"""

from .info import ContainerInfo, Mount, split_image
from .store import MetadataStore, default_store

__all__ = ["ContainerInfo", "MetadataStore", "Mount", "default_store", "split_image"]
