"""Misbehaving container runtimes under a live ``lanner run``: sockets missing, a slow
runtime, a runtime that dies mid-run, one answering garbage, runtimes that start after
Lanner or restart under it. Detection goes on (the shell in the container still raises
the upstream alert with ``container.id``), fields fill in when the answer comes, and a
failure or a socket transition is logged once.

Real: kernel, probe, ``lanner run``, upstream rules. Doubles: the runtimes (see
``tests/sources/syscall/containers/runtime_doubles.py``).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # works with or without __init__.py

from test_container_metadata_live import (
    CRI_ID,
    DOCKER_ID,
    DockerDouble,
    Live,
    cri_double,
    docker_double,
    docker_inspect,
    fields_of,
    run_container,
    skip_reason,
    start_live,
    stop_live,
)

SHELL_RULE = "Terminal shell in container"
FAILED = "container metadata lookup failed"


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    return tmp_path


@pytest.fixture
def doubles(tmp: Path) -> Iterator[tuple]:
    docker, cri = docker_double(tmp), cri_double(tmp)
    yield docker, cri
    for d in (docker, cri):
        with contextlib.suppress(OSError):
            d.stop()


def _new_id() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex


def _shell_alert(live: Live, full_id: str) -> dict:
    """A shell in the container, without waiting for its metadata: the alert's fields."""
    started = run_container(live, full_id, "docker", None)
    assert started.returncode == 0, started.output
    alert = live.wait_alert(SHELL_RULE, started.marker)
    assert alert, live.log_text()[-3000:]
    fields = fields_of(alert)
    assert fields["container.id"] == full_id[:12]
    return fields


def _failures(live: Live) -> list[str]:
    return [line for line in live.log_text().splitlines() if FAILED in line]


def test_sockets_missing(tmp: Path, doubles: tuple) -> None:
    docker, cri = doubles
    docker.stop()
    cri.stop()
    live = start_live(tmp, docker, cri)
    try:
        log = live.log_text()
        assert f"docker: no socket at {docker.path} yet" in log
        assert f"cri: no socket at {cri.path} yet" in log
        assert "container runtimes: none found" in log
        fields = _shell_alert(live, DOCKER_ID)
        assert fields.get("container.name") in (None, "<NA>")
        assert _failures(live) == []  # a missing socket is a notice, not an error
    finally:
        stop_live(live)


def test_slow_runtime_fields_fill_in_when_the_answer_comes(tmp: Path, doubles: tuple) -> None:
    docker, cri = doubles
    docker.delay = 4.0
    live = start_live(tmp, docker, cri, ("container_engines.docker.timeout=30",))
    try:
        # the shell's events are not held up waiting for the answer
        _shell_alert(live, DOCKER_ID)
        # the answer comes: the container event carries the metadata
        announced = live.wait_alert("Privileged container started", DOCKER_ID[:12], timeout=60)
        assert announced and "web-7d4b9" in announced["output"], live.log_text()[-3000:]
        fields = _shell_alert(live, DOCKER_ID)
        assert fields["container.name"] == "web" and fields["k8s.pod.name"] == "web-7d4b9"
        assert _failures(live) == []
    finally:
        stop_live(live)


def test_runtime_dead_mid_run(tmp: Path, doubles: tuple) -> None:
    docker, cri = doubles
    live = start_live(tmp, docker, cri)
    try:
        started = run_container(
            live, DOCKER_ID, "docker", "Privileged container started", DOCKER_ID[:12]
        )
        assert started.returncode == 0
        docker.stop()  # Docker dies
        for _ in range(2):  # new containers: detected, without metadata
            fields = _shell_alert(live, _new_id())
            assert fields.get("container.name") in (None, "<NA>")
        fields = _shell_alert(live, DOCKER_ID)  # what was known stays known
        assert fields["container.name"] == "web"
        docker_failures = [f for f in _failures(live) if f"docker {docker.path}" in f]
        assert len(docker_failures) == 1, docker_failures
        assert "cannot reach the engine" in docker_failures[0]
    finally:
        stop_live(live)


def test_runtime_answering_garbage(tmp: Path, doubles: tuple) -> None:
    docker, cri = doubles
    docker.garbage = True
    live = start_live(tmp, docker, cri)
    try:
        for _ in range(2):
            fields = _shell_alert(live, DOCKER_ID)
        failures = _failures(live)
        assert len(failures) == 1 and "the answer is not JSON" in failures[0], failures
        docker.garbage = False  # the engine is fixed: the retry fills the fields in
        deadline = time.monotonic() + 60
        while fields.get("container.name") != "web" and time.monotonic() < deadline:
            time.sleep(0.5)
            fields = _shell_alert(live, DOCKER_ID)
        assert fields.get("container.name") == "web", live.log_text()[-3000:]
        assert "answers again" in live.log_text()
    finally:
        stop_live(live)


