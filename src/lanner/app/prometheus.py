"""Prometheus exposition of :class:`~lanner.app.metrics.Stats` (read at scrape time)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from lanner.app.metrics import Stats, lanner_version, memory_bytes


class StatsCollector(Collector):
    """Builds the ``lanner_*`` series from the daemon's counters on each scrape."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[object]:
        s = self.stats
        info = InfoMetricFamily("lanner", "Lanner build information")
        info.add_metric([], {"version": lanner_version()})
        yield info
        ev = CounterMetricFamily("lanner_events", "Events evaluated, by source", labels=["source"])
        for source, n in sorted(s.events.items()):
            ev.add_metric([source], n)
        yield ev
        drops = CounterMetricFamily(
            "lanner_event_drops", "Events lost before evaluation", labels=["source", "reason"]
        )
        for (source, reason), n in sorted(s.event_drops.items()):
            drops.add_metric([source, reason], n)
        yield drops
        errors = CounterMetricFamily(
            "lanner_event_errors",
            "Exceptions raised by one event (evaluation) or alert (output), survived",
            labels=["source", "stage"],
        )
        for (source, stage), n in sorted(s.event_errors.items()):
            errors.add_metric([source, stage], n)
        yield errors
        rule_errors = CounterMetricFamily(
            "lanner_rule_errors",
            "Exceptions raised by a rule's condition or output on one event, survived",
            labels=["rule", "stage"],
        )
        for (rule, stage), n in sorted(s.rule_errors.items()):
            rule_errors.add_metric([rule, stage], n)
        yield rule_errors
        alerts = CounterMetricFamily(
            "lanner_alerts", "Alerts raised", labels=["rule", "priority", "source"]
        )
        for (rule, prio, source), n in sorted(s.alerts.items()):
            alerts.add_metric([rule, prio, source], n)
        yield alerts
        yield CounterMetricFamily(
            "lanner_alerts_throttled", "Alerts refused by outputs.rate", value=s.throttled
        )
        fams = {
            "sent": CounterMetricFamily(
                "lanner_output_sent", "Alerts delivered", labels=["output"]
            ),
            "errors": CounterMetricFamily(
                "lanner_output_errors", "Output delivery errors", labels=["output"]
            ),
            "dropped": CounterMetricFamily(
                "lanner_output_drops",
                "Alerts lost: spill full or failing, or the output stuck at stop",
                labels=["output"],
            ),
            "spilled": CounterMetricFamily(
                "lanner_output_spilled", "Alerts that waited in the spill file", labels=["output"]
            ),
            "retries": CounterMetricFamily(
                "lanner_output_retries", "Delivery retries", labels=["output"]
            ),
        }
        depth = GaugeMetricFamily("lanner_output_queue_depth", "Queued alerts", labels=["output"])
        depths = s.queue_depths()
        for name, o in sorted(s.outputs.items()):
            for attr, fam in fams.items():
                fam.add_metric([name], getattr(o, attr))
            depth.add_metric([name], depths.get(name, 0))
        yield from fams.values()
        yield depth
        yield GaugeMetricFamily("lanner_rules_loaded", "Rules in the ruleset", value=s.rules_loaded)
        yield GaugeMetricFamily(
            "lanner_rules_load_seconds", "Time of the last rules load", value=s.rules_load_seconds
        )
        reloads = CounterMetricFamily("lanner_rules_reloads", "Reloads", labels=["result"])
        for result in ("success", "failure"):
            reloads.add_metric([result], s.reloads.get(result, 0))
        yield reloads
        yield CounterMetricFamily(
            "lanner_rules_empty_reloads_refused",
            "Reloads refused because they would have left no rules or emptied a rules file "
            "(counted in lanner_rules_reloads_total{result='failure'} too)",
            value=s.empty_reloads_refused,
        )
        rss, vsz = memory_bytes()
        yield CounterMetricFamily("lanner_cpu_seconds", "CPU time used", value=s.cpu_seconds())
        yield GaugeMetricFamily(
            "lanner_cpu_usage_ratio", "CPU time / wall time since start", value=s.cpu_usage_ratio()
        )
        yield GaugeMetricFamily("lanner_memory_rss_bytes", "Resident memory", value=rss)
        yield GaugeMetricFamily("lanner_memory_vsz_bytes", "Virtual memory", value=vsz)
        yield GaugeMetricFamily(
            "lanner_start_time_seconds", "Start time, Unix seconds", value=s.start_ns / 1e9
        )


class ContainerCollector(Collector):
    """The container runtimes' state, from the socket watch and the metadata store at
    scrape time (nothing is counted on the event path). The families are always
    described; they have samples in live syscall runs with container engines."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[object]:
        containers = self.stats.containers  # set once the runtimes are configured
        up = GaugeMetricFamily(
            "lanner_container_runtime_up",
            "1: the runtime socket is there and its last metadata lookup did not fail",
            labels=["runtime", "socket"],
        )
        lookups = CounterMetricFamily(
            "lanner_container_metadata_lookups",
            "Container metadata lookups, by outcome (failed: each failed runtime call)",
            labels=["outcome"],
        )
        cached = GaugeMetricFamily(
            "lanner_container_metadata_cached", "Containers with metadata in the cache"
        )
        if containers is not None:
            for runtime, socket, ok in containers.runtimes():
                up.add_metric([runtime, socket], 1 if ok else 0)
            for outcome, n in containers.lookups().items():
                lookups.add_metric([outcome], n)
            cached.add_metric([], containers.cached())
        yield up
        yield lookups
        yield cached


def registry_for(stats: Stats) -> CollectorRegistry:
    """A registry holding only Lanner's series."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatsCollector(stats))
    registry.register(ContainerCollector(stats))
    return registry
