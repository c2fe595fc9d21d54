"""k8saudit-gke's fetch_cluster_metadata: the cluster's resource labels fetched with
Google's Container API client (``google-cloud-container``, GetCluster) from a DOUBLE of the
API (a gRPC server on loopback answering ``google.container.v1.ClusterManager/GetCluster``
with Google's own message types, tests/helpers/grpc_double.py; nothing of Google's can run
here), cached, and added to the rebuilt events' annotations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import container_v1
from google.cloud.container_v1.services.cluster_manager.transports import (
    ClusterManagerGrpcTransport,
)
from test_gke_live import NS, entry

from helpers.grpc_double import GrpcDouble
from lanner.app.gcp_input import gke_entry_events
from lanner.sources.k8s_audit.gke_metadata import ClusterLabels

LABELS = {"team": "payments", "env": "prod", "location": "spoofed"}


@pytest.fixture
def container_api() -> Iterator[GrpcDouble]:
    def reply(req: Any) -> Any:
        if req.name.endswith("/clusters/gone"):
            raise RuntimeError("no such cluster")  # answered as an UNKNOWN error
        return container_v1.Cluster(name=req.name.rsplit("/", 1)[1], resource_labels=LABELS)

    double = GrpcDouble("/google.container.v1.ClusterManager/GetCluster",
                        container_v1.GetClusterRequest, reply)  # fmt: skip
    try:
        yield double
    finally:
        double.stop()


def client(double: GrpcDouble) -> Any:
    """Google's client, its transport's channel pointed at the double."""
    channel = grpc.insecure_channel(f"127.0.0.1:{double.port}")
    transport = ClusterManagerGrpcTransport(channel=channel, credentials=AnonymousCredentials())
    return container_v1.ClusterManagerClient(transport=transport)


def message(n: int, cluster: str = "prod-eu") -> bytes:
    doc = entry(n, "io.k8s.core.v1.pods.get", f"{NS}/default/pods/p")
    doc["resource"]["labels"]["cluster_name"] = cluster
    return json.dumps(doc).encode()


def test_cluster_labels_become_annotations_fetched_once(container_api: GrpcDouble) -> None:
    labels = ClusterLabels(client(container_api), expiration_minutes=10)
    convert = gke_entry_events(262144, labels)
    first, second = convert(message(1), 1)[0], convert(message(2), 2)[0]
    for event in (first, second):
        notes = event.data["annotations"]
        assert notes["team"] == "payments" and notes["env"] == "prod"
        assert notes["location"] == "europe-west1"  # Google's own label is kept
        assert notes["cluster_name"] == "prod-eu"
    (request,) = container_api.requests  # the second entry read the cache
    assert request.name == "projects/test-project/locations/europe-west1/clusters/prod-eu"


def test_a_failed_fetch_is_logged_and_the_entry_goes_on(
    container_api: GrpcDouble, caplog: pytest.LogCaptureFixture
) -> None:
    labels = ClusterLabels(client(container_api))
    convert = gke_entry_events(262144, labels)
    event = convert(message(1, "gone"), 1)[0]
    assert "team" not in event.data["annotations"]
    assert event.data["annotations"]["cluster_name"] == "gone"
    convert(message(2, "gone"), 2)  # not asked again before a minute
    assert len(container_api.requests) == 1 and labels.failures == 1
    assert "k8saudit-gke: failed to fetch the metadata of projects/test-project/locations/" \
           "europe-west1/clusters/gone" in caplog.text  # fmt: skip
