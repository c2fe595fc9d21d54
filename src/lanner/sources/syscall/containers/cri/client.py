"""Container and pod metadata from containerd or CRI-O through the CRI gRPC API.

``ContainerStatus`` (verbose) gives the container, its image, labels and mounts, and in
its ``info`` JSON the sandbox id and whether it is privileged; ``PodSandboxStatus``
(verbose) gives the pod's name, namespace, uid, labels, IP and CNI result.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc

from lanner.exceptions import LookupFailed

from ..info import ContainerInfo, Mount, k8s_probes, split_image
from ..sockets import CRI_SOCKETS as CRI_SOCKETS  # where the client looks by default
from . import runtime_v1_pb2 as pb

_SERVICE = "/runtime.v1.RuntimeService/"
_PROPAGATION = {0: "rprivate", 1: "rslave", 2: "rshared"}


def _info_json(info: Any) -> dict[str, Any]:
    raw = info.get("info") if info else None
    if not raw:
        return {}
    try:
        doc = json.loads(raw)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _privileged(doc: dict[str, Any]) -> bool | None:
    privileged = doc.get("privileged")
    if isinstance(privileged, bool):  # CRI-O
        return privileged
    ctx = (((doc.get("config") or {}).get("linux") or {}).get("security_context")) or {}
    value = ctx.get("privileged")  # containerd
    return value if isinstance(value, bool) else None


def info_from_cri(
    status: pb.ContainerStatusResponse, sandbox: pb.PodSandboxStatusResponse | None
) -> ContainerInfo:
    """A ContainerInfo from CRI answers (the sandbox answer may be missing)."""
    st = status.status
    doc = _info_json(status.info)
    image = st.image.user_specified_image or st.image.image
    if image.startswith("sha256:") or not image:
        image = st.image_ref
    repo, tag, digest = split_image(image) if image else (None, None, None)
    if digest is None and "@" in st.image_ref:
        digest = st.image_ref.split("@", 1)[1]
    labels = dict(st.labels)
    liveness, readiness = k8s_probes({**dict(st.annotations), **labels})
    info = ContainerInfo(
        id=st.id[:12],
        full_id=st.id or None,
        name=st.metadata.name or None,
        image=image or None,
        image_repository=repo,
        image_tag=tag,
        image_digest=digest,
        image_id=(st.image_id or st.image_ref).removeprefix("sha256:")[:12] or None,
        runtime="cri",
        labels=labels,
        privileged=_privileged(doc),
        mounts=[
            Mount(
                source=m.host_path,
                dest=m.container_path,
                rw=not m.readonly,
                propagation=_PROPAGATION.get(m.propagation, ""),
            )
            for m in st.mounts
        ],
        start_ts=st.started_at or None,
        liveness_probe=liveness,
        readiness_probe=readiness,
        pod_name=labels.get("io.kubernetes.pod.name"),
        pod_namespace=labels.get("io.kubernetes.pod.namespace"),
        pod_uid=labels.get("io.kubernetes.pod.uid"),
    )
    if sandbox is not None and sandbox.HasField("status"):
        sb = sandbox.status
        info.pod_name = sb.metadata.name or info.pod_name
        info.pod_namespace = sb.metadata.namespace or info.pod_namespace
        info.pod_uid = sb.metadata.uid or info.pod_uid
        info.pod_labels = dict(sb.labels)
        info.pod_ip = sb.network.ip or None
        info.ip = info.pod_ip  # containers of a pod share its network namespace
        cni = _info_json(sandbox.info).get("cniResult")
        info.pod_cni_json = json.dumps(cni, sort_keys=True) if cni else None
        info.cni_json = info.pod_cni_json
    return info


class CriResolver:
    """Looks containers up through a CRI socket; callable as a MetadataStore resolver."""

    def __init__(self, socket_path: str, timeout: float = 2.0) -> None:
        self.socket_path = socket_path
        self.name = f"cri {socket_path}"
        self.timeout = timeout
        self._connect()

    def _connect(self) -> None:
        self._channel = grpc.insecure_channel(f"unix://{self.socket_path}")
        self._container_status = self._channel.unary_unary(
            _SERVICE + "ContainerStatus",
            request_serializer=pb.ContainerStatusRequest.SerializeToString,
            response_deserializer=pb.ContainerStatusResponse.FromString,
        )
        self._sandbox_status = self._channel.unary_unary(
            _SERVICE + "PodSandboxStatus",
            request_serializer=pb.PodSandboxStatusRequest.SerializeToString,
            response_deserializer=pb.PodSandboxStatusResponse.FromString,
        )

    def reconnect(self) -> None:
        """A new channel (the runtime made its socket anew): the old one would wait out
        gRPC's reconnect back-off, up to two minutes, before it tries the socket again."""
        old = self._channel
        self._connect()
        old.close()

    @classmethod
    def available(cls, socket_path: str) -> bool:
        """True when the socket exists."""
        return Path(socket_path).is_socket()

    def __call__(self, container_id: str) -> ContainerInfo | None:
        try:
            status = self._container_status(
                pb.ContainerStatusRequest(container_id=container_id, verbose=True),
                timeout=self.timeout,
            )
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            if code == grpc.StatusCode.NOT_FOUND:
                return None
            details = exc.details() if hasattr(exc, "details") else str(exc)
            name = code.name if code is not None else "ERROR"
            raise LookupFailed(f"{name}: {details}") from None
        sandbox_id = _info_json(status.info).get("sandboxID")
        sandbox = None
        if sandbox_id:
            try:
                sandbox = self._sandbox_status(
                    pb.PodSandboxStatusRequest(pod_sandbox_id=sandbox_id, verbose=True),
                    timeout=self.timeout,
                )
            except grpc.RpcError:
                sandbox = None
        try:
            return info_from_cri(status, sandbox)
        except (AttributeError, TypeError, ValueError) as exc:
            raise LookupFailed(f"malformed ContainerStatus answer ({type(exc).__name__})") from None

    def close(self) -> None:
        """Close the gRPC channel."""
        self._channel.close()
