"""``lanner capture -w`` writes container events: a replay has the container metadata
with no runtime running, in ``lanner dump -e`` and in sysdig 0.29.3 (``sysdig -r``).

Real: the kernel, cgroups, the eBPF probe, ``lanner capture``, ``lanner dump`` and sysdig.
A double: Docker (``runtime_doubles.DockerDouble`` on a unix socket, given to ``lanner
capture`` with ``-o container_engines.docker.sockets=[...]``), stopped before the replays.
Two processes in cgroups that look like Docker containers': ``before`` runs when the
capture starts (its container is in the /proc snapshot), ``during`` starts while it runs
(its container is seen from its clone/execve cgroups).

Skipped, with the reason, where live capture cannot run (not root, no BTF, no probe).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import require_tool

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_container_metadata_live import (
    LANNER,
    DockerDouble,
    _cgroup_dir,
    docker_inspect,
    skip_reason,
)

from lanner.sources.syscall.capture import read_capture
from lanner.sources.syscall.containers.fields import metadata_fields
from lanner.sources.syscall.containers.store import MetadataStore

BEFORE_ID = uuid.uuid4().hex + uuid.uuid4().hex
DURING_ID = uuid.uuid4().hex + uuid.uuid4().hex
SYSDIG = shutil.which("sysdig")

RULE = """\
- rule: Process in a container
  desc: replay check
  condition: evt.type = execve and evt.dir = < and container.id != host
  output: "cid=%container.id name=%container.name image=%container.image"
  priority: NOTICE
"""

# joins the cgroup, then runs `true` now and then until killed
WORKLOAD = """\
import os, sys, time
with open(sys.argv[1], "w") as f:
    f.write("0")
while True:
    pid = os.fork()
    if pid == 0:
        os.execv(sys.argv[2], ["true", sys.argv[3]])
    os.waitpid(pid, 0)
    time.sleep(0.2)
"""


@contextlib.contextmanager
def container_process(full_id: str, marker: str) -> Iterator[subprocess.Popen[bytes]]:
    group = _cgroup_dir("docker", full_id)
    made: list[Path] = []
    for p in reversed([group, *group.parents]):
        if not p.exists():
            with contextlib.suppress(FileExistsError):
                p.mkdir()
                made.append(p)
    true = shutil.which("true") or "/bin/true"
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKLOAD, str(group / "cgroup.procs"), true, marker]
    )
    try:
        deadline = time.monotonic() + 10
        while str(proc.pid) not in (group / "cgroup.procs").read_text().split():
            assert time.monotonic() < deadline, "the workload did not join its cgroup"
            time.sleep(0.05)
        yield proc
    finally:
        proc.kill()
        proc.wait()
        for p in reversed(made):
            for _ in range(50):
                try:
                    p.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)


@pytest.fixture(scope="module")
def capture_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("capture-containers")
    docker = DockerDouble(
        str(tmp / "docker.sock"),
        {
            BEFORE_ID: docker_inspect(
                BEFORE_ID,
                "before-web",
                "registry.example.com/shop/web:1.4",
                labels={"io.kubernetes.pod.name": "web-7d4b9"},
            ),
            DURING_ID: docker_inspect(
                DURING_ID, "during-api", "docker.io/library/nginx:1.25", privileged=True
            ),
        },
    )
    out = tmp / "containers.scap"
    log = tmp / "capture.log"
    try:
        with container_process(BEFORE_ID, "before"), open(log, "wb") as fh:
            argv = [
                LANNER, "capture", "-w", str(out), "-M", "8",
                "-o", f"container_engines.docker.sockets=[{docker.path}]",
                "-o", "container_engines.cri.enabled=false",
                "-o", "container_engines.podman.enabled=false",
                "evt.type in (execve, clone, fork, vfork, clone3) or proc.name = true",
            ]  # fmt: skip
            cap = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 60
            while b"capturing to" not in log.read_bytes():
                if cap.poll() is not None or time.monotonic() > deadline:
                    cap.kill()
                    pytest.fail(f"lanner capture did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.1)
            with container_process(DURING_ID, "during"):
                time.sleep(2)
            assert cap.wait(60) == 0, log.read_text()
    finally:
        docker.stop()  # the replays run without any runtime
    text = log.read_text()
    assert "container events" in text, text
    yield out


def _lines(argv: list[str]) -> set[str]:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    return {line.strip() for line in res.stdout.splitlines() if line.strip()}


def _replayed(path: Path) -> set[str]:
    """``%container.id %container.name %container.image`` of every event of a container,
    replayed as ``lanner run -e`` and ``lanner dump -e`` read captures (the syscall pipeline,
    here through read_capture) into a store no runtime fills."""
    store = MetadataStore()
    fields = {f.name: f for f in metadata_fields(store)}
    out = set()
    for ev in read_capture(path, store=store):
        th = ev.thread
        if th is None or th.container_id == "host":
            continue
        name = fields["container.name"].extract(ev, None)
        image = fields["container.image"].extract(ev, None)
        out.add(f"{th.container_id} {name} {image}")
    return out


def test_replay_has_the_metadata_without_a_runtime(capture_file: Path) -> None:
    lines = _replayed(capture_file)
    assert f"{BEFORE_ID[:12]} before-web registry.example.com/shop/web:1.4" in lines, lines
    assert f"{DURING_ID[:12]} during-api docker.io/library/nginx:1.25" in lines, lines


def test_snapshot_container_event_comes_first(capture_file: Path) -> None:
    """The container of the /proc snapshot: its event precedes every event (libsinsp
    writes it with the initial state), so every event of it has the metadata."""
    lines = _replayed(capture_file)
    assert not any(line.startswith(BEFORE_ID[:12]) and "None" in line for line in lines), lines


def test_lanner_dump_shows_the_container_events(capture_file: Path) -> None:
    lines = _lines([LANNER, "dump", "-e", str(capture_file), "evt.type = container"])
    docs = [json.loads(line.split(" json=", 1)[1]) for line in lines if " json=" in line]
    names = {d["container"]["name"] for d in docs}
    assert names == {"before-web", "during-api"}, lines
    during = next(d["container"] for d in docs if d["container"]["name"] == "during-api")
    assert during["privileged"] is True and during["type"] == 0 and during["full_id"] == DURING_ID


def test_lanner_run_replay_fills_the_fields(capture_file: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULE)
    lines = _lines([LANNER, "run", "-e", str(capture_file), "-r", str(rules)])
    assert any(f"cid={BEFORE_ID[:12]} name=before-web" in line for line in lines), lines


def test_sysdig_replays_the_names(capture_file: Path) -> None:
    require_tool("sysdig", "sysdig")
    lines = _lines(
        [
            str(SYSDIG),
            "-r",
            str(capture_file),
            "-p",
            "%container.id %container.name %container.image",
        ]
    )
    assert f"{BEFORE_ID[:12]} before-web registry.example.com/shop/web:1.4" in lines, lines
    assert f"{DURING_ID[:12]} during-api docker.io/library/nginx:1.25" in lines, lines


def test_lanner_dump_p_prints_the_container_fields(capture_file: Path) -> None:
    fmt = "%container.id %container.name %container.image"
    lines = _lines([LANNER, "dump", "-e", str(capture_file), "-p", fmt, "container.id != host"])
    assert f"{BEFORE_ID[:12]} before-web registry.example.com/shop/web:1.4" in lines, lines
    assert f"{DURING_ID[:12]} during-api docker.io/library/nginx:1.25" in lines, lines
