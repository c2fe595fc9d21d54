"""Runtimes that misbehave: missing socket, slow, dead mid-run, answering garbage.

Detection goes on (a lookup never raises into the event path and never waits longer
than the deadline), fields fill in when the answer comes, and each failure reason is
logged once (per outage) with the reason. The runtimes are the test doubles of
``runtime_doubles.py``: the Docker Engine API and CRI runtime.v1 on unix sockets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from runtime_doubles import CriDouble, DockerDouble, cri_sandbox, cri_status, docker_inspect

from lanner.sources.syscall.containers.cri import CriResolver
from lanner.sources.syscall.containers.docker import DockerResolver
from lanner.sources.syscall.containers.fields import metadata_fields
from lanner.sources.syscall.containers.runtimes import configure_runtimes
from lanner.sources.syscall.containers.store import MetadataStore

A = "a" * 12 + "0123456789abcdef" * 3 + "0123"
B = "b" * 12 + "0123456789abcdef" * 3 + "0123"
C = "c" * 12 + "0123456789abcdef" * 3 + "0123"
SB = "5" * 64
LOGGER = "lanner.sources.syscall.containers.store"


def _docs() -> dict[str, dict]:
    return {cid: docker_inspect(cid, f"n-{cid[0]}", f"img/{cid[0]}:1") for cid in (A, B, C)}


@pytest.fixture
def docker(tmp_path: Path) -> Iterator[DockerDouble]:
    d = DockerDouble(str(tmp_path / "docker.sock"), _docs())
    yield d
    d.stop()


def _store(*resolvers, deadline: float = 0.0) -> MetadataStore:
    store = MetadataStore(deadline=deadline)
    store.MAX_BACKOFF = 0.0  # retry on the next event, so the tests need not sleep
    for r in resolvers:
        store.add_resolver(r)
    return store


def _name_field(store: MetadataStore):
    return next(f for f in metadata_fields(store) if f.name == "container.name")


def _event(cid: str) -> SimpleNamespace:
    return SimpleNamespace(thread=SimpleNamespace(container_id=cid[:12]), ts=0)


def _until(fn, timeout: float = 20.0):
    """Call ``fn`` (an event being evaluated) until it gives a value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value is not None:
            return value
        time.sleep(0.02)
    return None


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def test_missing_socket_is_a_notice_and_detection_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    store = MetadataStore()
    used = configure_runtimes(
        store,
        {
            "docker": {"sockets": [str(tmp_path / "docker.sock")]},
            "cri": {"sockets": str(tmp_path / "containerd.sock")},
            "podman": {"enabled": False},
        },
    )
    assert used == []
    notices = [r for r in caplog.records if "no socket at" in r.getMessage()]
    assert len(notices) == 2 and all(r.levelno == logging.INFO for r in notices)
    field = _name_field(store)
    assert field.extract(_event(A), None) is None  # unknown, no error
    assert field.extract(_event("host"), None) == "host"
    store.close()


def test_slow_runtime_fields_fill_in_when_the_answer_comes(docker: DockerDouble) -> None:
    docker.delay = 1.0  # answers well after the event's deadline
    resolver = DockerResolver(docker.path, timeout=30)
    store = _store(resolver, deadline=0.05)
    field = _name_field(store)
    assert field.extract(_event(A), None) is None  # the event is not held for the answer
    assert _until(lambda: field.extract(_event(A), None)) == "n-a"
    assert store.failures == 0
    resolver.close()
    store.close()


