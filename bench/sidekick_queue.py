"""What a backlog costs `lanner sidekick` in-process (issue 23): N alerts accepted through
`Ingest.handle` for an output that never delivers, then the objects the garbage collector
tracks per queued alert, the memory per queued alert (tracemalloc) and the time of one
full collection with them queued.

Run: .venv/bin/python bench/sidekick_queue.py [--alerts 100000]
     (PYTHONPATH=OTHER/src to measure another tree). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
import tracemalloc
from typing import Any, ClassVar

import orjson
from prometheus_client import CollectorRegistry

from lanner.services.sidekick.alert import Alert
from lanner.services.sidekick.bench import bench_alert
from lanner.services.sidekick.delivery import Dispatcher, RetryPolicy
from lanner.services.sidekick.enrich import Enricher
from lanner.services.sidekick.ingest import Ingest
from lanner.services.sidekick.outputs.base import Output, OutputContext
from lanner.services.sidekick.stats import Stats


class Stuck(Output):
    """An output whose delivery never ends: everything after the first alert waits."""

    kind = "stuck"
    family = "bench"
    enable_key = None
    options: ClassVar[dict[str, Any]] = {}

    def __init__(self) -> None:
        super().__init__({}, OutputContext())

    async def send(self, alert: Alert) -> None:
        await asyncio.Event().wait()


async def measure(alerts: int) -> dict[str, Any]:
    """Queue `alerts` alerts; the collector's and the allocator's view of them."""
    stats = Stats(CollectorRegistry())
    dispatcher = Dispatcher([Stuck()], stats, RetryPolicy(), queuesize=alerts + 2000)
    await dispatcher.start()
    ingest = Ingest(dispatcher, Enricher(), stats)
    body = orjson.dumps(bench_alert())
    for _ in range(1000):  # the first allocations of the ingest and the loop
        ingest.handle(body)
    await asyncio.sleep(0)
    gc.collect()
    tracked = len(gc.get_objects())
    tracemalloc.start()
    traced = tracemalloc.get_traced_memory()[0]
    for _ in range(alerts):
        ingest.handle(body)
    traced = tracemalloc.get_traced_memory()[0] - traced
    tracemalloc.stop()
    gc.collect()
    tracked = len(gc.get_objects()) - tracked
    start = time.perf_counter()
    gc.collect()
    full = time.perf_counter() - start
    await dispatcher.stop()
    return {
        "alerts": alerts,
        "alert_bytes": len(body),
        "tracked_objects_per_alert": round(tracked / alerts, 2),
        "traced_bytes_per_alert": round(traced / alerts),
        "full_collection_ms": round(full * 1e3, 1),
        "tracked_objects": len(gc.get_objects()),
    }


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=100_000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.alerts))))


if __name__ == "__main__":
    main()
