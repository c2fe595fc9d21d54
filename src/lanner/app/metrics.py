"""Runtime counters of the daemon, resource usage, and Falco's metrics snapshot."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from lanner.app.outputs.base import OutputStats
from lanner.engine.alert import Alert, internal_alert
from lanner.engine.priority import Priority

if TYPE_CHECKING:
    from lanner.sources.syscall.containers.runtimes import SocketWatch
    from lanner.sources.syscall.containers.store import MetadataStore

SNAPSHOT_RULE = "Falco internal: metrics snapshot"
SNAPSHOT_MESSAGE = "Falco metrics snapshot"
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def lanner_version() -> str:
    """The installed package version."""
    from importlib import metadata

    try:
        return metadata.version("lanner")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
        return "0.0.0"


def memory_bytes() -> tuple[int, int]:
    """(RSS, VSZ) of this process in bytes, from /proc/self/statm."""
    try:
        with open("/proc/self/statm") as fh:
            vsz, rss = (int(x) for x in fh.read().split()[:2])
        return rss * _PAGE, vsz * _PAGE
    except (OSError, ValueError):  # pragma: no cover - not Linux
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, 0


def file_sha256(path: str) -> str:
    """The hex SHA-256 of a file's bytes ("" when it cannot be read)."""
    import hashlib  # not on a replay's path: its import costs start-up ~3 ms

    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 16), b""):
                digest.update(block)
    except OSError:
        return ""
    return digest.hexdigest()


def _proc_lines(path: str) -> list[str]:
    try:
        with open(path) as fh:
            return fh.read().splitlines()
    except OSError:
        return []


def host_figures() -> dict[str, float]:
    """What libsinsp's resource utilization reads from /proc, as far as it is readable:
    ``pss_bytes``, ``host_memory_used_bytes`` (total - free - buffers - cached),
    ``host_open_fds``, ``host_procs_running``, ``host_cpu_usage_ratio`` (non-idle share of
    CPU time since boot), ``host_boot_ns``."""
    out: dict[str, float] = {}
    for line in _proc_lines("/proc/self/smaps_rollup"):
        if line.startswith("Pss:"):
            out["pss_bytes"] = int(line.split()[1]) * 1024
            break
    mem = {ln.split(":")[0]: int(ln.split()[1]) for ln in _proc_lines("/proc/meminfo") if ":" in ln}
    if {"MemTotal", "MemFree", "Buffers", "Cached"} <= set(mem):
        used = mem["MemTotal"] - mem["MemFree"] - mem["Buffers"] - mem["Cached"]
        out["host_memory_used_bytes"] = used * 1024
    fds = _proc_lines("/proc/sys/fs/file-nr")
    if fds:
        out["host_open_fds"] = int(fds[0].split()[0])
    for line in _proc_lines("/proc/stat"):
        parts = line.split()
        if parts[:1] == ["cpu"] and len(parts) >= 8:
            user, nice, system, idle, iowait, irq, softirq = (int(x) for x in parts[1:8])
            busy = user + nice + system + irq + softirq
            total = busy + idle + iowait
            out["host_cpu_usage_ratio"] = busy / total if total else 0.0
        elif parts[:1] == ["procs_running"]:
            out["host_procs_running"] = int(parts[1])
        elif parts[:1] == ["btime"]:
            out["host_boot_ns"] = int(parts[1]) * 1_000_000_000
    return out


class ContainerRuntimes:
    """The container runtimes of a live syscall run, read (never probed) at scrape time:
    the sockets the watch was configured with, and the metadata store's counters."""

    def __init__(self, store: MetadataStore, watch: SocketWatch | None) -> None:
        self.store = store
        self.watch = watch

    def runtimes(self) -> list[tuple[str, str, bool]]:
        """(runtime, socket, up) of each configured socket. Up: a unix socket is at the
        path now (one ``stat()``), Lanner has a client for it (the watch saw the socket),
        and that client's last lookup did not fail (a client not asked yet counts as up)."""
        if self.watch is None:
            return []
        from lanner.sources.syscall.containers.runtimes import socket_identity
        from lanner.sources.syscall.containers.store import resolver_name

        failing = self.store.failing()
        states = []
        for sock in self.watch.sockets:
            resolver = sock.resolver
            up = (
                resolver is not None
                and resolver_name(resolver) not in failing
                and socket_identity(sock.path) is not None
            )
            states.append((sock.runtime, sock.path, up))
        return states

    def lookups(self) -> dict[str, int]:
        """Lookup outcomes the store counts: ``ok`` (metadata arrived), ``failed`` (a
        runtime could not answer: error, timeout, socket gone; each attempt counts)."""
        return {"ok": self.store.arrivals, "failed": self.store.failures}

    def cached(self) -> int:
        """Containers with metadata in the cache."""
        return self.store.cached()


