"""Falco Talon's capture actionners: `kubernetes:tcpdump` (packets of the pod, from an
ephemeral container in it) and `kubernetes:sysdig` (syscalls of the pod or its node, from a
privileged Job on the pod's node), each artifact shipped to the action's `output`.

As Talon does: the capture tool runs in its own image (Talon's defaults), started through
the API (the pod's `ephemeralcontainers` subresource; a `batch/v1` Job pinned to the node),
waited for, then run and read back over exec. Unlike Talon, the commands are argv lists
(no script written into the container), the capture comes back as bytes over the exec
stream, the tcpdump container gets two capabilities instead of `privileged`, and the sysdig
Job is deleted once its capture is read (or when it never starts).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any, ClassVar

from lanner.exceptions import ActionError
from lanner.services.respond import artifacts
from lanner.services.respond.actions.base import ActionContext, ActionResult, Param
from lanner.services.respond.actions.exec import exec_bytes
from lanner.services.respond.actions.kube import MANAGED_BY, call, get_pod
from lanner.services.respond.actions.talon_pod import TalonPodAction, talon_pod

log = logging.getLogger("lanner.respond")
POLL = 0.3  # seconds between two looks at the pod while waiting for it to run
_CONTAINER_ID = re.compile(r"^(?:[a-z0-9-]+://)?([0-9a-f]{12,})$")
_EXEC: dict[str, Any] = {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]}


def _positive(name: str, low: int, high: int | None = None) -> Any:
    def check(value: int) -> str | None:
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            return f"parameter '{name}' must be {bound}"
        return None

    return check


def _wait(what: str, timeout: int, look: Any) -> Any:
    """Call look() every POLL seconds until it returns something (not None), or fail after
    `timeout` seconds saying what was waited for and the last state look() reported."""
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        found, state = look()
        if found is not None:
            return found
        last = state or last
        if time.monotonic() >= deadline:
            raise ActionError(f"{what} did not start within {timeout}s ({last or 'no status'})")
        time.sleep(POLL)


def _store(ctx: ActionContext, target: str, name: str, objects: dict[str, str], data: bytes) -> str:
    assert ctx.output is not None
    try:
        return artifacts.store(ctx.output, name, objects, data, ctx.settings)
    except OSError as exc:
        raise ActionError(f"{target}: cannot store {name}: {exc}", target=target) from exc


def _state_text(state: Any) -> str:
    """'waiting: ImagePullBackOff: ...' from a V1ContainerState (or a dict of one)."""
    if state is None:
        return ""
    data = state.to_dict() if hasattr(state, "to_dict") else dict(state)
    for phase in ("waiting", "terminated", "running"):
        if data.get(phase):
            detail = data[phase]
            words = [str(detail.get(k)) for k in ("reason", "message") if detail.get(k)]
            return ": ".join([phase, *words])
    return ""


def add_ephemeral_container(
    ctx: ActionContext, namespace: str, pod: str, spec: dict[str, Any]
) -> str:
    """Add an ephemeral container to the pod through its `ephemeralcontainers` subresource.

    Servers from 1.22 take a Pod there (a strategic-merge patch of spec.ephemeralContainers);
    1.16 to 1.21 (feature gate EphemeralContainers) take an `EphemeralContainers` object and
    answer the Pod-shaped patch with that object unchanged: then the container is sent in
    the older shape, as kubectl debug does, without its securityContext (which those
    versions refuse for an ephemeral container). Returns a note saying so ("" otherwise);
    ActionError if neither added it."""
    api = ctx.kube.core
    what = f"add ephemeral container {spec['name']} to pod {namespace}/{pod}"

    def patch(body: dict[str, Any]) -> dict[str, Any]:
        answer = call(what, api.patch_namespaced_pod_ephemeralcontainers, pod, namespace, body,
                      _preload_content=False)  # fmt: skip
        return dict(json.loads(answer.data))

    note = ""
    answer = patch({"spec": {"ephemeralContainers": [spec]}})
    if answer.get("kind") == "EphemeralContainers":  # a 1.16-1.21 server
        legacy = {k: v for k, v in spec.items() if k != "securityContext"}
        answer = patch({"ephemeralContainers": [legacy]})
        present = answer.get("ephemeralContainers") or []
        note = "API server before 1.22: sent as EphemeralContainers, without securityContext"
    else:
        present = (answer.get("spec") or {}).get("ephemeralContainers") or []
    if not any(c.get("name") == spec["name"] for c in present):
        raise ActionError(f"{what}: the API server did not add it (ephemeral containers off?)")
    return note


class TalonTcpdump(TalonPodAction):
    """Packets of the pod for `duration` seconds, from an ephemeral container sharing the
    pod's network namespace, stored as `tcpdump.pcap`."""

    name = "kubernetes:tcpdump"
    summary = "capture the pod's packets with tcpdump in an ephemeral container (Talon)"
    params = (
        Param("image", str, default="issif/tcpdump:latest"),
        Param("duration", int, default=5, check=_positive("duration", 1, 3600)),
        Param("snaplen", int, default=4096, check=_positive("snaplen", 0)),
        Param("start_timeout", int, default=20, check=_positive("start_timeout", 1)),
    )
    rbac: ClassVar[tuple[dict[str, Any], ...]] = (
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods/ephemeralcontainers"], "verbs": ["patch"]},
        _EXEC,
    )
    requires_output = True
    talon_continue = False
    ARTIFACT = "tcpdump.pcap"

    @staticmethod
    def container_spec(name: str, params: dict[str, Any], target: str) -> dict[str, Any]:
        """The ephemeral container: the image sleeping long enough for the capture, as root
        with NET_RAW (all a capture on `any`, never promiscuous, needs), not privileged."""
        return {
            "name": name,
            "image": params["image"],
            "imagePullPolicy": "IfNotPresent",
            "command": ["sleep", str(params["duration"] + params["start_timeout"] + 60)],
            "stdin": False,
            "tty": False,
            "terminationMessagePolicy": "File",
            "targetContainerName": target,
            "securityContext": {
                "runAsUser": 0,
                "runAsNonRoot": False,
                "privileged": False,
                "allowPrivilegeEscalation": False,
                "capabilities": {"add": ["NET_RAW"]},
            },
        }

    @staticmethod
    def command(params: dict[str, Any]) -> list[str]:
        """tcpdump on every interface for `duration` seconds, the pcap written to stdout."""
        return ["timeout", str(params["duration"]), "tcpdump", "-n", "-i", "any",
                "-s", str(params["snaplen"]), "-U", "-w", "-"]  # fmt: skip

    def run(self, ctx: ActionContext) -> ActionResult:
        """Add the container, wait for it to run, capture, store the pcap."""
        p = ctx.params
        namespace, name = talon_pod(ctx)
        pod = get_pod(ctx, namespace, name)
        target = f"pod {namespace}/{name}"
        containers = [c.name for c in (pod.spec.containers if pod.spec else [])]
        if not containers:
            raise ActionError(f"{target}: no container found", target=target)
        ec_name = f"lanner-tcpdump-{uuid.uuid4().hex[:5]}"
        spec = self.container_spec(ec_name, p, containers[0])
        argv = self.command(p)
        changes: dict[str, Any] = {"ephemeral_container": spec, "command": argv}
        if ctx.dry_run:
            return ActionResult(target, "would capture packets", changes)
        try:
            note = add_ephemeral_container(ctx, namespace, name, spec)
        except ActionError as exc:
            raise ActionError(str(exc), transient=exc.transient, target=target,
                              changes=changes) from exc  # fmt: skip
        if note:
            changes["note"] = note

        def look() -> tuple[bool | None, str]:
            now = get_pod(ctx, namespace, name)
            for status in (now.status.ephemeral_container_statuses or []) if now.status else []:
                if status.name == ec_name:
                    if status.state is not None and status.state.running is not None:
                        return True, ""
                    return None, _state_text(status.state)
            return None, "no status yet: is a kubelet running the pod?"

        what = f"{target}: ephemeral container {ec_name}"
        try:
            _wait(what, p["start_timeout"], look)
            code, data, err = exec_bytes(ctx, namespace, name, ec_name, argv,
                                         p["duration"] + 30, limit=1 << 30)  # fmt: skip
        except ActionError as exc:
            raise ActionError(str(exc), transient=exc.transient, target=target,
                              changes=changes) from exc  # fmt: skip
        if code not in (0, 124):  # 124: timeout ended the capture, as intended
            raise ActionError(f"{what}: tcpdump exit code {code}: {err.strip()[:200]}",
                              target=target, changes=changes)  # fmt: skip
        objects = {"namespace": namespace, "pod": name}
        where = _store(ctx, target, self.ARTIFACT, objects, data)
        changes.update(artifact=where, bytes=len(data))
        return ActionResult(target, f"{len(data)} bytes of packets stored in {where}", changes)


