"""What Lanner knows about one container."""

from __future__ import annotations

import json
from typing import Any

from lanner.records import FrozenRecord, Record


class Mount(FrozenRecord):
    """One mount of a container."""

    __slots__ = __match_args__ = ("source", "dest", "mode", "rw", "propagation")
    source: str
    dest: str
    mode: str
    rw: bool
    propagation: str

    def __init__(
        self, source: str, dest: str, mode: str = "", rw: bool = True, propagation: str = ""
    ) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "source", source)
        setattr_(self, "dest", dest)
        setattr_(self, "mode", mode)
        setattr_(self, "rw", rw)
        setattr_(self, "propagation", propagation)

    @classmethod
    def from_engine_json(cls, m: dict[str, Any]) -> Mount:
        """A mount as the Docker Engine API and libsinsp's container JSON spell it
        (``Source``, ``Destination``, ``Mode``, ``RW``, ``Propagation``)."""
        return cls(
            source=str(m.get("Source", "")),
            dest=str(m.get("Destination", "")),
            mode=str(m.get("Mode", "")),
            rw=bool(m.get("RW", True)),
            propagation=str(m.get("Propagation", "")),
        )

    def text(self) -> str:
        """Falco's ``container.mounts`` spelling of one mount: source:dest:mode:rw:propagation."""
        rw = "true" if self.rw else "false"
        return f"{self.source}:{self.dest}:{self.mode}:{rw}:{self.propagation}"


class ContainerInfo(Record):
    """Runtime metadata of a container, as the container runtime reports it."""

    __slots__ = __match_args__ = (
        "id",
        "full_id",
        "name",
        "image",
        "image_repository",
        "image_tag",
        "image_digest",
        "image_id",
        "runtime",
        "labels",
        "privileged",
        "mounts",
        "ports",
        "start_ts",
        "healthcheck",
        "liveness_probe",
        "readiness_probe",
        "ip",
        "cni_json",
        "pod_name",
        "pod_namespace",
        "pod_uid",
        "pod_labels",
        "pod_ip",
        "pod_cni_json",
    )
    id: str
    full_id: str | None
    name: str | None
    image: str | None
    image_repository: str | None
    image_tag: str | None
    image_digest: str | None
    image_id: str | None
    runtime: str | None
    labels: dict[str, str]
    privileged: bool | None
    mounts: list[Mount]
    ports: list[str]
    start_ts: int | None
    healthcheck: list[str]
    liveness_probe: list[str]
    readiness_probe: list[str]
    ip: str | None
    cni_json: str | None
    pod_name: str | None
    pod_namespace: str | None
    pod_uid: str | None
    pod_labels: dict[str, str]
    pod_ip: str | None
    pod_cni_json: str | None

    def __init__(
        self,
        id: str,
        full_id: str | None = None,
        name: str | None = None,
        image: str | None = None,
        image_repository: str | None = None,
        image_tag: str | None = None,
        image_digest: str | None = None,
        image_id: str | None = None,
        runtime: str | None = None,
        labels: dict[str, str] | None = None,
        privileged: bool | None = None,
        mounts: list[Mount] | None = None,
        ports: list[str] | None = None,
        start_ts: int | None = None,
        healthcheck: list[str] | None = None,
        liveness_probe: list[str] | None = None,
        readiness_probe: list[str] | None = None,
        ip: str | None = None,
        cni_json: str | None = None,
        pod_name: str | None = None,
        pod_namespace: str | None = None,
        pod_uid: str | None = None,
        pod_labels: dict[str, str] | None = None,
        pod_ip: str | None = None,
        pod_cni_json: str | None = None,
    ) -> None:
        self.id = id
        self.full_id = full_id
        self.name = name
        self.image = image
        self.image_repository = image_repository
        self.image_tag = image_tag
        self.image_digest = image_digest
        self.image_id = image_id
        self.runtime = runtime
        self.labels = {} if labels is None else labels
        self.privileged = privileged
        self.mounts = [] if mounts is None else mounts
        self.ports = [] if ports is None else ports
        self.start_ts = start_ts
        self.healthcheck = [] if healthcheck is None else healthcheck
        self.liveness_probe = [] if liveness_probe is None else liveness_probe
        self.readiness_probe = [] if readiness_probe is None else readiness_probe
        self.ip = ip
        self.cni_json = cni_json
        self.pod_name = pod_name
        self.pod_namespace = pod_namespace
        self.pod_uid = pod_uid
        self.pod_labels = {} if pod_labels is None else pod_labels
        self.pod_ip = pod_ip
        self.pod_cni_json = pod_cni_json


# the label kubectl leaves on objects it applied: the pod spec, with the containers' probes
LAST_APPLIED = "annotation.kubectl.kubernetes.io/last-applied-configuration"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"


def k8s_probes(labels: dict[str, str]) -> tuple[list[str], list[str]]:
    """(liveness, readiness) exec probe commands from a pod spec kubectl applied.

    As libsinsp: the spec comes from the ``last-applied-configuration`` label (Docker
    containers of pods) or annotation (CRI); the first container with an exec probe wins.
    Anything unreadable is no probe.
    """
    raw = labels.get(LAST_APPLIED) or labels.get(LAST_APPLIED_ANNOTATION)
    if not raw:
        return [], []
    try:
        doc = json.loads(raw)
    except ValueError:
        return [], []
    spec = doc.get("spec") if isinstance(doc, dict) else None
    containers = spec.get("containers") if isinstance(spec, dict) else None
    liveness: list[str] = []
    readiness: list[str] = []
    for c in containers if isinstance(containers, list) else []:
        if not isinstance(c, dict):
            continue
        for key, out in (("livenessProbe", liveness), ("readinessProbe", readiness)):
            probe = c.get(key)
            exe = probe.get("exec") if isinstance(probe, dict) else None
            cmd = exe.get("command") if isinstance(exe, dict) else None
            if not out and isinstance(cmd, list):
                out.extend(str(x) for x in cmd)
    return liveness, readiness


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of an image reference such as ``reg:5000/ns/app:1.2@sha256:..``."""
    digest = None
    if "@" in image:
        image, digest = image.split("@", 1)
    tag = None
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        image, tag = image.rsplit(":", 1)
    return image, tag, digest
