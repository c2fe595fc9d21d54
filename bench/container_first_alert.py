"""How long a new container's metadata takes to arrive, and what the first event waits.

A new container's first events read its metadata while the lookup runs; with
``container_engines.lookup_deadline_ms`` > 0 the first read waits for the answer, at most
that long, once per lookup. This script measures, against the runtime doubles of the
tests (the Docker Engine API over HTTP and CRI over gRPC, on unix sockets: real client
code, real protocols, a local server that answers at once), the time from a container's
first read to its metadata (the wait a first alert costs when the runtime is healthy),
and checks that a runtime slower than the deadline costs the event path the deadline
once, not once per event. No real dockerd/containerd runs here, so real runtimes add
their own lookup time (Docker's inspect is typically a few ms on a local socket).

Run: .venv/bin/python bench/container_first_alert.py [--n 200]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests/sources/syscall/containers"))

from runtime_doubles import (
    CriDouble,
    DockerDouble,
    cri_sandbox,
    cri_status,
    docker_inspect,
)

from lanner.sources.syscall.containers.cri.client import CriResolver
from lanner.sources.syscall.containers.docker import DockerResolver
from lanner.sources.syscall.containers.store import MetadataStore


def _first_reads(store: MetadataStore, ids: list[str]) -> list[float]:
    """Milliseconds each container's first read took (its metadata must be there)."""
    out = []
    for cid in ids:
        t0 = time.perf_counter()
        info = store.get(cid[:12])
        out.append((time.perf_counter() - t0) * 1000)
        if info is None:
            raise SystemExit(f"no metadata within the deadline for {cid[:12]}")
    return out


def _summary(name: str, ms: list[float]) -> None:
    ms = sorted(ms)
    p95 = ms[int(len(ms) * 0.95) - 1]
    print(
        f"{name}: first read waits p50 {statistics.median(ms):.2f} ms, p95 {p95:.2f} ms, "
        f"max {ms[-1]:.2f} ms ({len(ms)} new containers)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()
    ids = [secrets.token_hex(32) for _ in range(args.n)]  # distinct 12-char prefixes
    with tempfile.TemporaryDirectory() as tmp:
        docker = DockerDouble(
            f"{tmp}/docker.sock",
            {c: docker_inspect(c, f"app-{i}", "nginx:1.25") for i, c in enumerate(ids)},
        )
        store = MetadataStore(deadline=1.0)
        resolver = DockerResolver(docker.path)
        store.add_resolver(resolver)
        _summary("docker (HTTP, unix socket)", _first_reads(store, ids))
        store.close()

        sandbox = "f" * 64
        cri = CriDouble(
            f"{tmp}/cri.sock",
            {c: cri_status(c, f"app-{i}", "nginx:1.25", sandbox) for i, c in enumerate(ids)},
            {sandbox: cri_sandbox(sandbox, "web", "shop", "uid-1", "10.244.0.9")},
        )
        store = MetadataStore(deadline=1.0)
        store.add_resolver(CriResolver(cri.path))
        _summary("cri (gRPC, unix socket)", _first_reads(store, ids))
        store.close()

        # a runtime slower than the deadline: the wait is paid once per lookup
        docker.delay = 0.5
        store = MetadataStore(deadline=0.1)
        store.add_resolver(DockerResolver(docker.path))
        cid = ids[0][:12]
        t0 = time.perf_counter()
        reads, longest = 0, 0.0
        while time.perf_counter() - t0 < 2.0:
            t1 = time.perf_counter()
            info = store.get(cid)
            longest = max(longest, time.perf_counter() - t1)
            reads += 1
            if info is not None:
                break
        print(
            f"slow runtime (answers in 500 ms, deadline 100 ms): {reads} reads before the "
            f"metadata arrived after {(time.perf_counter() - t0) * 1000:.0f} ms; longest "
            f"single read {longest * 1000:.0f} ms"
        )
        store.close()
        docker.stop()
        cri.stop()


if __name__ == "__main__":
    main()
