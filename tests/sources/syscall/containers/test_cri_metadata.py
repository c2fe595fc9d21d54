"""Container and pod metadata through the CRI runtime.v1 gRPC API.

No containerd or CRI-O runs on this machine, so the test serves RuntimeService's
ContainerStatus and PodSandboxStatus from a gRPC server on a unix socket, built on the
same runtime.v1 messages (a test double of the runtime, speaking the real protocol).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from lanner.sources.syscall.containers.cri import CriResolver
from lanner.sources.syscall.containers.cri import runtime_v1_pb2 as pb
from lanner.sources.syscall.containers.store import MetadataStore

CID = "9f2c1e0d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e"
SANDBOX = "5a4b3c2d1e0f5a4b3c2d1e0f5a4b3c2d1e0f5a4b3c2d1e0f5a4b3c2d1e0f5a4b"


def _container_status(request: pb.ContainerStatusRequest, context: grpc.ServicerContext):
    if not CID.startswith(request.container_id):
        context.abort(grpc.StatusCode.NOT_FOUND, f"container {request.container_id} not found")
    status = pb.ContainerStatus(
        id=CID,
        metadata=pb.ContainerMetadata(name="app"),
        state=pb.CONTAINER_RUNNING,
        started_at=1764061200000000000,
        image=pb.ImageSpec(image="docker.io/library/nginx:1.25"),
        image_ref="docker.io/library/nginx@sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31",
        labels={
            "io.kubernetes.pod.name": "web-7d4b9",
            "io.kubernetes.pod.namespace": "shop",
            "io.kubernetes.container.name": "app",
        },
        mounts=[
            pb.Mount(container_path="/host/proc", host_path="/proc", readonly=True),
            pb.Mount(
                container_path="/data",
                host_path="/srv/data",
                propagation=pb.PROPAGATION_HOST_TO_CONTAINER,
            ),
        ],
    )
    info = {
        "sandboxID": SANDBOX,
        "pid": 4242,
        "config": {"linux": {"security_context": {"privileged": True}}},
    }
    return pb.ContainerStatusResponse(status=status, info={"info": json.dumps(info)})


def _sandbox_status(request: pb.PodSandboxStatusRequest, context: grpc.ServicerContext):
    if request.pod_sandbox_id != SANDBOX:
        context.abort(grpc.StatusCode.NOT_FOUND, "sandbox not found")
    status = pb.PodSandboxStatus(
        id=SANDBOX,
        metadata=pb.PodSandboxMetadata(name="web-7d4b9", uid="1b2c-3d4e", namespace="shop"),
        network=pb.PodSandboxNetworkStatus(ip="10.244.1.17"),
        labels={"app": "web", "pod-template-hash": "7d4b9"},
    )
    cni = {"cniResult": {"Interfaces": {"eth0": {"IPConfigs": [{"IP": "10.244.1.17"}]}}}}
    return pb.PodSandboxStatusResponse(status=status, info={"info": json.dumps(cni)})


@pytest.fixture
def cri_socket(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "containerd.sock")
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    handlers = {
        "ContainerStatus": grpc.unary_unary_rpc_method_handler(
            _container_status,
            request_deserializer=pb.ContainerStatusRequest.FromString,
            response_serializer=pb.ContainerStatusResponse.SerializeToString,
        ),
        "PodSandboxStatus": grpc.unary_unary_rpc_method_handler(
            _sandbox_status,
            request_deserializer=pb.PodSandboxStatusRequest.FromString,
            response_serializer=pb.PodSandboxStatusResponse.SerializeToString,
        ),
    }
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("runtime.v1.RuntimeService", handlers)]
    )
    server.add_insecure_port(f"unix://{path}")
    server.start()
    yield path
    server.stop(grace=None)


def test_container_and_pod_metadata(cri_socket: str) -> None:
    resolver = CriResolver(cri_socket)
    info = resolver(CID[:12])
    resolver.close()
    assert info is not None
    assert info.id == CID[:12] and info.name == "app"
    assert info.image_repository == "docker.io/library/nginx" and info.image_tag == "1.25"
    assert info.image_digest and info.image_digest.startswith("sha256:0d17")
    assert info.privileged is True
    assert [(m.source, m.dest, m.rw) for m in info.mounts] == [
        ("/proc", "/host/proc", False),
        ("/srv/data", "/data", True),
    ]
    assert info.mounts[1].propagation == "rslave"
    assert (info.pod_name, info.pod_namespace, info.pod_uid) == ("web-7d4b9", "shop", "1b2c-3d4e")
    assert info.pod_labels == {"app": "web", "pod-template-hash": "7d4b9"}
    assert info.pod_ip == "10.244.1.17"
    assert info.pod_cni_json is not None and "10.244.1.17" in info.pod_cni_json


def test_unknown_container_is_none(cri_socket: str) -> None:
    resolver = CriResolver(cri_socket)
    assert resolver("000000000000") is None
    resolver.close()


def test_dead_runtime_counts_a_failure(tmp_path: Path) -> None:
    store = MetadataStore(deadline=10.0)
    store.add_resolver(CriResolver(str(tmp_path / "gone.sock"), timeout=0.5))
    assert store.get("abcdefabcdef") is None
    assert store.failures == 1
    store.close()
