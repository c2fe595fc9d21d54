"""Container and pod metadata end to end: a live ``lanner run`` (eBPF probe) asks test
doubles of Docker and of a CRI runtime about processes placed in container cgroups.

What is real: the kernel (namespaces from ``unshare``, cgroups, a pty), the eBPF probe,
``lanner run`` with the upstream Falco rules files and Lanner's default rules, and the
container id read from the cgroup path. What is a double: the container runtimes — a
Docker Engine API server on a unix socket and a CRI ``runtime.v1`` gRPC server
(``tests/sources/syscall/containers/runtime_doubles.py``), configured with
``-o container_engines.docker.sockets=[...]`` / ``-o container_engines.cri.sockets=[...]``.

Skipped, with the reason, where live capture cannot run (not root, no BTF, no probe).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import missing, shared_fixture

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "sources" / "syscall" / "containers"))

from runtime_doubles import (  # noqa: E402
    CriDouble,
    DockerDouble,
    cri_sandbox,
    cri_status,
    docker_inspect,
)

UPSTREAM = shared_fixture("rules")
LANNER_RULES = ROOT / "src" / "lanner" / "rules" / "lanner_rules.yaml"
LANNER = str(Path(sys.executable).parent / "lanner")
BTF = Path("/sys/kernel/btf/vmlinux")
STARTED = "syscall capture started"

DOCKER_ID = uuid.uuid4().hex + uuid.uuid4().hex  # 64 hex, as Docker's ids
CRI_ID = uuid.uuid4().hex + uuid.uuid4().hex
SANDBOX_ID = uuid.uuid4().hex + uuid.uuid4().hex

# Falco users add container and pod fields to upstream outputs the same way.
APPEND_FIELDS = """\
- rule: Terminal shell in container
  output: >-
    container_id=%container.id container_name=%container.name
    image=%container.image.repository k8s_pod_name=%k8s.pod.name k8s_ns_name=%k8s.ns.name
  override:
    output: append
"""

# pid 1 of a new pid namespace, named `runc` (as the runtime's init is): joins the cgroup,
# runs a first process (Lanner sees the container and asks the runtime), waits until the
# test says the metadata was announced, spawns `sh` on the pty, then the extra programs
# (a JSON list of argvs), then execs the entrypoint.
CONTAINER_INIT = """\
import fcntl, json, os, sys, termios, time
procs, gofile, true_path, sh, marker, extras = sys.argv[1:7]
if procs != "-":
    with open(procs, "w") as f:
        f.write("0")
pid = os.fork()
if pid == 0:
    os.execv(true_path, ["true", "first-" + marker])
os.waitpid(pid, 0)
deadline = time.monotonic() + 90
while gofile != "-" and not os.path.exists(gofile) and time.monotonic() < deadline:
    time.sleep(0.05)
os.setsid()
fcntl.ioctl(0, termios.TIOCSCTTY, 0)
pid = os.fork()
if pid == 0:
    os.execv(sh, ["sh", "-c", "echo " + marker])
os.waitpid(pid, 0)
for argv in json.loads(extras):
    pid = os.fork()
    if pid == 0:
        os.execv(argv[0], argv)
    os.waitpid(pid, 0)
