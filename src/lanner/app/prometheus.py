"""Prometheus exposition of :class:`~lanner.app.metrics.Stats` (read at scrape time)."""

from __future__ import annotations

import os
import platform
import re
import socket
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from lanner.app.metrics import Stats, host_figures, lanner_version, memory_bytes
from lanner.engine.priority import Priority

_STATE_SERIES = {
    "threads": ("gauge", "Threads in the syscall state's thread table"),
    "threads_dropped": ("counter", "Threads refused at the thread table's cap"),
    "fds": ("gauge", "Fds tracked across every process (at the last count, every 2 s)"),
    "fds_dropped": ("counter", "Fds refused at a process's fd-table cap"),
    "fds_evicted": ("counter", "Fds evicted at the global cap on tracked fds"),
    "bad_records": ("counter", "Damaged probe ring records skipped"),
    "state_errors": ("counter", "Ring events the state engine failed on (skipped)"),
    "events_filtered": (
        "counter",
        "Ring events of the rules' types dropped in the native walk by their candidate conditions",
    ),
}
"""The live syscall pipeline's state counters as ``lanner_syscall_*`` series."""


class StatsCollector(Collector):
    """Builds the ``lanner_*`` series from the daemon's counters on each scrape."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        s = self.stats
        info = InfoMetricFamily("lanner", "Lanner build information")
        info.add_metric([], {"version": lanner_version()})
        yield info
        ev = CounterMetricFamily("lanner_events", "Events evaluated, by source", labels=["source"])
        for source, n in sorted(s.events.items()):
            ev.add_metric([source], n)
        yield ev
        skipped = CounterMetricFamily(
            "lanner_events_skipped",
            "Events (counted in lanner_events_total) no running rule can match, dropped before "
            "the rules by their candidate conditions",
            labels=["source"],
        )
        for source, n in sorted(s.events_skipped.items()):
            skipped.add_metric([source], n)
        yield skipped
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
        state = s.syscall_state()  # a live syscall pipeline's tables and bounds
        for key, (kind, doc) in _STATE_SERIES.items():
            if key in state:
                name, value = f"lanner_syscall_{key}", state[key]
                if kind == "gauge":
                    yield GaugeMetricFamily(name, doc, value=value)
                else:
                    yield CounterMetricFamily(name, doc, value=value)
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

    def collect(self) -> Iterator[Metric]:
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


class K8sMetaCollector(Collector):
    """The k8smeta watch: in sync or not, objects cached, failed requests, events."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        watcher = self.stats.k8smeta
        up = GaugeMetricFamily(
            "lanner_k8smeta_up", "1: every watched kind is in sync with the API server"
        )
        objects = GaugeMetricFamily(
            "lanner_k8smeta_objects", "Kubernetes objects cached, by kind", labels=["kind"]
        )
        errors = CounterMetricFamily(
            "lanner_k8smeta_errors", "Failed list or watch requests to the API server"
        )
        events = CounterMetricFamily("lanner_k8smeta_watch_events", "Watch events applied")
        if watcher is not None:
            up.add_metric([], 1 if watcher.connected else 0)
            for kind, n in watcher.cache.counts().items():
                objects.add_metric([kind], n)
            errors.add_metric([], watcher.errors)
            events.add_metric([], watcher.events)
        yield up
        yield objects
        yield errors
        yield events


