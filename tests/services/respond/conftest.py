"""Fixtures for the respond tests: a fake Kubernetes API server and alert builders."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from respond_fake_k8s import FakeKube
from respond_nats import nats_server

from lanner.services.respond.actions.kube import KubeClients, KubeConfig


@pytest.fixture
def fake_kube(tmp_path: Path) -> Iterator[FakeKube]:
    """A running fake API server with one node."""
    kube = FakeKube()
    kube.start()
    kube.add_node("node-1")
    yield kube
    kube.stop()


@pytest.fixture
def kubeconfig(fake_kube: FakeKube, tmp_path: Path) -> Path:
    """A kubeconfig file for the fake server."""
    return fake_kube.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def kube_clients(kubeconfig: Path) -> KubeClients:
    """The official client configured from that kubeconfig."""
    return KubeClients(KubeConfig(kubeconfig=str(kubeconfig)))


@pytest.fixture
def nats_url(tmp_path: Path) -> Iterator[str]:
    """A real nats-server on a free loopback port, without auth (for NatsInput alone)."""
    with nats_server(tmp_path) as url:
        yield url


@pytest.fixture
def nats_user_url(tmp_path: Path) -> Iterator[str]:
    """A real nats-server that requires NATS_USER / NATS_PASSWORD."""
    with nats_server(tmp_path, auth="user") as url:
        yield url
