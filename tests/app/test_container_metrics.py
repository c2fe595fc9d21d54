"""Container runtime metrics on /metrics of a live ``lanner run`` (eBPF probe): the
runtime doubles (``tests/sources/syscall/containers/runtime_doubles.py``) start, stop
and fail, and the scraped ``lanner_container_runtime_up`` follows; a process placed in
a Docker cgroup is looked up and counted."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lanner.app.metrics import ContainerRuntimes, Stats
from lanner.app.prometheus import registry_for
from lanner.sources.syscall.containers.runtimes import configure_runtimes, socket_watch
from lanner.sources.syscall.containers.store import MetadataStore

from .helpers import (
    ROOT,
    capturing_lanner,
    free_port,
    needs_probe,
    wait_until,
    webserver_config,
)

sys.path.insert(0, str(ROOT / "tests" / "sources" / "syscall" / "containers"))

from runtime_doubles import CriDouble, DockerDouble, docker_inspect

UP = "lanner_container_runtime_up"
LOOKUPS = "lanner_container_metadata_lookups_total"
CACHED = "lanner_container_metadata_cached"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _up(samples: dict, runtime: str, socket: str) -> float | None:
    return samples.get((UP, (("runtime", runtime), ("socket", socket))))


def _scrape_registry(stats: Stats) -> dict:
    from prometheus_client import generate_latest

    return _samples(generate_latest(registry_for(stats)).decode())


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short directory for unix sockets (sun_path is 108 bytes)."""
    with tempfile.TemporaryDirectory(prefix="lcm", dir="/tmp") as d:
        yield Path(d)


def test_families_are_described_without_container_engines() -> None:
    """Outside live syscall runs the families are listed (HELP/TYPE) without samples."""
    from prometheus_client import generate_latest

    text = generate_latest(registry_for(Stats())).decode()
    for name in (UP, LOOKUPS, CACHED):
        assert f"# TYPE {name} " in text, name
    assert not [k for k in _samples(text) if k[0].startswith("lanner_container_")]


def test_runtime_up_follows_the_socket_and_the_last_lookup(short_tmp: Path) -> None:
    """In process: the collector over a real store and socket watch, the Docker double."""
    docker_path, cri_path = str(short_tmp / "docker.sock"), str(short_tmp / "cri.sock")
    cid = uuid.uuid4().hex * 2
    store = MetadataStore()
    try:
        configure_runtimes(
            store,
            {
                "docker": {"sockets": [docker_path]},
                "cri": {"sockets": [cri_path]},
                "podman": {"enabled": False},
            },
        )
        stats = Stats()
        stats.containers = ContainerRuntimes(store, socket_watch(store))
        s = _scrape_registry(stats)
        assert _up(s, "docker", docker_path) == 0 and _up(s, "cri", cri_path) == 0
        docker = DockerDouble(docker_path, {cid: docker_inspect(cid, "web", "nginx:1.27")})
        try:
            assert _up(_scrape_registry(stats), "docker", docker_path) == 0  # not seen yet
            socket_watch(store).probe()  # type: ignore[union-attr]
            assert _up(_scrape_registry(stats), "docker", docker_path) == 1
            assert store.wait(cid[:12], 10) is not None  # the store keys short ids
            s = _scrape_registry(stats)
            assert s[(LOOKUPS, (("outcome", "ok"),))] == 1
            assert s[(CACHED, ())] == 1
            docker.fail = True  # answers, with 500: the socket is there, the runtime is not
            assert store.wait(uuid.uuid4().hex[:12], 10) is None
            s = _scrape_registry(stats)
            assert _up(s, "docker", docker_path) == 0
            assert s[(LOOKUPS, (("outcome", "failed"),))] == 1
            docker.fail = False
            assert store.wait(uuid.uuid4().hex[:12], 10) is None  # answered: unknown id
            assert _up(_scrape_registry(stats), "docker", docker_path) == 1
        finally:
            docker.stop()
        assert _up(_scrape_registry(stats), "docker", docker_path) == 0  # socket gone
    finally:
        store.close()


def _docker_cgroup(full_id: str) -> Path:
    v1 = Path("/sys/fs/cgroup/cpu")
    root = v1 if (v1 / "cgroup.procs").exists() else Path("/sys/fs/cgroup")
    if not (root / "cgroup.procs").exists():
        pytest.skip("no writable cgroup hierarchy (/sys/fs/cgroup/cpu or cgroup v2)")
    return root / "docker" / full_id


def _run_in_cgroup(cgroup: Path) -> None:
    """A process that joins the container's cgroup, then forks and execs programs."""
    cgroup.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["sh", "-c", f"echo 0 > {cgroup}/cgroup.procs && /bin/true && /bin/true"],
        check=True,
        timeout=30,
    )