os.execv(true_path, ["true", "entry-" + marker])
"""


def skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "live syscall capture needs root (loading eBPF programs, cgroups, unshare)"
    if not BTF.exists():
        return f"live syscall capture needs kernel BTF at {BTF}"
    try:
        from lanner.sources.syscall.probe import default_object
    except ImportError as exc:
        return f"the live probe is not in this build ({exc})"
    if not default_object().is_file():
        return f"the probe is not built ({default_object()}): run scripts/build_probe.sh"
    if not UPSTREAM.is_dir():
        return f"the upstream Falco rules are not at {UPSTREAM}"
    return None


def _cgroup_dir(kind: str, full_id: str, pod_uid: str | None = None) -> Path:
    """Where a runtime would put the container's cgroup, on this machine's hierarchy:
    ``docker``: cgroupfs driver ``/docker/<id>``; ``cri``: cgroupfs driver
    ``/kubepods/besteffort/pod<uid>/<id>``; ``cri-systemd``: the systemd driver's
    ``/kubepods.slice/.../cri-containerd-<id>.scope``. The pod uid is random unless given."""
    v1 = Path("/sys/fs/cgroup/cpu")
    root = v1 if (v1 / "cgroup.procs").exists() else Path("/sys/fs/cgroup")
    if not (root / "cgroup.procs").exists():
        pytest.skip("no writable cgroup hierarchy (/sys/fs/cgroup/cpu or cgroup v2)")
    if kind == "docker":
        return root / "docker" / full_id
    if kind == "cri-systemd":
        uid = (pod_uid or str(uuid.uuid4())).replace("-", "_")
        return (
            root
            / "kubepods.slice"
            / "kubepods-besteffort.slice"
            / f"kubepods-besteffort-pod{uid}.slice"
            / f"cri-containerd-{full_id}.scope"
        )
    return root / "kubepods" / "besteffort" / f"pod{pod_uid or uuid.uuid4()}" / full_id


@dataclass
class Live:
    tmp: Path
    proc: subprocess.Popen[bytes]
    alerts: Path
    log: Path
    docker: DockerDouble
    cri: CriDouble
    fh: Any = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def alert_list(self) -> list[dict[str, Any]]:
        if not self.alerts.exists():
            return []
        out = []
        for line in self.alerts.read_text(errors="replace").splitlines():
            line = line.strip()
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    out.append(json.loads(line))
        return out

    def wait_alert(self, rule: str, text: str, timeout: float = 45.0) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for a in self.alert_list():
                if a.get("rule") == rule and text in json.dumps(a):
                    return a
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        return None


def start_live(
    tmp: Path,
    docker: DockerDouble,
    cri: CriDouble,
    overrides: tuple[str, ...] = (),
    extra_rules: tuple[Path, ...] = (),
    config: dict[str, Any] | None = None,
) -> Live:
    """A live ``lanner run`` with Lanner's and the upstream rules, asking the doubles."""
    override = tmp / "append_container_fields.yaml"
    override.write_text(APPEND_FIELDS)
    alerts = tmp / "alerts.json"
    cfg = {
        "json_output": True,
        "json_include_output_fields_property": True,
        "rule_matching": "all",  # Lanner's and upstream's shell rules both match
        "stdout_output": {"enabled": False},
        "syslog_output": {"enabled": False},
        "file_output": {"enabled": True, "keep_alive": True, "filename": str(alerts)},
        "webserver": {"enabled": False},
        "log_syslog": False,
        "log_stderr": True,
        "log_level": "info",
    }
    cfg.update(config or {})
    config_file = tmp / "lanner.yaml"
    config_file.write_text(yaml.safe_dump(cfg))
    argv = [LANNER, "run", "-c", str(config_file), "-r", str(LANNER_RULES)]
    for name in ("falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"):
        argv += ["-r", str(UPSTREAM / name)]
    argv += ["-r", str(override)]
    for extra in extra_rules:
        argv += ["-r", str(extra)]
    argv += [
        "-o", f"container_engines.docker.sockets=[{docker.path}]",
        "-o", f"container_engines.cri.sockets=[{cri.path}]",
        "-o", "container_engines.podman.enabled=false",
    ]  # fmt: skip
    for o in overrides:
        argv += ["-o", o]
    log = tmp / "lanner.log"
    fh = open(log, "wb")  # noqa: SIM115 - closed in stop_live()
    proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    run = Live(tmp, proc, alerts, log, docker, cri, fh)
    deadline = time.monotonic() + 90
    while STARTED not in run.log_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_live(run)
            pytest.fail(f"lanner run did not start live capture:\n{run.log_text()[-3000:]}")
        time.sleep(0.1)
    return run


def stop_live(run: Live) -> None:
    """SIGTERM lanner (SIGKILL after 15 s), then stop the doubles."""
    if run.proc.poll() is None:
        run.proc.send_signal(signal.SIGTERM)
        try:
            run.proc.wait(15)
        except subprocess.TimeoutExpired:
            run.proc.kill()
            run.proc.wait()
    run.fh.close()
    with contextlib.suppress(OSError):
        run.docker.stop()
    with contextlib.suppress(OSError):
        run.cri.stop()


def docker_double(tmp: Path) -> DockerDouble:
    """Docker with the privileged ``web`` container of pod shop/web-7d4b9."""
    return DockerDouble(
        str(tmp / "docker.sock"),
        {
            DOCKER_ID: docker_inspect(
                DOCKER_ID,
                "web",
                "registry.example.com/shop/web:1.4",
                privileged=True,
                labels={
                    "io.kubernetes.pod.name": "web-7d4b9",
                    "io.kubernetes.pod.namespace": "shop",
                    "io.kubernetes.pod.uid": "1b2c",
                },
            )
        },
    )


