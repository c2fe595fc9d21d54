"""The throughput benchmark runs end to end (it waits for every alert to be delivered)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from helpers import require_tool
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


def test_wrk_bench_runs_one_round_end_to_end() -> None:
    """bench/sidekick_wrk.py: wrk against the yardstick and the sidekick, with a webhook
    output whose sink must get every accepted alert (the bench fails on any refusal)."""
    require_tool("wrk", "wrk")
    bench = Path(__file__).resolve().parents[3] / "bench" / "sidekick_wrk.py"
    out = subprocess.run(
        [sys.executable, str(bench), "--seconds", "1", "--rounds", "1", "--connections", "2",
         "--deliver", "--concurrency", "2", "--spool"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["sidekick_per_s"] > 0 and result["yardstick_per_s"] > 0
    assert result["delivered_per_s"] > 0 and result["target_alone_per_s"] > 0
    assert result["ratio"] > 0 and result["delivered_vs_target"] > 0


def test_inproc_bench_answers_every_request_and_delivers_every_alert() -> None:
    bench = Path(__file__).resolve().parents[3] / "bench" / "sidekick_inproc.py"
    runs = (
        ["ingest", "--alerts", "500"],
        ["ingest", "--alerts", "500", "--statsd"],
        ["deliver", "--alerts", "500", "--spool"],
    )
    for args in runs:
        out = subprocess.run(
            [sys.executable, str(bench), *args], capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr  # it fails on a missing answer or alert
        assert json.loads(out.stdout.strip().splitlines()[-1])["cpu_us_per_alert"] > 0


def test_statsd_hook_bench_reports_each_case() -> None:
    bench = Path(__file__).resolve().parents[3] / "bench" / "sidekick_statsd_hook.py"
    out = subprocess.run(
        [sys.executable, str(bench), "--calls", "2000", "--rounds", "3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    figures = result["ns_per_alert_median"]
    assert set(figures) == {"before_hook", "no_statsd", "statsd_and_dogstatsd"}
    assert all(value > 0 for value in figures.values())
    assert result["ratio_to_before_median"]["before_hook"] == 1.0
