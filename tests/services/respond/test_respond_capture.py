"""Talon's capture actionners, `kubernetes:tcpdump` and `kubernetes:sysdig`.

The API side runs against the respond tests' fake API server (a DOUBLE speaking the
published REST paths: the pods' `ephemeralcontainers` subresource as from Kubernetes 1.22,
batch/v1 Jobs, exec over the websocket); tests/deploy/test_respond_talon.py shows the same
requests against the real kube-apiserver. Nothing runs a container here, so where a test
needs the capture itself, the container is played by a LOCAL STAND-IN: the fake's exec
handler runs the very argv the action sent on this host (as root, as the container runs),
and the bytes it writes go back over the exec stream. The capture tools are real: tcpdump,
and `lanner capture` (sysdig 0.29 from Debian has no modern eBPF probe, so the `sysdig` tool
is only checked for the command it is given).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from respond_fake_k8s import FakeKube
from respond_helpers import make_alert

from lanner.exceptions import ActionError
from lanner.services.respond.actions import TALON, ActionContext
from lanner.services.respond.actions.kube import KubeClients
from lanner.services.respond.alert import Alert

VENV_BIN = Path(sys.executable).parent


def _ctx(kube: KubeClients, actionner: str, params: dict[str, Any], out: Path) -> ActionContext:
    cls = TALON[actionner]
    assert cls.validate(params) == []
    return ActionContext(
        alert=Alert.from_dict(make_alert()),
        rule="capture",
        params=cls.with_defaults(params),
        dry_run=False,
        kube=kube,
        output={"target": "local:file", "parameters": {"destination": str(out)}},
    )


def _stand_in(argv: list[str], timeout: float) -> tuple[bytes, str, int]:
    """The container played by this host: the argv run as is, no shell."""
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}"}
    done = subprocess.run(argv, capture_output=True, timeout=timeout, env=env, check=False)
    return done.stdout, done.stderr.decode(errors="replace"), done.returncode


def _running(pod: dict, container: dict) -> None:
    """What a kubelet reports once it started the ephemeral container."""
    pod.setdefault("status", {}).setdefault("ephemeralContainerStatuses", []).append(
        {"name": container["name"], "image": container["image"], "imageID": "", "ready": False,
         "restartCount": 0, "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}
    )  # fmt: skip


def test_tcpdump_captures_in_an_ephemeral_container_and_ships_the_pcap(
    fake_kube: FakeKube, kube_clients: KubeClients, tmp_path: Path
) -> None:
    fake_kube.add_pod("default", "web-1", containers=("app", "sidecar"))
    fake_kube.on_ephemeral = _running
    marker = f"lanner-tcpdump-{os.getpid()}".encode()
    port = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    port.bind(("127.0.0.1", 0))

    def send_marker() -> None:  # traffic while the capture runs
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(15):
                s.sendto(marker, port.getsockname())
                time.sleep(0.1)

    def handler(ns: str, pod: str, container: str, argv: list[str]) -> tuple[bytes, str, int]:
        threading.Timer(0.3, send_marker).start()
        return _stand_in(argv, 30)

    fake_kube.exec_handler = handler
    ctx = _ctx(kube_clients, "kubernetes:tcpdump", {"duration": 2, "snaplen": 256}, tmp_path)
    result = TALON["kubernetes:tcpdump"]().run(ctx)
    port.close()

    (patch,) = [r for r in fake_kube.writes() if r.path.endswith("/ephemeralcontainers")]
    assert patch.path == "/api/v1/namespaces/default/pods/web-1/ephemeralcontainers"
    assert patch.content_type == "application/strategic-merge-patch+json"
    (spec,) = patch.body["spec"]["ephemeralContainers"]
    assert spec["name"].startswith("lanner-tcpdump-") and spec["image"] == "issif/tcpdump:latest"
    assert spec["targetContainerName"] == "app"  # the pod's first container, as Talon
    assert spec["command"] == ["sleep", str(2 + 20 + 60)]
    assert spec["securityContext"]["capabilities"] == {"add": ["NET_RAW"]}
    assert spec["securityContext"]["privileged"] is False
    (run,) = fake_kube.execs
    assert run["container"] == spec["name"]
    assert run["argv"] == ["timeout", "2", "tcpdump", "-n", "-i", "any", "-s", "256",
                           "-U", "-w", "-"]  # fmt: skip
    pcap = Path(result.changes["artifact"])
    assert pcap.parent == tmp_path and pcap.name.endswith("_default_web-1_tcpdump.pcap")
    assert result.changes["bytes"] == pcap.stat().st_size > 24
    shown = subprocess.run(["tcpdump", "-r", str(pcap), "-A", "-n", "udp"], capture_output=True,
                           check=True).stdout  # fmt: skip
    assert marker in shown


def test_tcpdump_that_never_runs_fails_saying_why(
    fake_kube: FakeKube, kube_clients: KubeClients, tmp_path: Path
) -> None:
    fake_kube.add_pod("default", "web-1")
    params = {"start_timeout": 1, "image": "registry.example/tcpdump:1"}
    ctx = _ctx(kube_clients, "kubernetes:tcpdump", params, tmp_path / "out")
    with pytest.raises(ActionError, match=r"did not start within 1s \(no status yet: is a kub"):
        TALON["kubernetes:tcpdump"]().run(ctx)

    def pull_fails(pod: dict, container: dict) -> None:
        pod.setdefault("status", {})["ephemeralContainerStatuses"] = [
            {"name": container["name"], "image": container["image"], "imageID": "",
             "ready": False, "restartCount": 0,
             "state": {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}}}
        ]  # fmt: skip

    fake_kube.on_ephemeral = pull_fails
    with pytest.raises(ActionError) as info:
        TALON["kubernetes:tcpdump"]().run(ctx)
    assert "(waiting: ImagePullBackOff: not found)" in str(info.value)
    assert info.value.changes["ephemeral_container"]["image"] == "registry.example/tcpdump:1"
    assert fake_kube.execs == [] and not (tmp_path / "out").exists()


def _job_pod(fake_kube: FakeKube) -> Any:
    """A Job controller and kubelet stand-in: the Job's pod, running and ready."""

    def on_job(job: dict) -> None:
        name, ns = job["metadata"]["name"], job["metadata"]["namespace"]
        template = job["spec"]["template"]
        fake_kube.put("pods", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{name}-x7k2p", "namespace": ns,
                         "labels": {**template["metadata"]["labels"], "job-name": name}},
            "spec": template["spec"],
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "sysdig", "ready": True, "restartCount": 0, "image": "", "imageID": "",
                 "state": {"running": {}}}]},
        })  # fmt: skip

    return on_job


