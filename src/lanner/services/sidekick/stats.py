"""The service's own counters, exposed on /metrics and summarised on /healthz."""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import CollectorRegistry, Counter, Gauge

_FSK_STATUS = {"sent": "ok", "failed": "error"}  # Falcosidekick counts each attempt


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
        # Falcosidekick's own series, same names and labels, so its dashboards keep working
        self.fsk_inputs = Counter(
            "falcosecurity_falcosidekick_inputs",
            "Requests received, by source and status (Falcosidekick's series)",
            ["source", "status"],
            registry=registry,
        )
        self.fsk_outputs = Counter(
            "falcosecurity_falcosidekick_outputs",
            "Delivery attempts by output and status ok/error (Falcosidekick's series)",
            ["destination", "status"],
            registry=registry,
        )
        self.tally: Tally[tuple[str, str]] = Tally()
        self._children: dict[object, Counter] = {}  # labels() looked up once

    def input(self, status: str, count: int = 1) -> None:
        """Count received alerts (`accepted`, `rejected` or `failed`)."""
        child = self._children.get(status)
        if child is None:
            child = self._children[status] = self.inputs.labels(status)
            fsk = "accepted" if status == "accepted" else "rejected"
            self._children[("fsk", status)] = self.fsk_inputs.labels("requests", fsk)
        child.inc(count)
        self._children[("fsk", status)].inc(count)
        self.tally[("input", status)] += count

    def output(self, destination: str, priority: str, status: str, count: int = 1) -> None:
        """Count delivery outcomes."""
        key = (destination, priority, status)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.outputs.labels(destination, priority, status)
            fsk = _FSK_STATUS.get(status)
            if fsk:
                self._children[("fsk", destination, status)] = self.fsk_outputs.labels(
                    destination, fsk
                )
        child.inc(count)
        fsk_child = self._children.get(("fsk", destination, status))
        if fsk_child is not None:
            fsk_child.inc(count)
        self.tally[(destination, status)] += count

    def snapshot(self) -> dict[str, dict[str, int]]:
        """`{destination: {status: count}}`, with `input` for inputs."""
        out: dict[str, dict[str, int]] = {}
        for (dest, status), count in sorted(self.tally.items()):
            out.setdefault(dest, {})[status] = count
        return out
