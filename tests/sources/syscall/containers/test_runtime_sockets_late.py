"""Runtime sockets that appear after start, go away (runtime restart) and come back.

A node often starts Lanner before dockerd/containerd/CRI-O. The configured sockets (or
the defaults) that are missing at start are re-probed with a ``stat()`` at most every
``probe_interval`` seconds while some container is unresolved; once a socket appears its
resolver is created and the containers seen meanwhile get their metadata, and Falco's
``container`` event. A socket that goes away fails lookups into the retry back-off and
recovers when it is back. Each transition is logged once.

The runtimes are the doubles of ``runtime_doubles.py`` (Docker Engine API, CRI runtime.v1
on unix sockets), started on the configured path after ``configure_runtimes``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from runtime_doubles import CriDouble, DockerDouble, cri_sandbox, cri_status, docker_inspect

from lanner.sources.syscall.containers import runtimes
from lanner.sources.syscall.containers.announce import ContainerAnnouncer
from lanner.sources.syscall.containers.fields import metadata_fields
from lanner.sources.syscall.containers.runtimes import configure_runtimes
from lanner.sources.syscall.containers.store import MetadataStore

A = "a" * 12 + "0123456789abcdef" * 3 + "0123"
B = "b" * 12 + "0123456789abcdef" * 3 + "0123"
SB = "5" * 64
RUNTIMES_LOG = "lanner.sources.syscall.containers.runtimes"


def _docker(path: str) -> DockerDouble:
    return DockerDouble(
        path,
        {
            cid: docker_inspect(cid, f"n-{cid[0]}", f"img/{cid[0]}:1", privileged=True)
            for cid in (A, B)
        },
    )


def _cri(path: str) -> CriDouble:
    return CriDouble(
        path,
        {cid: cri_status(cid, f"c-{cid[0]}", "nginx:1", SB) for cid in (A, B)},
        {SB: cri_sandbox(SB, "pod", "ns", "uid", "10.0.0.9")},
    )


RUNTIMES: dict[str, tuple[Callable[[str], Any], str, str]] = {
    # engine -> (start a double on a path, socket file name, container name it gives A)
    "docker": (_docker, "docker.sock", "n-a"),
    "cri": (_cri, "containerd.sock", "c-a"),
}


def _config(engine: str, path: str) -> dict[str, Any]:
    other = "cri" if engine == "docker" else "docker"
    return {engine: {"sockets": [path]}, other: {"enabled": False}, "podman": {"enabled": False}}


@pytest.fixture
def store() -> Iterator[MetadataStore]:
    s = MetadataStore()
    s.probe_interval = 0.1  # a stat() every 0.1 s at most, so the tests need not sleep long
    yield s
    s.close()


@pytest.fixture
def doubles() -> Iterator[list]:
    started: list = []
    yield started
    for d in started:
        d.stop()


def _name_field(store: MetadataStore):
    return next(f for f in metadata_fields(store) if f.name == "container.name")


def _event(cid: str, ts: int = 0, tid: int = 7) -> SimpleNamespace:
    return SimpleNamespace(thread=SimpleNamespace(container_id=cid[:12], tid=tid), ts=ts)


def _until(fn: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.02)
    return None


def _lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == RUNTIMES_LOG and text in r.getMessage()
    ]


@pytest.mark.parametrize("engine", ["docker", "cri"])
def test_socket_that_appears_after_start_is_used(
    engine: str,
    tmp_path: Path,
    store: MetadataStore,
    doubles: list,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    start, sock, name = RUNTIMES[engine]
    path = str(tmp_path / sock)
    assert configure_runtimes(store, _config(engine, path)) == []
    assert len(_lines(caplog, f"no socket at {path}")) == 1
    field = _name_field(store)
    for _ in range(5):  # events of the container while the runtime is not up yet
        assert field.extract(_event(A), None) is None
        time.sleep(0.05)
    doubles.append(start(path))  # the runtime starts, on the configured path
    assert _until(lambda: field.extract(_event(A), None)) == name  # no restart of Lanner
    appeared = _lines(caplog, " appeared;")
    assert len(appeared) == 1 and path in appeared[0], appeared
    assert store.failures == 0  # a socket not there yet is no failure


@pytest.mark.parametrize("engine", ["docker", "cri"])
def test_pending_container_is_announced_with_metadata_once_the_socket_appears(
    engine: str, tmp_path: Path, store: MetadataStore, doubles: list
) -> None:
    start, sock, name = RUNTIMES[engine]
    path = str(tmp_path / sock)
    configure_runtimes(store, _config(engine, path))
    ann = ContainerAnnouncer(store, wait=3600)
    ts = 1_000_000_000
    assert ann.check(_event(A, ts)) == []  # seen; not announced while its runtime may come
    doubles.append(start(path))
    due: list = []
    deadline = time.monotonic() + 20
    while not due and time.monotonic() < deadline:
        ts += 500_000_000
        due = ann.check(_event("host", ts))  # any event: the container itself is idle
        time.sleep(0.02)
    assert len(due) == 1 and due[0].thread.container_id == A[:12]
    info = store.get(A[:12])
    assert info is not None and info.name == name  # the container event has the metadata


def test_container_announced_bare_is_announced_again_when_metadata_arrives(
    tmp_path: Path, store: MetadataStore, doubles: list
) -> None:
    path = str(tmp_path / "docker.sock")
    configure_runtimes(store, _config("docker", path))
    ann = ContainerAnnouncer(store, wait=0)  # the wait is over at once: announced bare
    ts = 1_000_000_000
    first = ann.check(_event(A, ts))
    assert len(first) == 1 and store.get(A[:12]) is None
    doubles.append(_docker(path))
    due: list = []
    deadline = time.monotonic() + 20
    while not due and time.monotonic() < deadline:
        ts += 500_000_000
        due = ann.check(_event("host", ts))
        time.sleep(0.02)
    assert len(due) == 1 and due[0].thread.container_id == A[:12]
    assert store.get(A[:12]).privileged is True  # "Privileged container started" can match
    for _ in range(3):  # once only
        ts += 500_000_000
        assert ann.check(_event(A, ts)) == []


@pytest.mark.parametrize("engine", ["docker", "cri"])
def test_runtime_restart_mid_run_recovers_and_logs_each_transition_once(
    engine: str,
    tmp_path: Path,
    store: MetadataStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    start, sock, name = RUNTIMES[engine]
    path = str(tmp_path / sock)
    double = start(path)
    try:
        assert configure_runtimes(store, _config(engine, path)) == [path]
        field = _name_field(store)
        assert store.wait(A[:12], 10) is not None
        double.stop()  # the runtime restarts: its socket goes away...
        for _ in range(20):  # a new container meanwhile: no metadata, nothing raised
            assert field.extract(_event(B), None) is None
            time.sleep(0.02)
        assert _until(lambda: _lines(caplog, "disappeared"), timeout=5)
        assert field.extract(_event(A), None) == name  # known metadata stays
        double = start(path)  # ...and comes back
        # back within a few probe intervals, not after the gRPC reconnect or retry back-off
        assert _until(lambda: field.extract(_event(B), None), timeout=8) == name.replace("-a", "-b")
        for _ in range(20):
            field.extract(_event(B), None)
        assert len(_lines(caplog, "disappeared")) == 1
        back = _lines(caplog, "is back")
        assert len(back) == 1 and path in back[0], back
        assert not _lines(caplog, " appeared;")  # it was there at start: not "appeared"
    finally:
        double.stop()


def test_probing_is_rate_limited_and_stops_once_every_socket_is_used(
    tmp_path: Path, store: MetadataStore, doubles: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = runtimes.socket_identity

    def counting(path: str):
        calls.append(path)
        return real(path)

    monkeypatch.setattr(runtimes, "socket_identity", counting)
    path = str(tmp_path / "docker.sock")
    store.probe_interval = 3600.0
    configure_runtimes(store, _config("docker", path))
    calls.clear()
    field = _name_field(store)
    for _ in range(2000):  # many events of an unresolved container
        field.extract(_event(A), None)
    time.sleep(0.2)
    assert len(calls) <= 1, len(calls)  # at most one stat() per interval, not per event
    store.probe_interval = 0.05
    store._next_probe = 0.0
    doubles.append(_docker(path))
    assert _until(lambda: field.extract(_event(A), None)) == "n-a"
    calls.clear()
    for _ in range(200):  # resolved, no socket missing, no runtime failing: no probing
        field.extract(_event(A), None)
        field.extract(_event(B), None)
        time.sleep(0.001)
    time.sleep(0.1)
    assert calls == []


def test_no_runtime_configured_is_not_watched(store: MetadataStore) -> None:
    cfg = {"docker": {"enabled": False}, "cri": {"enabled": False}, "podman": {"enabled": False}}
    assert configure_runtimes(store, cfg) == []
    assert store.get(A[:12]) is None
    assert store.settled(A[:12])  # announced at once: nothing could ever answer


def test_lookup_answering_again_before_a_probe_still_logs_the_return(
    tmp_path: Path, store: MetadataStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    path = str(tmp_path / "docker.sock")
    double = _docker(path)
    try:
        configure_runtimes(store, _config("docker", path))
        store.probe_interval = 3600.0  # after the first, only a recovery starts a probe
        field = _name_field(store)
        double.stop()
        assert field.extract(_event(B), None) is None  # fails; the next probe sees it gone

        def gone() -> list[str]:
            field.extract(_event(B), None)  # events of the container drive the probe
            return _lines(caplog, "disappeared")

        assert _until(gone, timeout=5)
        double = _docker(path)
        # the retry (back-off: 1 s) answers before any timed probe: the recovery probes
        assert _until(lambda: field.extract(_event(B), None), timeout=10) == "n-b"
        assert _until(lambda: _lines(caplog, "is back"), timeout=5)
    finally:
        double.stop()