def test_runtime_answering_after_its_timeout_is_retried(
    docker: DockerDouble, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    docker.delay = 1.5
    resolver = DockerResolver(docker.path, timeout=0.3)
    store = _store(resolver)
    field = _name_field(store)
    assert store.wait(A[:12], 10) is None and store.failures == 1
    assert any("no answer within 0.3s" in m for m in _warnings(caplog))
    docker.delay = 0.0
    assert _until(lambda: field.extract(_event(A), None)) == "n-a"
    assert any("answers again" in m for m in _warnings(caplog))
    resolver.close()
    store.close()


def test_runtime_dead_mid_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = str(tmp_path / "docker.sock")
    docker = DockerDouble(path, _docs())
    resolver = DockerResolver(path)
    store = _store(resolver)
    field = _name_field(store)
    assert store.wait(A[:12], 10) is not None
    docker.stop()  # the engine dies
    for cid in (B, C, B, C):
        assert field.extract(_event(cid), None) is None
        store.wait(cid[:12], 10)
    assert field.extract(_event(A), None) == "n-a"  # known metadata stays
    failed = [m for m in _warnings(caplog) if "lookup failed" in m]
    assert len(failed) == 1, failed  # one outage, one line, whatever the containers
    assert f"docker {path}: cannot reach the engine" in failed[0]
    assert store.failures >= 2
    docker = DockerDouble(path, _docs())  # the engine is back: fields fill in
    assert _until(lambda: field.extract(_event(B), None)) == "n-b"
    assert _until(lambda: field.extract(_event(C), None)) == "n-c"
    docker.stop()
    resolver.close()
    store.close()


def test_runtime_answering_garbage(docker: DockerDouble, caplog: pytest.LogCaptureFixture) -> None:
    docker.garbage = True
    resolver = DockerResolver(docker.path)
    store = _store(resolver)
    field = _name_field(store)
    for cid in (A, B):
        assert field.extract(_event(cid), None) is None
        store.wait(cid[:12], 10)
    failed = [m for m in _warnings(caplog) if "lookup failed" in m]
    assert len(failed) == 1 and "the answer is not JSON" in failed[0], failed
    docker.garbage = False
    assert _until(lambda: field.extract(_event(A), None)) == "n-a"
    resolver.close()
    store.close()


def test_runtime_server_errors_are_logged_once_without_ids(
    docker: DockerDouble, caplog: pytest.LogCaptureFixture
) -> None:
    docker.fail = True
    resolver = DockerResolver(docker.path)
    store = _store(resolver)
    for cid in (A, B, C):
        store.wait(cid[:12], 10)
    failed = [m for m in _warnings(caplog) if "lookup failed" in m]
    assert len(failed) == 1 and "HTTP 500: engine is restarting" in failed[0], failed
    assert A[:12] not in failed[0]
    resolver.close()
    store.close()


def test_wrong_json_shape_is_a_failure_not_a_crash(
    docker: DockerDouble, caplog: pytest.LogCaptureFixture
) -> None:
    docker.containers[A] = {"Id": A, "Config": "not a mapping", "Mounts": 7}
    resolver = DockerResolver(docker.path)
    store = _store(resolver)
    assert store.wait(A[:12], 10) is None
    assert any("malformed inspect document" in m for m in _warnings(caplog))
    resolver.close()
    store.close()


def test_cri_runtime_dead_then_back(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = str(tmp_path / "containerd.sock")

    def start() -> CriDouble:
        return CriDouble(
            path,
            {cid: cri_status(cid, f"c-{cid[0]}", "nginx:1", SB) for cid in (A, B, C)},
            {SB: cri_sandbox(SB, "pod", "ns", "uid", "10.0.0.9")},
        )

    cri = start()
    resolver = CriResolver(path, timeout=2.0)
    store = _store(resolver)
    assert store.wait(A[:12], 10) is not None
    cri.stop()
    for cid in (B, C):
        store.wait(cid[:12], 10)
    failed = [m for m in _warnings(caplog) if "lookup failed" in m]
    assert len(failed) == 1 and "UNAVAILABLE" in failed[0], failed
    cri = start()
    field = _name_field(store)
    assert _until(lambda: field.extract(_event(B), None), timeout=40) == "c-b"
    cri.stop()
    resolver.close()
    store.close()


def test_cri_internal_error_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cri = CriDouble(str(tmp_path / "crio.sock"))
    cri.fail = True
    resolver = CriResolver(cri.path)
    store = _store(resolver)
    for cid in (A, B):
        store.wait(cid[:12], 10)
    failed = [m for m in _warnings(caplog) if "lookup failed" in m]
    assert len(failed) == 1 and "INTERNAL: runtime is restarting" in failed[0], failed
    cri.stop()
    resolver.close()
    store.close()


def test_lookup_deadline_is_configurable(docker: DockerDouble) -> None:
    store = MetadataStore()
    configure_runtimes(
        store,
        {
            "lookup_deadline_ms": 5000,
            "docker": {"sockets": [docker.path]},
            "cri": {"enabled": False},
            "podman": {"enabled": False},
        },
    )
    assert store.deadline == 5.0
    assert store.get(A[:12]) is not None  # waited for the (fast) answer
    store.close()


def test_podman_through_its_docker_compatible_socket(tmp_path: Path) -> None:
    podman = DockerDouble(str(tmp_path / "podman.sock"), _docs())
    store = MetadataStore()
    used = configure_runtimes(
        store,
        {
            "docker": {"enabled": False},
            "cri": {"enabled": False},
            "podman": {"sockets": [podman.path]},
        },
    )
    assert used == [podman.path]
    info = store.wait(A[:12], 10)
    assert info is not None and info.name == "n-a" and info.runtime == "podman"
    type_field = next(f for f in metadata_fields(store) if f.name == "container.type")
    assert type_field.extract(_event(A), None) == "podman"
    podman.stop()
    store.close()
