"""What Lanner knows about one container."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Mount:
    """One mount of a container."""

    source: str
    dest: str
    mode: str = ""
    rw: bool = True
    propagation: str = ""

    def text(self) -> str:
        """Falco's ``container.mounts`` spelling of one mount: source:dest:mode:rw:propagation."""
        rw = "true" if self.rw else "false"
        return f"{self.source}:{self.dest}:{self.mode}:{rw}:{self.propagation}"


@dataclass(slots=True)
class ContainerInfo:
    """Runtime metadata of a container, as the container runtime reports it."""

    id: str
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
    pod_name: str | None = None
    pod_namespace: str | None = None
    pod_uid: str | None = None
    pod_labels: dict[str, str] = field(default_factory=dict)
    pod_ip: str | None = None
    pod_cni_json: str | None = None


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