@needs_probe()
def test_scraped_runtime_gauge_follows_the_doubles(tmp_path: Path, short_tmp: Path) -> None:
    """``lanner run`` capturing this host: Docker up at start, CRI absent (0) then started
    (1, once a container lookup has the watch probe the sockets); a process in a Docker
    cgroup is looked up (ok counter, cache gauge); Docker stops (0) and comes back (1)."""
    docker_path, cri_path = str(short_tmp / "docker.sock"), str(short_tmp / "cri.sock")
    cid = uuid.uuid4().hex * 2
    docker = DockerDouble(docker_path, {cid: docker_inspect(cid, "web", "nginx:1.27")})
    cri: CriDouble | None = None
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "- rule: Container seen\n  desc: a container event\n  priority: NOTICE\n"
        "  condition: evt.type = container\n"
        '  output: "container %container.id %container.name"\n'
    )
    port = free_port()
    config = webserver_config(
        tmp_path / "lanner.yaml",
        rules,
        port,
        json_output=True,
        container_engines={
            "docker": {"sockets": [docker_path]},
            "cri": {"sockets": [cri_path]},
            "podman": {"enabled": False},
        },
    )
    cgroup = _docker_cgroup(cid)
    proc, out, _err = capturing_lanner("-c", str(config))
    try:

        def scrape() -> dict:
            return _samples(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text)

        s = wait_until(lambda: _up(scrape(), "docker", docker_path) is not None and scrape())
        assert _up(s, "docker", docker_path) == 1
        assert _up(s, "cri", cri_path) == 0
        assert s[(LOOKUPS, (("outcome", "ok"),))] == 0
        cri = CriDouble(cri_path)
        _run_in_cgroup(cgroup)
        wait_until(lambda: scrape().get((CACHED, ())) == 1, 60, "the container's metadata")
        wait_until(lambda: _up(scrape(), "cri", cri_path) == 1, 60, "the CRI socket seen")
        s = scrape()
        assert s[(LOOKUPS, (("outcome", "ok"),))] >= 1
        assert _up(s, "docker", docker_path) == 1
        wait_until(lambda: f"container {cid[:12]} web" in out.text(), 30, "the container event")
        docker.stop()
        assert _up(scrape(), "docker", docker_path) == 0
        assert _up(scrape(), "cri", cri_path) == 1
        docker = DockerDouble(docker_path, {cid: docker_inspect(cid, "web", "nginx:1.27")})
        assert _up(scrape(), "docker", docker_path) == 1
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
        docker.stop()
        if cri is not None:
            cri.stop()
        for d in (cgroup, cgroup.parent):  # the parent only if no other test uses it
            with contextlib.suppress(OSError):
                d.rmdir()


@needs_probe()
def test_falcos_container_plugin_engines_choose_the_runtimes(
    tmp_path: Path, short_tmp: Path
) -> None:
    """Falco 0.41+'s ``load_plugins: [container]`` with the plugin's ``init_config.engines``
    (no ``container_engines``): its Docker and containerd sockets are the ones asked, its
    other init_config keys are named as without effect (issue 20)."""
    docker_path, containerd_path = str(short_tmp / "d.sock"), str(short_tmp / "ctrd.sock")
    docker = DockerDouble(docker_path, {})
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "- rule: Container seen\n  desc: d\n  priority: NOTICE\n"
        "  condition: evt.type = container\n  output: container %container.id\n"
    )
    port = free_port()
    engines = {
        "docker": {"enabled": True, "sockets": [docker_path]},
        "podman": {"enabled": False},
        "containerd": {"enabled": True, "sockets": [containerd_path]},
        "cri": {"enabled": False, "sockets": ["/run/crio/crio.sock"]},
        "lxc": {"enabled": False},
    }
    config = webserver_config(
        tmp_path / "falco.yaml",
        rules,
        port,
        load_plugins=["container"],
        plugins=[
            {
                "name": "container",
                "library_path": "libcontainer.so",
                "init_config": {"label_max_len": 100, "with_size": False, "engines": engines},
            }
        ],
    )
    proc, _out, err = capturing_lanner("-c", str(config))
    try:

        def scrape() -> dict:
            return _samples(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text)

        s = wait_until(lambda: _up(scrape(), "docker", docker_path) is not None and scrape())
        assert _up(s, "docker", docker_path) == 1
        assert _up(s, "cri", containerd_path) == 0  # asked over CRI, not there
        asked = {dict(labels)["socket"] for name, labels in s if name == UP}
        assert asked == {docker_path, containerd_path}  # not crio's, not podman's
        text = err.text()
        for key in ("label_max_len", "with_size", "engines.lxc"):
            assert f"'plugins[container].init_config.{key}' is accepted but has no effect" in text
        assert "no equivalent of plugin 'container'" not in text
    finally:
        docker.stop()
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)
