"""What Lanner knows about one container."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Mount:
    """One mount of a container."""

    source: str
    dest: str
    mode: str = ""
    rw: bool = True
    propagation: str = ""

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


@dataclass(slots=True)
class ContainerInfo:
    """Runtime metadata of a container, as the container runtime reports it."""

    id: str
    full_id: str | None = None
    name: str | None = None
    image: str | None = None
    image_repository: str | None = None
    image_tag: str | None = None
    image_digest: str | None = None
    image_id: str | None = None
    runtime: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    privileged: bool | None = None
    mounts: list[Mount] = field(default_factory=list)
    ports: list[str] = field(default_factory=list)
    start_ts: int | None = None
    healthcheck: list[str] = field(default_factory=list)
    liveness_probe: list[str] = field(default_factory=list)
    readiness_probe: list[str] = field(default_factory=list)
    ip: str | None = None
    cni_json: str | None = None
    pod_name: str | None = None
    pod_namespace: str | None = None
    pod_uid: str | None = None
    pod_labels: dict[str, str] = field(default_factory=dict)
    pod_ip: str | None = None
    pod_cni_json: str | None = None


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