class Stats:
    """Plain counters updated on the event path (no locks) and read by exporters."""

    def __init__(self) -> None:
        self.start_ns = time.time_ns()
        self.start_mono = time.monotonic()
        self.events: Counter[str] = Counter()
        # of those, dropped before the rules: no running rule can match them (candidates)
        self.events_skipped: Counter[str] = Counter()
        self.event_drops: Counter[tuple[str, str]] = Counter()  # (source, reason)
        # exceptions survived on the event path: (source, stage) and (rule, stage)
        self.event_errors: Counter[tuple[str, str]] = Counter()
        self.rule_errors: Counter[tuple[str, str]] = Counter()
        self.alerts: Counter[tuple[str, str, str]] = Counter()  # (rule, priority, source)
        self.throttled = 0
        self.outputs: dict[str, OutputStats] = {}
        self.queue_depths: Callable[[], dict[str, int]] = dict
        # the live syscall pipeline's state tables and bounds (SyscallPipeline.state_counters)
        self.syscall_state: Callable[[], dict[str, int]] = dict
        self.rules_loaded = 0
        self.rules_load_seconds = 0.0
        self.reloads: Counter[str] = Counter()  # "success" / "failure"
        self.empty_reloads_refused = 0  # reloads that would have emptied the rules (failures)
        self.last_reload_ns = 0
        # set in live syscall runs with container engines (read at scrape time)
        self.containers: ContainerRuntimes | None = None
        self.k8smeta: Any = None  # the K8sMetaWatcher when k8smeta is loaded
        # source -> its remote input's counters (``errors``: kind -> n), e.g. github, okta
        self.inputs: dict[str, Any] = {}
        # for Falco's falcosecurity_* series: rule -> (priority number, tags) and
        # source -> engine name (read at scrape time), digests of the files loaded
        self.rule_meta: Callable[[], dict[str, tuple[int, frozenset[str]]]] = dict
        self.engines: Callable[[], dict[str, str]] = dict
        self.files_sha256: dict[str, list[tuple[str, str]]] = {"rules": [], "config": []}
        self._prev_events = 0
        self._prev_mono = self.start_mono

    def record_files(self, rules: Iterable[str], config: Iterable[str]) -> None:
        """Remember the SHA-256 of the rules and config files just loaded."""
        self.files_sha256 = {
            "rules": [(p, file_sha256(p)) for p in rules],
            "config": [(p, file_sha256(p)) for p in config],
        }

    def output(self, name: str) -> OutputStats:
        """The (persistent) counters of one output."""
        return self.outputs.setdefault(name, OutputStats())

    def throttle(self) -> None:
        """Count an alert refused by the token bucket."""
        self.throttled += 1

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process."""
        return time.process_time()

    def cpu_usage_ratio(self) -> float:
        """CPU time over wall time since start (1.0 = one full CPU), as Falco reports."""
        wall = max(time.monotonic() - self.start_mono, 1e-9)
        return self.cpu_seconds() / wall

    def snapshot_fields(
        self,
        resource: bool = True,
        to_mb: bool = True,
        rules: bool = True,
        include_empty: bool = False,
    ) -> dict[str, Any]:
        """The output fields of Falco's ``metrics snapshot`` internal alert: the rule
        counters when ``rules``, resource usage when ``resource``; as Falco, a rule counter
        or resource figure at zero is left out unless ``include_empty``."""
        import platform
        import socket

        now = time.monotonic()
        total = sum(self.events.values())
        rate = (total - self._prev_events) / max(now - self._prev_mono, 1e-9)
        fields: dict[str, Any] = {
            "lanner.version": lanner_version(),
            "falco.hostname": socket.gethostname(),
            "falco.kernel_release": platform.release(),
            "falco.host_num_cpus": os.cpu_count() or 0,
            "falco.start_ts": self.start_ns,
            "falco.duration_sec": int(now - self.start_mono),
            "falco.num_evts": total,
            "falco.num_evts_prev": self._prev_events,
            "falco.evts_rate_sec": round(rate, 3),
            "falco.outputs_queue_num_drops": sum(o.dropped for o in self.outputs.values()),
            "lanner.alerts_throttled": self.throttled,
            "lanner.rules_loaded": self.rules_loaded,
        }
        for source, n in sorted(self.events.items()):
            fields[f"lanner.events.{source}"] = n
        if rules:
            fields["falco.rules.matches_total"] = sum(self.alerts.values())
            by_rule: Counter[str] = Counter()
            if include_empty:
                by_rule.update(dict.fromkeys(self.rule_meta(), 0))
            for (rule, _prio, _src), n in list(self.alerts.items()):
                by_rule[rule] += n
            for rule, n in sorted(by_rule.items()):
                if n or include_empty:
                    fields[f"falco.rules.{rule}"] = n
        for name, o in sorted(self.outputs.items()):
            fields[f"lanner.output.{name}.sent"] = o.sent
            fields[f"lanner.output.{name}.errors"] = o.errors
            fields[f"lanner.output.{name}.drops"] = o.dropped
        if resource:
            rss, vsz = memory_bytes()
            used: dict[str, Any] = {"falco.cpu_usage_perc": round(self.cpu_usage_ratio() * 100, 2)}
            if to_mb:
                used["falco.memory_rss_mb"] = round(rss / 1048576, 2)
                used["falco.memory_vsz_mb"] = round(vsz / 1048576, 2)
            else:
                used["falco.memory_rss_kb"] = rss // 1024
                used["falco.memory_vsz_kb"] = vsz // 1024
            fields.update({k: v for k, v in used.items() if v or include_empty})
        self._prev_events, self._prev_mono = total, now
        return dict(sorted(fields.items()))


def snapshot_alert(
    stats: Stats, metrics_cfg: dict[str, Any], hostname: str, iso8601: bool
) -> tuple[Alert, str]:
    """The snapshot as an internal alert, and its text line (Falco's: the fields in parentheses)."""
    fields = stats.snapshot_fields(
        resource=bool(metrics_cfg.get("resource_utilization_enabled", True)),
        to_mb=bool(metrics_cfg.get("convert_memory_to_mb", True)),
        rules=bool(metrics_cfg.get("rules_counters_enabled", True)),
        include_empty=bool(metrics_cfg.get("include_empty_values", False)),
    )
    now = time.time_ns()
    fields["evt.time"] = now
    # Falco's handle_msg: "Falco metrics snapshot", no tags
    alert = internal_alert(SNAPSHOT_RULE, Priority.INFORMATIONAL, SNAPSHOT_MESSAGE, fields,
                           hostname, now, iso8601)  # fmt: skip
    return alert, alert.output