def _later(started: list, start, delay: float = 0.0, until=None) -> None:
    """Start a runtime double in the background, after ``delay`` seconds or once
    ``until()`` is true (at most 60 s), and append it to ``started``."""

    def run() -> None:
        deadline = time.monotonic() + 60
        time.sleep(delay)
        while until is not None and not until() and time.monotonic() < deadline:
            time.sleep(0.1)
        started.append(start())

    threading.Thread(target=run, daemon=True).start()


def _stop_all(live: Live, started: list) -> None:
    """Stop lanner, the doubles it started with, and those started later."""
    stop_live(live)
    for double in started:
        with contextlib.suppress(OSError):
            double.stop()


def _count(live: Live, text: str) -> int:
    return sum(text in line for line in live.log_text().splitlines())


def test_docker_socket_appearing_after_start_is_used(tmp: Path, doubles: tuple) -> None:
    docker, cri = doubles
    docker.stop()  # dockerd is not up when lanner starts
    live = start_live(tmp, docker, cri, ("container_engines.cri.enabled=false",))
    started: list = []
    try:
        assert f"docker: no socket at {docker.path} yet" in live.log_text()
        # dockerd comes up after the container was seen, and after the announcer's wait
        # (10 s): the container is announced bare, then again with its metadata
        _later(started, lambda: docker_double(tmp), delay=12)
        # the container stays idle (waits for the announcement) once it was seen
        ran = run_container(
            live, DOCKER_ID, "docker", "Privileged container started", DOCKER_ID[:12]
        )
        assert ran.returncode == 0
        alert = live.wait_alert(SHELL_RULE, ran.marker)
        assert alert, live.log_text()[-3000:]
        fields = fields_of(alert)
        assert fields["container.name"] == "web" and fields["k8s.pod.name"] == "web-7d4b9"
        assert _count(live, f"docker: socket {docker.path} appeared") == 1
        assert _failures(live) == []
    finally:
        _stop_all(live, started)


def test_cri_socket_appearing_after_start_is_used(tmp: Path, doubles: tuple) -> None:
    docker, cri = doubles
    cri.stop()  # containerd is not up when lanner starts
    live = start_live(tmp, docker, cri, ("container_engines.docker.enabled=false",))
    started: list = []
    try:
        assert f"cri: no socket at {cri.path} yet" in live.log_text()
        # containerd comes up within the announcer's wait: one announcement, with metadata
        _later(started, lambda: cri_double(tmp), delay=3)
        ran = run_container(
            live, CRI_ID, "cri", "Container with sensitive host mount started", "api-5f6d"
        )
        assert ran.returncode == 0
        alert = live.wait_alert(SHELL_RULE, ran.marker)
        assert alert, live.log_text()[-3000:]
        fields = fields_of(alert)
        assert fields["container.id"] == CRI_ID[:12]
        assert (fields["container.name"], fields["k8s.pod.name"]) == ("api", "api-5f6d")
        assert _count(live, f"cri: socket {cri.path} appeared") == 1
        assert _failures(live) == []
    finally:
        _stop_all(live, started)


def test_runtime_restart_mid_run_recovers(tmp: Path, doubles: tuple) -> None:
    docker, cri = doubles
    live = start_live(tmp, docker, cri)
    back: list = []
    try:
        started = run_container(
            live, DOCKER_ID, "docker", "Privileged container started", DOCKER_ID[:12]
        )
        assert started.returncode == 0
        docker.stop()  # dockerd restarts: its socket goes...
        new_id = _new_id()
        docs = {
            **docker.containers,
            new_id: docker_inspect(new_id, "batch", "registry.example.com/jobs:2", privileged=True),
        }
        gone = f"docker: socket {docker.path} disappeared"
        # ...and comes back once lanner noticed (a lookup of the new container failed)
        _later(back, lambda: DockerDouble(docker.path, docs), until=lambda: gone in live.log_text())
        ran = run_container(live, new_id, "docker", "Privileged container started", new_id[:12])
        assert ran.returncode == 0
        alert = live.wait_alert(SHELL_RULE, ran.marker)
        assert alert, live.log_text()[-3000:]
        assert fields_of(alert)["container.name"] == "batch"
        assert _count(live, gone) == 1
        is_back = f"docker: socket {docker.path} is back"
        deadline = time.monotonic() + 10  # the probe runs beside the lookups
        while not _count(live, is_back) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _count(live, is_back) == 1, live.log_text()[-3000:]
        assert len([f for f in _failures(live) if f"docker {docker.path}" in f]) == 1
    finally:
        _stop_all(live, back)
