"""The service's own counters, exposed on /metrics and summarised on /healthz.

Counting is a dictionary increment on the alert path; the Prometheus series are built from
those counts when /metrics is scraped (a collector), not updated per alert (a prometheus
counter's `inc` takes a lock and checks its state: several microseconds per alert for the
four series an alert touches). The StatsD outputs read the same counts (`details` adds the
priority or refusal reason of inputs, kept only when one of them asks for it)."""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .alert import Priority

_FSK_STATUS = {"sent": "ok", "failed": "error"}  # Falcosidekick counts each attempt


def falcosidekick_status(status: str) -> str | None:
    """Falcosidekick's status for a delivery outcome (`ok`, `error`), None for Lanner's own
    (`retried`, `dropped`)."""
    return _FSK_STATUS.get(status)


class Stats(Collector):
    """Inputs accepted/rejected; per output and priority: sent, failed, retried, dropped;
    per output the queue depth (read at scrape time from `depth_of`)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.inputs: Tally[str] = Tally()  # status -> alerts
        self.outputs: Tally[tuple[str, str, str]] = Tally()  # (destination, priority, status)
        self.tally: Tally[tuple[str, str]] = Tally()  # (destination or "input", status)
        self.depths: dict[str, Callable[[], int]] = {}
        self.created = time.time()
        # (status, priority, reason) -> alerts; None (one test per input) until asked for
        self.details: Tally[tuple[str, Priority | None, str]] | None = None
        registry.register(self)

    def keep_details(self) -> Tally[tuple[str, Priority | None, str]]:
        """From now on, count inputs by status, priority and refusal reason too."""
        if self.details is None:
            self.details = Tally()
        return self.details

    def input(
        self, status: str, count: int = 1, priority: Priority | None = None, reason: str = ""
    ) -> None:
        """Count received alerts (`accepted`, `rejected` or `failed`); in `details` when kept,
        with the `priority` of accepted alerts and the `reason` of refused ones."""
        self.inputs[status] += count
        self.tally[("input", status)] += count
        if self.details is not None:
            self.details[(status, priority, reason)] += count

    def output(self, destination: str, priority: str, status: str, count: int = 1) -> None:
        """Count delivery outcomes."""
        self.outputs[(destination, priority, status)] += count
        self.tally[(destination, status)] += count

    def depth_of(self, destination: str, alerts: Callable[[], int]) -> None:
        """Report `alerts()` as the destination's queue depth."""
        self.depths[destination] = alerts

    def snapshot(self) -> dict[str, dict[str, int]]:
        """`{destination: {status: count}}`, with `input` for inputs."""
        out: dict[str, dict[str, int]] = {}
        for (dest, status), count in sorted(self.tally.items()):
            out.setdefault(dest, {})[status] = count
        return out

    def collect(self) -> Iterator[Metric]:
        """The series, from the counts (called by the registry on each scrape)."""
        created = self.created
        inputs = CounterMetricFamily(
            "lanner_sidekick_inputs", "Alerts received, by status", labels=["status"]
        )
        # Falcosidekick's own series, same names and labels, so its dashboards keep working
        fsk_inputs = CounterMetricFamily(
            "falcosecurity_falcosidekick_inputs",
            "Requests received, by source and status (Falcosidekick's series)",
            labels=["source", "status"],
        )
        fsk_in: Tally[str] = Tally()
        for status, count in sorted(self.inputs.items()):
            inputs.add_metric([status], count, created=created)
            fsk_in["accepted" if status == "accepted" else "rejected"] += count
        for status, count in sorted(fsk_in.items()):
            fsk_inputs.add_metric(["requests", status], count, created=created)
        outputs = CounterMetricFamily(
            "lanner_sidekick_outputs",
            "Delivery outcomes by output, priority and status (sent/failed/retried/dropped)",
            labels=["destination", "priority", "status"],
        )
        fsk_outputs = CounterMetricFamily(
            "falcosecurity_falcosidekick_outputs",
            "Delivery attempts by output and status ok/error (Falcosidekick's series)",
            labels=["destination", "status"],
        )
        fsk_out: Tally[tuple[str, str]] = Tally()
        for (dest, prio, status), count in sorted(self.outputs.items()):
            outputs.add_metric([dest, prio, status], count, created=created)
            fsk = falcosidekick_status(status)
            if fsk:
                fsk_out[(dest, fsk)] += count
        for (dest, fsk), count in sorted(fsk_out.items()):
            fsk_outputs.add_metric([dest, fsk], count, created=created)
        depth = GaugeMetricFamily(
            "lanner_sidekick_queue_depth", "Alerts waiting per output", labels=["destination"]
        )
        for dest, alerts in sorted(self.depths.items()):
            depth.add_metric([dest], alerts())
        yield from (inputs, outputs, depth, fsk_inputs, fsk_outputs)
