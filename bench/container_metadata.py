"""Cost of the container metadata path: a field read on a cache hit, and memory per container.

Run: .venv/bin/python bench/container_metadata.py
"""

from __future__ import annotations

import time
import tracemalloc
from types import SimpleNamespace

from lanner.sources.syscall.containers.fields import metadata_fields
from lanner.sources.syscall.containers.info import ContainerInfo, Mount
from lanner.sources.syscall.containers.store import MetadataStore


def _info(i: int) -> ContainerInfo:
    return ContainerInfo(
        id=f"{i:012x}",
        name=f"app-{i}",
        image=f"registry.example.com/team/app-{i % 50}:1.{i % 7}",
        image_repository=f"registry.example.com/team/app-{i % 50}",
        image_tag=f"1.{i % 7}",
        labels={
            "io.kubernetes.pod.name": f"app-{i}",
            "io.kubernetes.pod.namespace": "shop",
            "app": f"app-{i % 50}",
        },
        privileged=False,
        mounts=[Mount("/srv/data", "/data"), Mount("/etc/hosts", "/etc/hosts", rw=False)],
        pod_name=f"app-{i}",
        pod_namespace="shop",
        pod_labels={"app": f"app-{i % 50}", "tier": "web"},
        pod_ip=f"10.244.{i // 250}.{i % 250}",
    )


def main() -> None:
    """Print the figures."""
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    store = MetadataStore()
    for i in range(1000):
        store.put(_info(i))
    after = tracemalloc.take_snapshot()
    size = sum(s.size_diff for s in after.compare_to(before, "filename"))
    tracemalloc.stop()

    field = {f.name: f for f in metadata_fields(store)}["container.image.repository"]
    getter = field.bind(None)
    events = [
        SimpleNamespace(thread=SimpleNamespace(container_id=f"{i % 1000:012x}"))
        for i in range(10_000)
    ]
    n = 0
    t0 = time.perf_counter()
    for _ in range(20):
        for ev in events:
            getter(ev)
            n += 1
    elapsed = time.perf_counter() - t0
    print(f"metadata for 1,000 containers: {size / 1024:.0f} KiB ({size / 1000:.0f} B each)")
    print(
        f"container.image.repository on a cache hit: {elapsed / n * 1e9:.0f} ns per event "
        f"({n} reads)"
    )
    store.close()


if __name__ == "__main__":
    main()
