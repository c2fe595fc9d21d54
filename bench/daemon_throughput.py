"""Throughput of ``lanner run``'s run loop: engine alone vs. the daemon with outputs.

Events are the quickstart JSON-lines events (each raises one alert) mixed with copies
that raise none (``proc.name`` changed), at a chosen alert ratio. Reports events/s for:
  * the engine alone (``engine.process`` in a loop, alerts discarded),
  * the loop ``lanner run`` had before the daemon: process, format JSON, write to a file
    (/dev/null) on the same thread,
  * the daemon in replay mode (outputs apply backpressure) with the file output writing
    Falco JSON to /dev/null,
  * the daemon in live mode: JSON lines written into a pipe, read and decoded as ``-e -``
    reads stdin (so this one includes JSON parsing), same output.

Run: .venv/bin/python bench/daemon_throughput.py [--events N] [--alert-ratio R]
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from lanner.app.config import load_config
from lanner.app.daemon import Daemon, RunOptions
from lanner.app.inputs import json_line_sources
from lanner.app.live import LiveFeed, read_stream
from lanner.engine.engine import Engine

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT.parent / "shared" / "fixtures" / "rules" / "falco_rules.yaml"
QUICKSTART = ROOT / "examples" / "quickstart-events.jsonl"


def make_events(n: int, alert_ratio: float) -> list[tuple[str, dict[str, Any]]]:
    base = [orjson.loads(ln) for ln in QUICKSTART.read_bytes().splitlines() if ln.strip()]
    alerting = [e for e in base if e.get("proc.name") in ("bash", "cat", "nc")]
    quiet = []
    for e in alerting:
        q = dict(e)
        q["proc.name"] = "nginx"
        q["fd.name"] = "/var/www/index.html"
        quiet.append(q)
    every = max(1, round(1 / alert_ratio)) if alert_ratio > 0 else 0
    events = []
    for i in range(n):
        pool = alerting if every and i % every == 0 else quiet
        events.append(("syscall", dict(pool[i % len(pool)])))
    return events


def daemon(live: bool) -> Daemon:
    cfg = load_config(
        None,
        [
            f"rules_files=[{RULES}]",
            "json_output=true",
            "stdout_output.enabled=false",
            "file_output.enabled=true",
            "file_output.keep_alive=true",
            "file_output.filename=/dev/null",
            "buffered_outputs=true",
        ],
    )
    d = Daemon(cfg, RunOptions(live=live), json_line_sources())
    assert d.load().successful
    return d


def bench_engine(events: list[tuple[str, dict[str, Any]]]) -> tuple[float, int]:
    engine = Engine(json_line_sources())
    engine.load_rules([RULES])
    alerts = 0
    t0 = time.perf_counter()
    for source, ev in events:
        alerts += len(engine.process(ev, source))
    return time.perf_counter() - t0, alerts


def bench_direct(events: list[tuple[str, dict[str, Any]]]) -> tuple[float, int]:
    from lanner.engine.alert import JsonOptions

    engine = Engine(json_line_sources())
    engine.load_rules([RULES])
    opts = JsonOptions()
    written = 0
    t0 = time.perf_counter()
    with open("/dev/null", "wb") as out:
        for source, ev in events:
            for alert in engine.process(ev, source):
                out.write(alert.to_json(opts) + b"\n")
                written += 1
    return time.perf_counter() - t0, written


def bench_replay(events: list[tuple[str, dict[str, Any]]]) -> tuple[float, int]:
    d = daemon(live=False)
    d.start()
    t0 = time.perf_counter()
    d.run(iter(events))
    d.shutdown()  # includes flushing every queued alert
    return time.perf_counter() - t0, d.stats.outputs["file"].sent


def bench_live(events: list[tuple[str, dict[str, Any]]]) -> tuple[float, int, int]:
    """JSON lines written into a pipe by a thread, read as ``-e -`` reads stdin."""
    data = b"".join(orjson.dumps({**e, "source": s}) + b"\n" for s, e in events)
    d = daemon(live=True)
    feed = LiveFeed()
    d.start(feed)
    r, w = os.pipe()

    def write() -> None:
        with os.fdopen(w, "wb") as fh:
            fh.write(data)

    t0 = time.perf_counter()
    threading.Thread(target=write, daemon=True).start()
    feed.add_producer(read_stream(os.fdopen(r, "rb"), "pipe"), "bench")
    d.run(feed.events())
    d.shutdown()
    return time.perf_counter() - t0, d.stats.outputs["file"].sent, d.stats.outputs["file"].dropped


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--alert-ratio", type=float, default=0.01)
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs of each mode")
    args = ap.parse_args()
    events = make_events(args.events, args.alert_ratio)
    n = len(events)
    results: dict[str, Any] = {"events": n, "alert_ratio": args.alert_ratio}
    modes = {
        "engine_only": bench_engine,
        "direct_loop": bench_direct,
        "daemon_replay": bench_replay,
        "daemon_live": bench_live,
    }
    best: dict[str, float] = {}
    for _ in range(args.repeat):  # interleaved, so load changes hit every mode alike
        for name, fn in modes.items():
            out = fn([(s, dict(e)) for s, e in events])
            best[name] = min(best.get(name, float("inf")), out[0])
            results[f"{name}_alerts_out"] = out[1]
            if len(out) > 2:
                results[f"{name}_alerts_dropped"] = out[2]
    for name, secs in best.items():
        results[f"{name}_events_per_s"] = round(n / secs)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