def container_ids(pod: Any) -> list[str]:
    """The pod's containers' short (12 hex) ids, as sysdig's container.id shows them."""
    ids = []
    for status in (pod.status.container_statuses or []) if pod.status else []:
        m = _CONTAINER_ID.match(str(status.container_id or ""))
        if m:
            ids.append(m.group(1)[:12])
    return ids


# the capture tool run in the Job and its default image: Talon's sysdig image, or Lanner's
# own image whose `lanner capture` writes the same format with Lanner's eBPF probe
IMAGES = {"sysdig": "issif/sysdig:latest", "lanner": "ghcr.io/lanner/lanner:0.1.0"}


class TalonSysdig(TalonPodAction):
    """Syscalls of the pod's containers (`scope: pod`) or of its whole node (`scope: node`)
    for `duration` seconds, from a privileged Job on the pod's node, stored as
    `sysdig.scap.gz` (sysdig -r and lanner dump read it)."""

    name = "kubernetes:sysdig"
    summary = "capture the pod's syscalls with sysdig from a Job on its node (Talon)"
    params = (
        Param("image", str),
        Param("tool", str, default="sysdig", choices=tuple(IMAGES)),
        Param("scope", str, default="pod", choices=("pod", "node")),
        Param("duration", int, default=5, check=_positive("duration", 1, 30)),
        Param("buffer_size", int, default=2048, check=_positive("buffer_size", 128)),
        Param("cri_socket", str, default="/host/run/containerd/containerd.sock"),
        Param("start_timeout", int, default=20, check=_positive("start_timeout", 1)),
    )
    rbac: ClassVar[tuple[dict[str, Any], ...]] = (
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
        _EXEC,
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "delete"]},
    )
    requires_output = True
    talon_continue = False
    ARTIFACT = "sysdig.scap.gz"

    @staticmethod
    def job_spec(name: str, node: str, params: dict[str, Any]) -> dict[str, Any]:
        """A one-pod Job on the node: the image sleeping while the capture runs, privileged
        (eBPF), the host's / mounted read-only at /host (HOST_ROOT) and the host's PIDs."""
        ttl = params["duration"] + params["start_timeout"] + 60
        labels = {**MANAGED_BY, "app.kubernetes.io/name": "lanner-sysdig"}
        return {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "backoffLimit": 0,
                "ttlSecondsAfterFinished": 600,
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "nodeName": node,
                        "restartPolicy": "Never",
                        "activeDeadlineSeconds": ttl + 5,
                        "terminationGracePeriodSeconds": 1,
                        "automountServiceAccountToken": False,
                        "hostPID": True,
                        "tolerations": [{"operator": "Exists"}],
                        "containers": [
                            {
                                "name": "sysdig",
                                "image": params.get("image") or IMAGES[params["tool"]],
                                "imagePullPolicy": "IfNotPresent",
                                "command": ["sleep", str(ttl)],
                                "env": [{"name": "HOST_ROOT", "value": "/host"}],
                                "securityContext": {"privileged": True, "runAsUser": 0},
                                "volumeMounts": [
                                    {"name": "host", "mountPath": "/host", "readOnly": True}
                                ],
                            }
                        ],
                        "volumes": [{"name": "host", "hostPath": {"path": "/"}}],
                    },
                },
            },
        }

    @staticmethod
    def command(params: dict[str, Any], path: str, ids: list[str]) -> list[str]:
        """sysdig with the modern eBPF probe (or `lanner capture`) for `duration` seconds, a
        gzip capture written to `path`, filtered on the pod's containers unless the scope is
        the node."""
        if params["tool"] == "lanner":
            argv = ["lanner", "capture", "-q", "-w", path, "-M", str(params["duration"])]
        else:
            argv = ["sysdig", "--modern-bpf", "--cri", params["cri_socket"],
                    "-M", str(params["duration"]), "-s", str(params["buffer_size"]),
                    "-z", "-w", path]  # fmt: skip
        if params["scope"] == "pod":
            argv.append(f"container.id in ({','.join(ids)})")
        return argv

    def run(self, ctx: ActionContext) -> ActionResult:
        """Create the Job, wait for its pod, capture, read the file back, delete the Job."""
        p = ctx.params
        namespace, name = talon_pod(ctx)
        pod = get_pod(ctx, namespace, name)
        target = f"pod {namespace}/{name}"
        node = pod.spec.node_name if pod.spec else None
        if not node:
            raise ActionError(f"{target} is on no node yet: nothing to capture", target=target)
        ids = container_ids(pod)
        if p["scope"] == "pod" and not ids:
            raise ActionError(f"{target}: no started container to capture", target=target)
        job_name = f"lanner-sysdig-{uuid.uuid4().hex[:5]}"
        path = f"/tmp/{job_name}.scap.gz"
        job = self.job_spec(job_name, node, p)
        argv = self.command(p, path, ids)
        changes: dict[str, Any] = {"job": job, "command": argv}
        if ctx.dry_run:
            return ActionResult(target, f"would capture syscalls on node {node}", changes)
        batch = ctx.kube.batch
        call(f"create Job {namespace}/{job_name}", batch.create_namespaced_job, namespace, job)
        what = f"{target}: capture Job {namespace}/{job_name} on node {node}"
        try:
            job_pod, container = _wait(what, p["start_timeout"],
                                       lambda: self._job_pod(ctx, namespace, job_name))  # fmt: skip
            code, _, err = exec_bytes(ctx, namespace, job_pod, container, argv,
                                        p["duration"] + 60)  # fmt: skip
            if code != 0:
                raise ActionError(f"{what}: sysdig exit code {code}: {err.strip()[:200]}")
            code, data, err = exec_bytes(ctx, namespace, job_pod, container, ["cat", "--", path],
                                         60, limit=1 << 30)  # fmt: skip
            if code != 0:
                raise ActionError(f"{what}: cannot read {path}: exit code {code}: {err[:200]}")
        except ActionError as exc:
            raise ActionError(str(exc), transient=exc.transient, target=target,
                              changes=changes) from exc  # fmt: skip
        finally:
            self._delete_job(ctx, namespace, job_name)
        objects = {"namespace": namespace, "pod": name}
        where = _store(ctx, target, self.ARTIFACT, objects, data)
        changes.update(artifact=where, bytes=len(data))
        return ActionResult(target, f"{len(data)} bytes of syscalls stored in {where}", changes)

    @staticmethod
    def _job_pod(ctx: ActionContext, namespace: str, job: str) -> tuple[Any, str]:
        """((pod, container), "") once the Job's pod runs and is ready, else (None, state)."""
        pods = call(f"list pods of Job {namespace}/{job}", ctx.kube.core.list_namespaced_pod,
                    namespace, label_selector=f"job-name={job}")  # fmt: skip
        if not pods.items:
            return None, (
                "no pod created: is the Job controller running, or does the namespace's pod"
                " security refuse a privileged pod?"
            )
        pod = pods.items[0]
        statuses = (pod.status.container_statuses or []) if pod.status else []
        if pod.status and pod.status.phase == "Running" and statuses and statuses[0].ready:
            return (pod.metadata.name, pod.spec.containers[0].name), ""
        phase = pod.status.phase if pod.status else ""
        state = _state_text(statuses[0].state) if statuses else ""
        where = f"pod {pod.metadata.name} {phase or 'Pending'}"
        return None, where + (f", {state}" if state else "")

    @staticmethod
    def _delete_job(ctx: ActionContext, namespace: str, job: str) -> None:
        """Delete the Job and its pod; a failure here is logged in the error, not raised."""
        try:
            call(f"delete Job {namespace}/{job}", ctx.kube.batch.delete_namespaced_job, job,
                 namespace, propagation_policy="Background")  # fmt: skip
        except ActionError:
            log.warning(
                "could not delete capture Job %s/%s; it ends itself at its deadline", namespace, job
            )
