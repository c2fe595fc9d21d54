"""The throughput benchmark runs end to end (it waits for every alert to be delivered)."""

from __future__ import annotations

import asyncio

from lanner.services.sidekick.bench import run


def test_bench_delivers_every_alert() -> None:
    result = asyncio.run(run(alerts=40, connections=4, spool=True, concurrency=2))
    assert set(result) == {"accepted_per_s", "delivered_per_s"}
    assert result["accepted_per_s"] >= result["delivered_per_s"] > 0
