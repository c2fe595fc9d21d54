"""``lanner generate bench``: actions at increasing rates until Lanner misses one or drops.

Each step runs the selected actions round-robin at a target rate for a few seconds
(on a small thread pool, so slow actions do not cap the rate), waits for every alert,
and reads Lanner's drop counters (Prometheus ``/metrics``: ``lanner_event_drops_total``
and ``lanner_output_drops_total``) and its CPU time and RSS (/proc/PID).
"""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from lanner.services.generate.action import Action, RunContext
from lanner.services.generate.alerts import AlertFeed
from lanner.services.generate.procstat import Sample, cpu_percent, sample
from lanner.services.generate.runner import PASS, Result, perform

DROP_METRICS = ("lanner_event_drops_total", "lanner_output_drops_total")


def read_drops(metrics_url: str | None, sources: set[str] | None = None) -> int | None:
    """Sum of Lanner's drop counters at ``metrics_url``; None when unreadable.

    ``sources``: count event drops of these sources only (all when None); alert drops of
    the outputs always count.
    """
    if not metrics_url:
        return None
    try:
        with urllib.request.urlopen(metrics_url, timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(DROP_METRICS):
            continue
        m = re.search(r'source="([^"]*)"', line)
        if sources is not None and m and m.group(1) not in sources:
            continue  # event drops of another source
        total += float(line.rsplit(" ", 1)[1])
    return int(total)


@dataclass(slots=True)
class Step:
    """One rate step: target and achieved rate, runs, detections, drops, CPU and RSS."""

    target_rate: float
    achieved_rate: float
    runs: int
    detected: int
    errors: int
    drops: int | None
    cpu_percent: float | None
    rss_bytes: int | None

    @property
    def ok(self) -> bool:
        """Every run detected, none failed, no drop (when drops are known)."""
        return self.errors == 0 and self.detected == self.runs and not self.drops


def run_step(
    actions: Sequence[Action],
    feed: AlertFeed,
    ctx: RunContext,
    rate: float,
    seconds: float,
    *,
    pid: int | None,
    metrics_url: str | None,
    grace: float,
    workers: int = 8,
) -> Step:
    """Drive ``actions`` at ``rate`` per second for ``seconds``; wait ``grace`` for alerts."""
    sources = {a.source for a in actions}
    drops0 = read_drops(metrics_url, sources)
    before: Sample | None = sample(pid) if pid else None
    t0 = time.monotonic()
    start = feed.mark()
    futures: list[Future[Result]] = []
    n = max(1, round(rate * seconds))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i in range(n):
            due = t0 + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(perform, actions[i % len(actions)], ctx))
        results = [f.result() for f in futures]
    elapsed = time.monotonic() - t0
    deadline = time.monotonic() + grace
    detected = errors = 0
    for res in results:
        if res.status != PASS or res.outcome is None:
            errors += 1
            continue
        left = max(0.0, deadline - time.monotonic())
        if feed.wait_for(res.action.rule, res.outcome.marker, left, start) is not None:
            detected += 1
    wall = time.monotonic() - t0
    after = sample(pid) if pid else None
    drops1 = read_drops(metrics_url, sources)
    return Step(
        target_rate=rate,
        achieved_rate=n / elapsed if elapsed > 0 else float(n),
        runs=n,
        detected=detected,
        errors=errors,
        drops=None if drops0 is None or drops1 is None else drops1 - drops0,
        cpu_percent=cpu_percent(before, after, wall) if before and after else None,
        rss_bytes=after.rss_bytes if after else None,
    )


def bench(
    actions: Sequence[Action],
    feed: AlertFeed,
    ctx: RunContext,
    rates: Sequence[float],
    seconds: float,
    *,
    pid: int | None,
    metrics_url: str | None,
    grace: float = 10.0,
    on_step: Callable[[Step], None] | None = None,
) -> tuple[list[Step], Step | None]:
    """Steps at each rate until one fails; (all steps, the best passing step)."""
    steps: list[Step] = []
    best: Step | None = None
    for rate in rates:
        step = run_step(
            actions, feed, ctx, rate, seconds, pid=pid, metrics_url=metrics_url, grace=grace
        )
        steps.append(step)
        if on_step:
            on_step(step)
        if not step.ok:
            break
        best = step
    return steps, best


def format_step(step: Step) -> str:
    """One line of the bench table."""
    drops = "?" if step.drops is None else str(step.drops)
    cpu = "?" if step.cpu_percent is None else f"{step.cpu_percent:.0f}%"
    rss = "?" if step.rss_bytes is None else f"{step.rss_bytes / 2**20:.0f} MiB"
    verdict = "ok" if step.ok else "FAIL"
    return (
        f"{step.target_rate:>8g}/s {step.achieved_rate:>8.1f}/s {step.detected:>5}/{step.runs:<5}"
        f" {step.errors:>6} {drops:>6} {cpu:>6} {rss:>9}  {verdict}"
    )


HEADER = "  target   achieved  detected  errors  drops    cpu       rss"
