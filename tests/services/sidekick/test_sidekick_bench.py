"""The throughput benchmark runs end to end (it waits for every alert to be delivered)."""

from __future__ import annotations

import asyncio

from lanner.services.sidekick.bench import run

KEYS = {
    "accepted_per_s",
    "delivered_per_s",
    "sidekick_cpu_s",
    "sidekick_cpu_us_per_alert",
    "delivered_per_cpu_s",
}


def test_bench_delivers_every_alert() -> None:
    result = asyncio.run(run(alerts=40, connections=4, spool=True, concurrency=2))
    assert set(result) == KEYS
    assert result["accepted_per_s"] >= result["delivered_per_s"] > 0
    assert result["sidekick_cpu_s"] >= 0


def test_bench_batched_posts_deliver_every_alert() -> None:
    # 5 POSTs of 8 alerts each (JSON arrays): the webhook sink still gets 40 requests
    result = asyncio.run(run(alerts=40, connections=2, spool=False, concurrency=1, batch=8))
    assert result["accepted_per_s"] >= result["delivered_per_s"] > 0