class InputCollector(Collector):
    """The remote inputs' (github webhook, okta poller) refused or failed requests."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        errors = CounterMetricFamily(
            "lanner_input_errors",
            "Bad requests, refused deliveries and failed API calls of an input, by kind",
            labels=["source", "kind"],
        )
        for source, counters in sorted(self.stats.inputs.items()):
            for kind, n in sorted(dict(counters.errors).items()):
                errors.add_metric([source, kind], n)
        yield errors


_DOC = "https://falco.org/docs/metrics/"  # the help text Falco gives every series
_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")


def _label_name(name: str) -> str:
    """A label name as Falco sanitizes it: other characters become ``_``, runs collapse."""
    out = re.sub("_+", "_", _LABEL_CHARS.sub("_", name))
    return out if out[:1].isalpha() or out[:1] == "_" else "_" + out


def _info(name: str, labels: dict[str, str]) -> Metric:
    family = Metric(name, _DOC, "gauge")
    family.add_sample(f"{name}_info", labels, 1)
    return family


def _one(name: str, kind: str, value: float) -> Metric:
    family = Metric(name, _DOC, kind)
    family.add_sample(f"{name}_total" if kind == "counter" else name, {}, value)
    return family


class FalcoCollector(Collector):
    """Falco's own series (``falcosecurity_falco_*``, ``falcosecurity_scap_*``,
    ``falcosecurity_evt_*``), named and labelled as Falco 0.40+ serves them, from what
    Lanner has: Falco's Grafana dashboard reads them unchanged. Each family is written
    once (Falco repeats HELP/TYPE for every sample)."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        s = self.stats
        yield _info("falcosecurity_falco_version", {"version": lanner_version()})
        for kind in ("rules", "config"):
            family = Metric(f"falcosecurity_falco_sha256_{kind}_files", _DOC, "gauge")
            for path, digest in s.files_sha256.get(kind, []):
                labels = {"file_name": os.path.basename(path), "sha256": digest}
                family.add_sample(f"falcosecurity_falco_sha256_{kind}_files_info", labels, 1)
            yield family
        drops = sum(o.dropped for o in s.outputs.values())
        yield _one("falcosecurity_falco_outputs_queue_num_drops", "counter", drops)
        yield _one(
            "falcosecurity_falco_reload_timestamp_nanoseconds",
            "gauge",
            s.last_reload_ns or s.start_ns,
        )
        yield self._rules_matches()
        engines = s.engines()
        family = Metric("falcosecurity_scap_engine_name", _DOC, "gauge")
        for source, engine in sorted(engines.items()):
            labels = {"engine_name": engine, "evt_source": source}
            family.add_sample("falcosecurity_scap_engine_name_info", labels, 1)
        yield family
        family = Metric("falcosecurity_falco_evt_source", _DOC, "gauge")  # Falco 0.40, 0.41
        for source in sorted(engines):
            family.add_sample("falcosecurity_falco_evt_source_info", {"evt_source": source}, 1)
        yield family
        yield _info("falcosecurity_falco_kernel_release", {"kernel_release": platform.release()})
        yield _info("falcosecurity_evt_hostname", {"hostname": socket.gethostname()})
        host = host_figures()
        now = time.time_ns()
        yield _one("falcosecurity_falco_start_timestamp_nanoseconds", "gauge", s.start_ns)
        yield _one(
            "falcosecurity_falco_duration_seconds", "counter", (now - s.start_ns) // 1_000_000_000
        )
        if "host_boot_ns" in host:
            yield _one(
                "falcosecurity_falco_host_boot_timestamp_nanoseconds", "gauge", host["host_boot_ns"]
            )
        yield _one("falcosecurity_falco_host_num_cpus_total", "gauge", os.cpu_count() or 0)
        # resource utilization (libsinsp's, under the falco subsystem)
        rss, vsz = memory_bytes()
        yield _one("falcosecurity_falco_cpu_usage_ratio", "gauge", s.cpu_usage_ratio())
        yield _one("falcosecurity_falco_memory_rss_bytes", "gauge", rss)
        yield _one("falcosecurity_falco_memory_vsz_bytes", "gauge", vsz)
        for key, name in (
            ("pss_bytes", "falcosecurity_falco_memory_pss_bytes"),
            ("host_cpu_usage_ratio", "falcosecurity_falco_host_cpu_usage_ratio"),
            ("host_memory_used_bytes", "falcosecurity_falco_host_memory_used_bytes"),
            ("host_procs_running", "falcosecurity_falco_host_procs_running_total"),
            ("host_open_fds", "falcosecurity_falco_host_open_fds_total"),
        ):
            if key in host:
                yield _one(name, "gauge", host[key])
        # kernel counters of the live syscall source: events read from the ring, and lost
        if "syscall" in engines:
            yield _one("falcosecurity_scap_n_evts", "counter", s.events.get("syscall", 0))
            lost = s.event_drops.get(("syscall", "kernel_ring_full"), 0)
            yield _one("falcosecurity_scap_n_drops", "counter", lost)

    def _rules_matches(self) -> Metric:
        """``rules_matches_total`` per rule with at least one match: its name, priority
        number, source and one ``tag_NAME="true"`` label per tag."""
        family = Metric("falcosecurity_falco_rules_matches", _DOC, "counter")
        meta = self.stats.rule_meta()
        counts: dict[tuple[str, str], int] = {}
        priorities: dict[str, int] = {}
        for (rule, prio, source), n in list(self.stats.alerts.items()):
            counts[(rule, source)] = counts.get((rule, source), 0) + n
            priorities[rule] = Priority.parse(prio).value
        for (rule, source), n in sorted(counts.items()):
            if n <= 0:
                continue
            number, tags = meta.get(rule, (priorities[rule], frozenset()))
            labels = {"priority": str(number), "rule_name": rule, "source": source}
            labels.update({_label_name(f"tag_{t}"): "true" for t in sorted(tags)})
            family.add_sample("falcosecurity_falco_rules_matches_total", labels, n)
        return family


def registry_for(stats: Stats) -> CollectorRegistry:
    """A registry with Lanner's series and Falco's."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatsCollector(stats))
    registry.register(ContainerCollector(stats))
    registry.register(K8sMetaCollector(stats))
    registry.register(InputCollector(stats))
    registry.register(FalcoCollector(stats))
    return registry
