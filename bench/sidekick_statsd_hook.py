"""The cost of the StatsD observer hook on the sidekick's counting, per count, in-process.

Times `Stats.input("accepted", 1, priority)` and `Stats.output(...)` (what the service does
per accepted alert and per delivery) with no StatsD output, then with the StatsD and the
DogStatsD outputs attached, against the yardstick run in the same call: the counting as it
was before the hook (the same two tally increments, no observer test). Runs alternate and
each figure is the median (and the minimum, the least disturbed by a busy machine) of
`--rounds`, in ns of process CPU time per call.

Run: .venv/bin/python bench/sidekick_statsd_hook.py [--calls 200000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter as Tally
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from lanner.services.sidekick.alert import Priority
from lanner.services.sidekick.outputs.base import OutputContext
from lanner.services.sidekick.outputs.statsd import Dogstatsd, Statsd
from lanner.services.sidekick.stats import Stats


class Before:
    """Stats.input and Stats.output as they were before the hook."""

    def __init__(self) -> None:
        self.inputs: Tally[str] = Tally()
        self.outputs: Tally[tuple[str, str, str]] = Tally()
        self.tally: Tally[tuple[str, str]] = Tally()

    def input(self, status: str, count: int = 1) -> None:
        self.inputs[status] += count
        self.tally[("input", status)] += count

    def output(self, destination: str, priority: str, status: str, count: int = 1) -> None:
        self.outputs[(destination, priority, status)] += count
        self.tally[(destination, status)] += count


def per_call(run: Callable[[int], None], calls: int) -> float:
    """ns of process CPU time per call of `run(calls)`."""
    start = time.process_time_ns()
    run(calls)
    return (time.process_time_ns() - start) / calls


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    before = Before()
    plain = Stats(CollectorRegistry())
    observed = Stats(CollectorRegistry())
    ctx = OutputContext(registry=CollectorRegistry(), enabled=["statsd", "dogstatsd"])
    settings = {"forwarder": "127.0.0.1:9", "namespace": "falcosidekick.", "tags": []}
    counters = [Statsd(settings, ctx), Dogstatsd(settings, ctx)]
    for counter in counters:
        counter.attach(observed)
    warning = Priority.WARNING

    def old(n: int) -> None:
        for _ in range(n):
            before.input("accepted")
            before.output("webhook", "warning", "sent")

    def new(stats: Stats) -> Callable[[int], None]:
        def run(n: int) -> None:
            for _ in range(n):
                stats.input("accepted", 1, warning)
                stats.output("webhook", "warning", "sent")

        return run

    cases = {"before_hook": old, "no_statsd": new(plain), "statsd_and_dogstatsd": new(observed)}
    figures: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, run in cases.items():
            figures[name].append(per_call(run, args.calls))
    for counter in counters:  # series are made at flush time, off the alert path
        counter.take()
    out: dict[str, object] = {"calls": args.calls, "rounds": args.rounds}
    for stat, pick in (("median", statistics.median), ("min", min)):
        values = {name: pick(runs) for name, runs in figures.items()}
        out[f"ns_per_alert_{stat}"] = {k: round(v, 1) for k, v in values.items()}
        out[f"ratio_to_before_{stat}"] = {
            k: round(v / values["before_hook"], 3) for k, v in values.items()
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
