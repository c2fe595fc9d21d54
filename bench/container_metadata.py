"""Cost of the container metadata path: a field read on a cache hit, on a miss (lookup
in flight, or the runtime failed and the retry is not due), on the host, and memory per
container.

Run: .venv/bin/python bench/container_metadata.py
"""

from __future__ import annotations

import logging
import threading
import time
import tracemalloc
from types import SimpleNamespace

from lanner.exceptions import LookupFailed
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


def _per_event(getter, events, rounds: int = 20) -> tuple[float, int]:
    n = 0
    t0 = time.perf_counter()
    for _ in range(rounds):
        for ev in events:
            getter(ev)
            n += 1
    return (time.perf_counter() - t0) / n * 1e9, n


def _miss_figures(events) -> tuple[float, float]:
    """ns per read while every lookup is in flight, and after every lookup failed."""
    release = threading.Event()

    def hanging(cid: str) -> ContainerInfo | None:
        release.wait()
        return None

    store = MetadataStore()
    store.add_resolver(hanging)
    getter = {f.name: f for f in metadata_fields(store)}["container.image.repository"].bind(None)
    for ev in events[:1000]:
        getter(ev)  # starts the 1,000 lookups (they wait in the pool)
    pending, _ = _per_event(getter, events)
    release.set()
    store.close()

    def failing(cid: str) -> ContainerInfo | None:
        raise LookupFailed("engine down")

    store = MetadataStore()
    store.MAX_BACKOFF = 3600.0
    store.add_resolver(failing)
    getter = {f.name: f for f in metadata_fields(store)}["container.image.repository"].bind(None)
    for ev in events[:1000]:
        getter(ev)
    for ev in events[:1000]:
        store.wait(ev.thread.container_id, 10)
    failed, _ = _per_event(getter, events)
    store.close()
    return pending, failed


def main() -> None:
    """Print the figures."""
    logging.getLogger("lanner.sources.syscall.containers").setLevel(logging.ERROR)
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
    hit, n = _per_event(getter, events)
    host_events = [SimpleNamespace(thread=SimpleNamespace(container_id="host"))] * 10_000
    host, _ = _per_event(getter, host_events)
    store.close()
    pending, failed = _miss_figures(events)
    print(f"metadata for 1,000 containers: {size / 1024:.0f} KiB ({size / 1000:.0f} B each)")
    print(f"container.image.repository on a cache hit: {hit:.0f} ns per event ({n} reads)")
    print(f"  on a miss, lookup in flight: {pending:.0f} ns per event")
    print(f"  on a miss, runtime failed (retry not due): {failed:.0f} ns per event")
    print(f"  on the host: {host:.0f} ns per event")


if __name__ == "__main__":
    main()
