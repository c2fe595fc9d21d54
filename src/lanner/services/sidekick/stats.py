"""The service's own counters, exposed on /metrics and summarised on /healthz."""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import CollectorRegistry, Counter, Gauge


class Stats:
    """Inputs accepted/rejected; per output and priority: sent, failed, retried, dropped."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.inputs = Counter(
            "lanner_sidekick_inputs", "Alerts received, by status", ["status"], registry=registry
        )
        self.outputs = Counter(
            "lanner_sidekick_outputs",
            "Delivery outcomes by output, priority and status (sent/failed/retried/dropped)",
            ["destination", "priority", "status"],
            registry=registry,
        )
        self.queue = Gauge(
            "lanner_sidekick_queue_depth",
            "Alerts waiting per output",
            ["destination"],
            registry=registry,
        )
        self.tally: Tally[tuple[str, str]] = Tally()

    def input(self, status: str) -> None:
        """Count one received alert (`accepted` or `rejected`)."""
        self.inputs.labels(status).inc()
        self.tally[("input", status)] += 1

    def output(self, destination: str, priority: str, status: str) -> None:
        """Count one delivery outcome."""
        self.outputs.labels(destination, priority, status).inc()
        self.tally[(destination, status)] += 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        """`{destination: {status: count}}`, with `input` for inputs."""
        out: dict[str, dict[str, int]] = {}
        for (dest, status), count in sorted(self.tally.items()):
            out.setdefault(dest, {})[status] = count
        return out