def cri_double(tmp: Path) -> CriDouble:
    """containerd (CRI) with the ``api`` container of pod pay/api-5f6d, /proc mounted."""
    return CriDouble(
        str(tmp / "containerd.sock"),
        {
            CRI_ID: cri_status(
                CRI_ID,
                "api",
                "docker.io/library/nginx:1.25",
                SANDBOX_ID,
                mounts=[("/proc", "/host/proc", False)],
                labels={"io.kubernetes.pod.name": "api-5f6d", "io.kubernetes.pod.namespace": "pay"},
            )
        },
        {SANDBOX_ID: cri_sandbox(SANDBOX_ID, "api-5f6d", "pay", "9a8b", "10.244.1.17")},
    )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("container-live")
    run = start_live(tmp, docker_double(tmp), cri_double(tmp))
    try:
        yield run
    finally:
        stop_live(run)


@dataclass
class Started:
    marker: str
    output: bytes
    returncode: int


def _tool(name: str) -> str:
    for d in ("/usr/bin", "/bin", "/usr/sbin", "/sbin"):
        if os.access(f"{d}/{name}", os.X_OK):
            return f"{d}/{name}"
    missing(name, "coreutils / util-linux")


def run_container(
    live: Live,
    full_id: str | None,
    kind: str,
    announced_rule: str | None,
    announced_text: str = "",
    standins: tuple[str, ...] = (),
    pod_uid: str | None = None,
) -> Started:
    """Start an `unshare`d init in the container's cgroup (None: on the host), spawn a
    shell on a pty from it; wait for ``announced_rule`` before the shell when given."""
    marker = "lanner" + uuid.uuid4().hex[:12]
    runc = live.tmp / f"bin-{marker}" / "runc"
    runc.parent.mkdir()
    runc.symlink_to(os.path.realpath(sys.executable))
    extras = []
    for name in standins:  # `true` under the tool's name: proc.name is the tool's
        link = runc.parent / name
        link.symlink_to(_tool("true"))
        extras.append([str(link), "-t", "tmpfs", marker, "/mnt"])
    gofile = live.tmp / f"go-{marker}"
    group = None
    made: list[Path] = []
    if full_id is not None:
        group = _cgroup_dir(kind, full_id, pod_uid)
        for p in reversed([group, *group.parents]):
            if not p.exists():
                try:
                    p.mkdir()
                    made.append(p)
                except FileExistsError:  # another test made it meanwhile
                    pass
    procs = str(group / "cgroup.procs") if group else "-"
    go = str(gofile) if announced_rule else "-"
    argv = [
        _tool("unshare"), "--pid", "--fork", "--mount", "--uts", "--ipc",
        str(runc), "-c", CONTAINER_INIT, procs, go, _tool("true"), _tool("sh"), marker,
        json.dumps(extras),
    ]  # fmt: skip
    master, slave = os.openpty()
    seen = b""
    try:
        proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave)
        os.close(slave)
        slave = -1
        if announced_rule:
            found = live.wait_alert(announced_rule, announced_text)
            gofile.touch()
            assert found, f"no {announced_rule!r} alert for {full_id}:\n{live.log_text()[-3000:]}"
        deadline = time.monotonic() + 60
        while marker.encode() not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
        rc = proc.wait(60)
    finally:
        gofile.touch()
        os.close(master)
        if slave >= 0:
            os.close(slave)
        for p in reversed(made):
            for _ in range(50):
                try:
                    p.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)
    return Started(marker, seen, rc)


def fields_of(alert: dict[str, Any]) -> dict[str, Any]:
    return alert.get("output_fields") or {}


def test_shell_in_docker_container_alert_has_container_and_pod_fields(live: Live) -> None:
    started = run_container(
        live,
        DOCKER_ID,
        "docker",
        "Privileged container started",
        DOCKER_ID[:12],
        standins=("debugfs", "mount"),
    )
    assert started.returncode == 0 and started.marker.encode() in started.output
    alert = live.wait_alert("Terminal shell in container", started.marker)
    assert alert, live.log_text()[-3000:]
    f = fields_of(alert)
    assert f["container.id"] == DOCKER_ID[:12]
    assert f["container.name"] == "web"
    assert f["container.image.repository"] == "registry.example.com/shop/web"
    assert f["k8s.pod.name"] == "web-7d4b9"
    assert f["k8s.ns.name"] == "shop"
    # the upstream rule for a privileged container's first process (vpid 1)
    launch = live.wait_alert("Launch Privileged Container", "entry-" + started.marker)
    assert launch, live.log_text()[-3000:]
    # Lanner's rule on Falco's container event, with the metadata in its output
    priv = live.wait_alert("Privileged container started", DOCKER_ID[:12])
    assert priv and "web-7d4b9" in priv["output"]
    # upstream rules about tools run in a privileged container (stand-ins running `true`)
    for rule in (
        "Debugfs Launched in Privileged Container",
        "Mount Launched in Privileged Container",
    ):
        assert live.wait_alert(rule, started.marker), (rule, live.log_text()[-3000:])


