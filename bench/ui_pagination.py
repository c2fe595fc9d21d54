"""Benchmark the `lanner ui` store at 1 M alerts: ingest rate and events-query latency.

Seeds N alerts (default 1 000 000, spread over 30 days) into a fresh SQLite file — and, with
`--backend postgres`, into a throw-away PostgreSQL server started on loopback — then times
keyset page queries at random depths, unfiltered and filtered, plus an OFFSET query for
contrast, and a 24 h stats query. Prints a Markdown table.

    .venv/bin/python bench/ui_pagination.py                      # SQLite, 1 M alerts
    .venv/bin/python bench/ui_pagination.py --backend postgres --alerts 1000000
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "services" / "ui"))

import httpx  # noqa: E402
import ui_pgserver  # noqa: E402
from ui_seed import make_alert  # noqa: E402

from lanner.services.ui.alerts import from_alert  # noqa: E402
from lanner.services.ui.query import Cursor, EventFilter  # noqa: E402
from lanner.services.ui.store import Store, open_store  # noqa: E402

DAY_NS = 86_400 * 10**9
BATCH = 2_000


def seed(store: Store, count: int, end_ns: int) -> float:
    """Insert `count` alerts over 30 days ending at `end_ns`; return alerts/s."""
    step = 30 * DAY_NS // count
    rng = random.Random(7)
    elapsed = 0.0
    for start in range(0, count, BATCH):
        batch = [
            from_alert(make_alert(i, end_ns - (count - 1 - i) * step, rng))
            for i in range(start, min(start + BATCH, count))
        ]
        t0 = time.perf_counter()
        store.insert(batch)
        elapsed += time.perf_counter() - t0
        if start % 100_000 == 0:
            print(f"  seeded {start:,}", file=sys.stderr)
    return count / elapsed


def timings(fn: Callable[[int], object], runs: int) -> tuple[float, float]:
    """p50 and p95 in ms of `fn(run_number)`."""
    samples = []
    for n in range(runs):
        t0 = time.perf_counter()
        fn(n)
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(0.95 * len(samples)))]


def run(store: Store, label: str, count: int, runs: int, analyze: bool = False) -> list[str]:
    """Seed, then time the queries; return Markdown table rows.

    `analyze` refreshes planner statistics first, as autovacuum does on a server in service
    (without them PostgreSQL cannot tell a rare search word from a common one).
    """
    end_ns = time.time_ns()
    rate = seed(store, count, end_ns)
    if analyze:
        store._write("ANALYZE", [])
    rows = [f"| {label} | ingest (store.insert, batches of {BATCH}) | {rate:,.0f} alerts/s | |"]

    def row(name: str, p50_p95: tuple[float, float]) -> str:
        return f"| {label} | {name} | p50 {p50_p95[0]:.1f} ms | p95 {p50_p95[1]:.1f} ms |"

    rng = random.Random(1)
    start_ns = end_ns - 30 * DAY_NS

    def random_cursor(_: int) -> Cursor:
        # any (time, id) position works as a keyset cursor: jump anywhere in the list
        return Cursor(rng.randrange(start_ns, end_ns), 2**62)

    cases: list[tuple[str, EventFilter]] = [
        ("no filter", EventFilter()),
        ("priority >= Error", EventFilter(max_priority=3)),
        ("rule = Write below etc", EventFilter(rules=("Write below etc",))),
        ("hostname = node-2", EventFilter(hostnames=("node-2",))),
        ("tag = T1059", EventFilter(tags=("T1059",))),
        ("namespace/pod", EventFilter(namespaces=("prod",), pods=("api-7-pod",))),
        ("q = xmrig (20 % of alerts)", EventFilter(query="xmrig")),
        ("q = 123456 (one alert)", EventFilter(query="123456")),
        (
            "q = shadow + host + priority",
            EventFilter(query="shadow", hostnames=("node-1",), max_priority=4),
        ),
    ]
    for name, flt in cases:
        first = timings(lambda _n, f=flt: store.page(f, None, 50), runs)
        deep = timings(lambda n, f=flt: store.page(f, random_cursor(n), 50), runs)
        rows.append(row(f"first page, {name}", first))
        rows.append(row(f"random deep page, {name}", deep))
    depth = int(count * 0.9)
    offset_sql = store._sql(
        "SELECT id FROM events ORDER BY time_ns DESC, id DESC LIMIT 50 OFFSET ?"
    )
    offset = timings(lambda _n: store._fetchall(offset_sql, [depth]), max(3, runs // 10))
    rows.append(row(f"OFFSET {depth:,} (for contrast, not used)", offset))
    stats = timings(
        lambda _n: store.stats(EventFilter(since_ns=end_ns - DAY_NS), 1800 * 10**9),
        max(3, runs // 10),
    )
    rows.append(row("stats, last 24 h", stats))
    stats = timings(lambda _n: store.stats(EventFilter(), DAY_NS), 3)
    rows.append(row("stats, all time", stats))
    return rows


def http_ingest(folder: str, batches: int, singles: int) -> list[str]:
    """Alerts/s through `lanner ui` over HTTP (a separate process), in batches and one by one."""
    port = ui_pgserver.free_port()
    launch = [sys.executable, "-c", "from lanner.cli import main; main()", "ui"]
    db = Path(folder) / "http.db"
    proc = subprocess.Popen(
        [*launch, "--port", str(port), "--db", str(db), "--log-level", "warning"]
    )
    rows = []
    try:
        ui_pgserver.wait_port(port, 30)
        rng = random.Random(3)
        now = time.time_ns()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            body = [make_alert(i, now + i, rng) for i in range(1000)]
            t0 = time.perf_counter()
            for _ in range(batches):
                client.post("/api/v1/events", json=body).raise_for_status()
            rate = batches * len(body) / (time.perf_counter() - t0)
            rows.append(f"| SQLite | HTTP ingest, POST arrays of 1000 | {rate:,.0f} alerts/s | |")
            t0 = time.perf_counter()
            for i in range(singles):
                client.post("/api/v1/events", json=body[i % len(body)]).raise_for_status()
            rate = singles / (time.perf_counter() - t0)
            rows.append(
                f"| SQLite | HTTP ingest, one alert per POST (Falco http_output) | "
                f"{rate:,.0f} alerts/s | |"
            )
    finally:
        proc.terminate()
        proc.wait(15)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=50, help="timed queries per case")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--dir", help="where the SQLite file goes (default: a temp dir)")
    parser.add_argument("--http-batches", type=int, default=100, help="0 skips HTTP ingest")
    args = parser.parse_args()
    print(f"{args.alerts:,} alerts, {args.runs} runs per query, {os.cpu_count()} CPUs")
    print("\n| store | query | p50 / rate | p95 |\n| --- | --- | --- | --- |")
    with ExitStack() as stack:
        if args.backend in ("sqlite", "both"):
            folder = args.dir or stack.enter_context(tempfile.TemporaryDirectory())
            store = open_store(str(Path(folder) / "bench.db"))
            stack.callback(store.close)
            for row in run(store, "SQLite", args.alerts, args.runs):
                print(row, flush=True)
            size = sum(p.stat().st_size for p in Path(folder).glob("bench.db*"))
            print(f"| SQLite | database size | {size / 2**20:,.0f} MiB | |")
            if args.http_batches:
                for row in http_ingest(folder, args.http_batches, 2000):
                    print(row, flush=True)
        if args.backend in ("postgres", "both"):
            admin = stack.enter_context(ui_pgserver.pg_server())
            store = open_store(ui_pgserver.create_database(admin, "bench"))
            stack.callback(store.close)
            for row in run(store, "PostgreSQL", args.alerts, args.runs, analyze=True):
                print(row, flush=True)


if __name__ == "__main__":
    main()
