"""The Docker Engine API, over its unix socket, as a container metadata resolver."""

from __future__ import annotations

import calendar
import time
from pathlib import Path
from typing import Any

import httpx

from lanner.exceptions import LookupFailed

from .info import ContainerInfo, Mount, k8s_probes, split_image
from .sockets import DOCKER_SOCKET

DEFAULT_SOCKET = DOCKER_SOCKET
API_VERSION = "v1.41"

# labels the kubelet (dockershim / cri-dockerd) puts on containers of pods
POD_NAME = "io.kubernetes.pod.name"
POD_NAMESPACE = "io.kubernetes.pod.namespace"
POD_UID = "io.kubernetes.pod.uid"


def _parse_time(text: str | None) -> int | None:
    """RFC 3339 with nanoseconds (Docker's StartedAt) to epoch ns."""
    if not text or text.startswith("0001-"):
        return None
    base, _, frac = text.rstrip("Z").partition(".")
    try:
        secs = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None
    digits = "".join(ch for ch in frac if ch.isdigit())[:9].ljust(9, "0")
    return secs * 1_000_000_000 + int(digits or 0)


def parse_inspect(doc: dict[str, Any], runtime: str = "docker") -> ContainerInfo:
    """A ContainerInfo from a ``GET /containers/{id}/json`` answer."""
    config = doc.get("Config") or {}
    host = doc.get("HostConfig") or {}
    labels = {str(k): str(v) for k, v in (config.get("Labels") or {}).items()}
    image = str(config.get("Image") or "")
    repo, tag, digest = split_image(image) if image else (None, None, None)
    mounts = [Mount.from_engine_json(m) for m in doc.get("Mounts") or []]
    ports = []
    for port, bindings in ((doc.get("NetworkSettings") or {}).get("Ports") or {}).items():
        for b in bindings or []:
            ports.append(f"{b.get('HostIp', '')}:{b.get('HostPort', '')}->{port}")
    health = ((config.get("Healthcheck") or {}).get("Test")) or []
    liveness, readiness = k8s_probes(labels)
    net = doc.get("NetworkSettings") or {}
    ip = net.get("IPAddress") or next(
        (n.get("IPAddress") for n in (net.get("Networks") or {}).values() if n.get("IPAddress")),
        None,
    )
    full_id = str(doc.get("Id", ""))
    return ContainerInfo(
        id=full_id[:12],
        full_id=full_id or None,
        name=str(doc.get("Name", "")).lstrip("/") or None,
        image=image or None,
        image_repository=repo,
        image_tag=tag or ("latest" if repo else None),
        image_digest=digest,
        image_id=str(doc.get("Image", "")).removeprefix("sha256:")[:12] or None,
        runtime=runtime,
        labels=labels,
        privileged=bool(host.get("Privileged", False)),
        mounts=mounts,
        ports=ports,
        start_ts=_parse_time((doc.get("State") or {}).get("StartedAt")),
        healthcheck=[str(x) for x in health],
        liveness_probe=liveness,
        readiness_probe=readiness,
        ip=str(ip) if ip else None,
        pod_name=labels.get(POD_NAME),
        pod_namespace=labels.get(POD_NAMESPACE),
        pod_uid=labels.get(POD_UID),
    )


def _message(resp: httpx.Response) -> str:
    try:
        doc = resp.json()
    except ValueError:
        return resp.text[:80] or resp.reason_phrase
    if isinstance(doc, dict) and doc.get("message"):
        return str(doc["message"])[:200]
    return resp.reason_phrase


class DockerResolver:
    """Looks containers up in a Docker Engine; callable as a MetadataStore resolver."""

    def __init__(
        self, socket_path: str = DEFAULT_SOCKET, timeout: float = 2.0, runtime: str = "docker"
    ) -> None:
        self.socket_path = socket_path
        self.runtime = runtime  # "podman" for Podman's Docker-compatible API
        self.name = f"{runtime} {socket_path}"
        self.timeout = timeout
        self._client = self._new_client()

    def _new_client(self) -> httpx.Client:
        return httpx.Client(
            transport=httpx.HTTPTransport(uds=self.socket_path),
            base_url=f"http://docker/{API_VERSION}",
            timeout=self.timeout,
        )

    def reconnect(self) -> None:
        """A new connection pool (the engine made its socket anew)."""
        old, self._client = self._client, self._new_client()
        old.close()

    @classmethod
    def available(cls, socket_path: str = DEFAULT_SOCKET) -> bool:
        """True when the socket exists."""
        return Path(socket_path).is_socket()

    def __call__(self, container_id: str) -> ContainerInfo | None:
        """The container's metadata, None when the engine does not know it; raises
        LookupFailed (reason without the id) when the engine cannot answer."""
        try:
            resp = self._client.get(f"/containers/{container_id}/json")
        except httpx.TimeoutException:
            raise LookupFailed(f"no answer within {self.timeout:g}s") from None
        except httpx.HTTPError as exc:
            raise LookupFailed(f"cannot reach the engine ({type(exc).__name__}: {exc})") from None
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise LookupFailed(f"HTTP {resp.status_code}: {_message(resp)}")
        try:
            doc = resp.json()
        except ValueError:
            raise LookupFailed(f"the answer is not JSON: {resp.text[:80]!r}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("Id", ""), str):
            raise LookupFailed("the answer is not a container inspect document")
        try:
            return parse_inspect(doc, self.runtime)
        except (AttributeError, TypeError, ValueError) as exc:
            raise LookupFailed(f"malformed inspect document ({type(exc).__name__})") from None

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()
