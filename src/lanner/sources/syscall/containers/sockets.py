"""Where each container runtime serves its API by default (Falco's ``container_engines``
defaults): a module of its own so that knowing the paths does not import the clients."""

from __future__ import annotations

DOCKER_SOCKET = "/var/run/docker.sock"
PODMAN_SOCKETS = ("/run/podman/podman.sock",)
CRI_SOCKETS = ("/run/containerd/containerd.sock", "/var/run/crio/crio.sock")
