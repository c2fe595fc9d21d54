"""Container and Kubernetes metadata for syscall events.

A thread's container id comes from its cgroups (``state/containers.py``); this package
turns the id into runtime metadata (name, image, privileged, mounts, pod...) through
runtime clients, asynchronously and cached, and exposes it as ``container.*`` / ``k8s.*``
fields. The store is made by the application and handed to the pipeline that fills it and
to the fields that read it (``syscall_source(store)``); nothing here is process-global.
"""

from .info import ContainerInfo, Mount, split_image
from .store import MetadataStore

__all__ = ["ContainerInfo", "MetadataStore", "Mount", "split_image"]