def test_sysdig_job_with_lanner_capture_ships_a_scap_sysdig_and_lanner_dump_read(
    fake_kube: FakeKube, kube_clients: KubeClients, tmp_path: Path
) -> None:
    if not Path("/sys/kernel/btf/vmlinux").exists() or os.geteuid() != 0:
        pytest.fail("this test runs lanner capture live: it needs root and kernel BTF")
    fake_kube.add_pod("default", "web-1")
    fake_kube.on_job = _job_pod(fake_kube)
    marker = tmp_path / "marker-file"
    marker.write_text("x")

    def handler(ns: str, pod: str, container: str, argv: list[str]) -> tuple[bytes, str, int]:
        if argv[:2] == ["lanner", "capture"]:  # reads of the marker while the capture runs
            loop = 'for i in $(seq 40); do cat "$1"; sleep 0.2; done'
            reader = subprocess.Popen(["sh", "-c", loop, "sh", str(marker)],
                                      stdout=subprocess.DEVNULL)  # fmt: skip
            try:
                return _stand_in(argv, 60)
            finally:
                reader.wait(30)
        return _stand_in(argv, 60)

    fake_kube.exec_handler = handler
    params = {"tool": "lanner", "scope": "node", "duration": 3}
    ctx = _ctx(kube_clients, "kubernetes:sysdig", params, tmp_path / "out")
    result = TALON["kubernetes:sysdig"]().run(ctx)

    (create,) = [r for r in fake_kube.writes() if r.method == "POST"]
    assert create.path == "/apis/batch/v1/namespaces/default/jobs"
    job = create.body
    pod_spec = job["spec"]["template"]["spec"]
    assert pod_spec["nodeName"] == "node-1" and pod_spec["hostPID"] is True
    (container,) = pod_spec["containers"]
    assert container["image"] == "ghcr.io/lanner/lanner:0.1.0"
    assert container["securityContext"] == {"privileged": True, "runAsUser": 0}
    assert pod_spec["volumes"] == [{"name": "host", "hostPath": {"path": "/"}}]
    name = job["metadata"]["name"]
    path = f"/tmp/{name}.scap.gz"
    assert [e["argv"] for e in fake_kube.execs] == [
        ["lanner", "capture", "-q", "-w", path, "-M", "3"],
        ["cat", "--", path],
    ]
    assert {e["pod"] for e in fake_kube.execs} == {f"{name}-x7k2p"}
    # the Job is deleted once its capture is read
    assert fake_kube.objects["jobs"] == {}
    assert [r.method for r in fake_kube.writes()] == ["POST", "DELETE"]
    Path(path).unlink()
    scap = Path(result.changes["artifact"])
    assert scap.name.endswith("_default_web-1_sysdig.scap.gz")
    shown = subprocess.run(["sysdig", "-r", str(scap), f"fd.name={marker}"],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert " cat " in shown and str(marker) in shown
    dumped = subprocess.run([str(VENV_BIN / "lanner"), "dump", "-e", str(scap), "-p",
                             "%proc.name %fd.name", f"fd.name={marker}"],
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert f"cat {marker}" in dumped


def test_sysdig_default_command_and_a_job_that_never_runs(
    fake_kube: FakeKube, kube_clients: KubeClients, tmp_path: Path
) -> None:
    pod = fake_kube.add_pod("default", "web-1", containers=("app", "sidecar"))
    started = {"image": "", "imageID": "", "ready": True, "restartCount": 0}
    pod["status"]["containerStatuses"] = [
        {"name": "app", "containerID": "containerd://" + "ab12" * 16, **started},
        {"name": "sidecar", "containerID": "cri-o://" + "cd34" * 16, **started},
    ]
    cls = TALON["kubernetes:sysdig"]
    ctx = _ctx(kube_clients, "kubernetes:sysdig", {"start_timeout": 1}, tmp_path)
    ctx.dry_run = True
    dry = cls().run(ctx)
    assert dry.detail == "would capture syscalls on node node-1" and fake_kube.writes() == []
    ctx.dry_run = False
    with pytest.raises(ActionError) as info:
        cls().run(ctx)
    assert "did not start within 1s (no pod created: is the Job controller running" in str(
        info.value
    )
    argv = info.value.changes["command"]
    job = info.value.changes["job"]["metadata"]["name"]
    assert argv == ["sysdig", "--modern-bpf", "--cri", "/host/run/containerd/containerd.sock",
                    "-M", "5", "-s", "2048", "-z", "-w", f"/tmp/{job}.scap.gz",
                    "container.id in (ab12ab12ab12,cd34cd34cd34)"]  # fmt: skip
    container = info.value.changes["job"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "issif/sysdig:latest"
    assert fake_kube.objects["jobs"] == {}  # deleted: no privileged Job left behind
    assert fake_kube.execs == []
    # a pod with no started container has nothing to capture with scope: pod
    pod = fake_kube.add_pod("default", "web-2")
    ctx.alert = Alert.from_dict(make_alert(output_fields={"k8s.ns.name": "default",
                                                          "k8s.pod.name": "web-2"}))  # fmt: skip
    with pytest.raises(ActionError, match="no started container to capture"):
        cls().run(ctx)


def test_download_copies_a_binary_file_byte_for_byte(
    fake_kube: FakeKube, kube_clients: KubeClients, tmp_path: Path
) -> None:
    """kubernetes:download reads the exec stream as bytes (an ELF, a capture): nothing is
    decoded as text on the way. The file comes from this host through the stand-in."""
    fake_kube.add_pod("default", "web-1")
    fake_kube.exec_handler = lambda ns, pod, container, argv: _stand_in(argv, 30)
    binary = tmp_path / "dropped.bin"
    binary.write_bytes(bytes(range(256)) * 300 + b"\xff\xfe\xc3")  # > one 64 KiB frame
    cls = TALON["kubernetes:download"]
    ctx = _ctx(kube_clients, "kubernetes:download", {"file": str(binary)}, tmp_path / "out")
    result = cls().run(ctx)
    assert fake_kube.execs[0]["argv"] == ["cat", "--", str(binary)]
    assert Path(result.changes["artifact"]).read_bytes() == binary.read_bytes()
