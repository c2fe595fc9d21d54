"""Fixtures for the respond tests: a fake Kubernetes API server and alert builders."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from respond_fake_k8s import FakeKube, free_port
from respond_helpers import wait_port

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
def nats_url() -> Iterator[str]:
    """A real nats-server (Debian package) on a free loopback port."""
    if shutil.which("nats-server") is None:
        pytest.skip("nats-server not installed")
    port = free_port()
    proc = subprocess.Popen(
        ["nats-server", "-a", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, proc)
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
