"""Shared helpers of the deployment tests: rendered manifests (the kustomize overlays, which
scripts/render_overlays.py generates from the Helm chart, and the chart itself with
helm), lookups, processes."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import yaml

from helpers import free_port, wait_until  # noqa: F401 - re-exported

from .kustomize import Resource, render

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBE = DEPLOY / "kubernetes"
CHART = DEPLOY / "helm/lanner"
TOOLS = ROOT / ".cache/tools/bin"
DOCS = ROOT / "docs"
K8S_VERSION = "1.37.0"
OVERLAYS = ["minimal", "standard", "full"]
KUSTOMIZATIONS = [f"overlays/{o}" for o in OVERLAYS]
WORKLOADS = {"Deployment", "DaemonSet", "StatefulSet"}


@functools.cache
def _rendered(name: str) -> tuple[str, ...]:
    return tuple(yaml.safe_dump(r) for r in render(KUBE / name))


def rendered(name: str) -> list[Resource]:
    """The objects of deploy/kubernetes/NAME (a fresh copy each call)."""
    return [yaml.safe_load(r) for r in _rendered(name)]


def tool(name: str) -> str:
    """helm or kubectl as scripts/setup.sh installs them (fails loudly when missing)."""
    path = TOOLS / name
    assert path.is_file(), f"{path} is missing: run scripts/setup.sh (install_k8s_tools.sh)"
    return str(path)


@functools.cache
def _helm_template(args: tuple[str, ...]) -> tuple[str, ...]:
    out = subprocess.run(
        [tool("helm"), "template", "lanner", str(CHART), "--namespace", "lanner", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, f"helm template {' '.join(args)}: {out.stderr}"
    return tuple(yaml.safe_dump(d) for d in yaml.safe_load_all(out.stdout) if d)


def chart(
    *sets: str, values: Path | None = None, kube_version: str | None = None
) -> list[Resource]:
    """The chart's objects for ``--set`` assignments (a values file, a cluster version)."""
    args = [a for s in sets for a in ("--set", s)]
    if values is not None:
        args += ["--values", str(values)]
    if kube_version is not None:
        args += ["--kube-version", kube_version]
    return [yaml.safe_load(r) for r in _helm_template(tuple(args))]


def find(objs: Iterable[Resource], kind: str, name: str) -> Resource:
    """The one object of that kind and name."""
    hits = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(hits) == 1, f"{kind}/{name}: {len(hits)} found"
    return hits[0]


def pod_spec(workload: Resource) -> dict[str, Any]:
    """The pod template's spec."""
    return workload["spec"]["template"]["spec"]


def container(workload: Resource, index: int = 0) -> dict[str, Any]:
    """A container of the pod template."""
    return pod_spec(workload)["containers"][index]


def configmap_file(objs: Iterable[Resource], name: str, key: str) -> str:
    """One data key of a ConfigMap."""
    return find(objs, "ConfigMap", name)["data"][key]


def env_of(c: dict[str, Any]) -> dict[str, Any]:
    """Container env by name: the value, or the valueFrom mapping."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env") or []}


def lanner(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Any:
    """``lanner ARGS`` to completion (the installed entry point's code, this interpreter)."""
    return subprocess.run(
        [sys.executable, "-c", "from lanner.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


class Lines:
    """Reads a stream on a thread and keeps its lines."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            with self._lock:
                self.lines.append(line.decode(errors="replace").rstrip("\n"))

    def snapshot(self) -> list[str]:
        with self._lock:
            return list(self.lines)


class Service:
    """``lanner ARGS`` as a background process with its output collected."""

    def __init__(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        cwd: Path = ROOT,
        prefix: Iterable[str] = (),
    ) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-c", "from lanner.cli import main; main()", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.out = Lines(self.proc.stdout)
        self.err = Lines(self.proc.stderr)

    def alive(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(
                f"lanner {' '.join(self.args)} exited {self.proc.returncode}:\n"
                + "\n".join(self.err.snapshot()[-30:])
            )
        return True

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
