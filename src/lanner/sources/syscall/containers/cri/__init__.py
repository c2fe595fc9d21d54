"""The Kubernetes CRI (runtime.v1) over gRPC, as a container metadata resolver."""

from .client import CRI_SOCKETS, CriResolver, info_from_cri

__all__ = ["CRI_SOCKETS", "CriResolver", "info_from_cri"]