def test_shell_in_cri_container_alert_has_pod_fields(live: Live) -> None:
    started = run_container(
        live, CRI_ID, "cri", "Container with sensitive host mount started", "api-5f6d"
    )
    assert started.returncode == 0 and started.marker.encode() in started.output
    alert = live.wait_alert("Terminal shell in container", started.marker)
    assert alert, live.log_text()[-3000:]
    f = fields_of(alert)
    assert f["container.id"] == CRI_ID[:12]
    assert f["container.name"] == "api"
    assert f["container.image.repository"] == "docker.io/library/nginx"
    assert f["k8s.pod.name"] == "api-5f6d"
    assert f["k8s.ns.name"] == "pay"
    launch = live.wait_alert("Launch Sensitive Mount Container", "entry-" + started.marker)
    assert launch, live.log_text()[-3000:]
    assert "/proc:/host/proc" in launch["output"]
    # not privileged: neither privileged rule fires for this container (the barrier is
    # the upstream rule on the same later event)
    rules = {a["rule"] for a in live.alert_list() if "api-5f6d" in json.dumps(a)}
    assert "Privileged container started" not in rules
    assert not any(
        a["rule"] == "Launch Privileged Container" and started.marker in a["output"]
        for a in live.alert_list()
    )


def test_same_shell_on_the_host_raises_nothing(live: Live) -> None:
    started = run_container(live, None, "host", None)
    assert started.returncode == 0 and started.marker.encode() in started.output
    # a later container shell is the barrier: once its alert is in, the host shell's
    # events (earlier) have been evaluated
    barrier = run_container(live, DOCKER_ID, "docker", None)
    assert live.wait_alert("Terminal shell in container", barrier.marker)
    hits = [a for a in live.alert_list() if started.marker in json.dumps(a)]
    assert not [a for a in hits if "container" in a["rule"].lower()], hits


def test_shell_in_cri_container_with_systemd_cgroup_driver(live: Live) -> None:
    cid, sandbox = uuid.uuid4().hex * 2, uuid.uuid4().hex * 2
    live.cri.containers[cid] = cri_status(
        cid,
        "worker",
        "ghcr.io/acme/jobs:2.0",
        sandbox,
        privileged=True,
        labels={"io.kubernetes.pod.name": "jobs-x1", "io.kubernetes.pod.namespace": "batch"},
    )
    live.cri.sandboxes[sandbox] = cri_sandbox(sandbox, "jobs-x1", "batch", "77aa", "10.244.2.9")
    started = run_container(live, cid, "cri-systemd", "Privileged container started", "jobs-x1")
    assert started.returncode == 0 and started.marker.encode() in started.output
    alert = live.wait_alert("Terminal shell in container", started.marker)
    assert alert, live.log_text()[-3000:]
    f = fields_of(alert)
    assert (f["container.id"], f["container.name"]) == (cid[:12], "worker")
    assert f["container.image.repository"] == "ghcr.io/acme/jobs"
    assert (f["k8s.pod.name"], f["k8s.ns.name"]) == ("jobs-x1", "batch")
    assert live.wait_alert("Launch Privileged Container", "entry-" + started.marker)


def test_first_alert_of_a_new_container_has_its_metadata_by_default(live: Live) -> None:
    # issue 28: with the default container_engines.lookup_deadline_ms, the first alert
    # of a container nobody announced yet carries its name and image, even from a runtime
    # that takes 50 ms to answer (with lookup_deadline_ms=0 this alert reads <NA>)
    cid = uuid.uuid4().hex * 2
    live.docker.containers[cid] = docker_inspect(
        cid, "fresh", "registry.example.com/shop/fresh:2.0"
    )
    live.docker.delay = 0.05
    try:
        started = run_container(live, cid, "docker", None)
    finally:
        live.docker.delay = 0.0
    assert started.returncode == 0 and started.marker.encode() in started.output
    alert = live.wait_alert("Terminal shell in container", started.marker)
    assert alert, live.log_text()[-3000:]
    f = fields_of(alert)
    assert (f["container.id"], f["container.name"]) == (cid[:12], "fresh")
    assert f["container.image.repository"] == "registry.example.com/shop/fresh"
