"""The run loop: sources → engine → outputs, with reload, stats, web server and signals.

One thread evaluates events (the caller of :meth:`Daemon.run`); outputs, the web server,
the file watcher, the stats timer and live inputs each have their own thread. A reload
compiles the new rules on the side and swaps the ruleset between two events, so no event
waits for the compiler and none is skipped.
"""

from __future__ import annotations

import gc
import json
import logging
import signal
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

from lanner.app.config import Config, load_config
from lanner.app.config_keys import top_level_by_reload
from lanner.app.live import TICK, LiveFeed
from lanner.app.logs import setup_logging
from lanner.app.metrics import Stats, lanner_version, snapshot_alert
from lanner.app.outputs.manager import OutputManager, build_outputs
from lanner.app.selection import select_rules, syscall_event_types, syscall_outcomes
from lanner.app.static_fields import with_static_fields
from lanner.engine.alert import Alert
from lanner.engine.append_output import OutputAppend, expand_suggested, parse_append_output
from lanner.engine.candidates import derive_candidates
from lanner.engine.container_info import PrintOption
from lanner.engine.engine import Engine
from lanner.engine.fields import SourceSpec
from lanner.engine.loader import ENGINE_VERSION, RULES_FILE_SUFFIXES, LoadOutcome
from lanner.engine.priority import Priority
from lanner.engine.rules import Ruleset
from lanner.exceptions import ConfigError
from lanner.records import Record
from lanner.rules import default_rules_files
from lanner.sources.syscall._native import CandidateEvents
from lanner.sources.syscall.candidate_fields import CANDIDATE_FIELDS, event_filter
from lanner.sources.syscall.source import event_type_of as syscall_event_type_of

log = logging.getLogger("lanner")


def loadable_rule_paths(paths: Iterable[str]) -> list[str]:
    """The rules paths to read, as Falco: a directory, or a file named ``*.yaml`` or
    ``*.yml``; any other path (``/etc/falco/rules.d`` when that directory does not exist)
    is skipped, here with a warning naming it."""
    kept = []
    for path in paths:
        if Path(path).is_dir() or path.endswith(RULES_FILE_SUFFIXES):
            kept.append(path)
        else:
            log.warning("rules path '%s' skipped: neither a directory nor a .yaml/.yml file", path)
    return kept


# configuration keys whose change means rebuilding the outputs on reload, and keys read
# only at start (both declared in the configuration scheme)
OUTPUT_KEYS = top_level_by_reload("outputs")
RESTART_KEYS = top_level_by_reload("restart")


def _append_output(cfg: Config, sources: Iterable[SourceSpec]) -> list[OutputAppend]:
    """Falco's append_output entries, suggested fields expanded for ``sources``; a wrong
    shape is a ConfigError naming the key."""
    try:
        return expand_suggested(parse_append_output(cfg.get("append_output")), sources)
    except ValueError as exc:
        raise ConfigError(cfg.locate(str(exc))) from None


class RunOptions(Record):
    """What the command line adds to the configuration."""

    __slots__ = __match_args__ = (
        "rules",
        "config_file",
        "overrides",
        "disable_substr",
        "disable_tags",
        "enable_tags",
        "verbose",
        "stats_interval",
        "live",
        "print_option",
    )
    rules: list[str]
    config_file: str | None
    overrides: list[str]
    disable_substr: list[str]
    disable_tags: list[str]
    enable_tags: list[str]
    verbose: bool
    stats_interval: float | None
    live: bool
    print_option: PrintOption | None  # -p: Falco's extra output text

    def __init__(
        self,
        rules: list[str] | None = None,
        config_file: str | None = None,
        overrides: list[str] | None = None,
        disable_substr: list[str] | None = None,
        disable_tags: list[str] | None = None,
        enable_tags: list[str] | None = None,
        verbose: bool = False,
        stats_interval: float | None = None,
        live: bool = False,
        print_option: PrintOption | None = None,
    ) -> None:
        self.rules = [] if rules is None else rules
        self.config_file = config_file
        self.overrides = [] if overrides is None else overrides
        self.disable_substr = [] if disable_substr is None else disable_substr
        self.disable_tags = [] if disable_tags is None else disable_tags
        self.enable_tags = [] if enable_tags is None else enable_tags
        self.verbose = verbose
        self.stats_interval = stats_interval
        self.live = live
        self.print_option = print_option


class Daemon:
    """Wires an engine to outputs and keeps them running."""

    def __init__(
        self,
        cfg: Config,
        options: RunOptions,
        sources: Iterable[SourceSpec],
        *,
        stdout: BinaryIO | None = None,
    ) -> None:
        self.cfg = cfg
        self.options = options
        self.stats = Stats()
        sources = with_static_fields(sources, cfg.section("static_fields"))
        self.engine = Engine(
            sources,
            iso8601=cfg.boolean("time_format_iso_8601"),
            append_output=_append_output(cfg, sources),
            print_option=options.print_option,
        )
        self.stdout = stdout
        self.outputs: OutputManager | None = None
        self.feed: LiveFeed | None = None
        self.webserver: Any = None
        self.audit_hook: Any = None
        self._audit_pump_done = threading.Event()
        self.syscall_capture: Any = None  # the eBPF LiveCapture of a live run, if any
        # its SyscallPipeline: the rules' event types and candidate filter run in its
        # native ring walk, so Daemon.run does not filter its events again
        self.syscall_pipeline: Any = None
        # the running rules' candidate conditions on syscall events (None: no filtering)
        # (ruleset, its candidate filter or None), replaced as one object
        self._syscall_filter: tuple[Ruleset | None, CandidateEvents | None] = (None, None)
        self.watcher: Any = None
        # Falco's capture (app/alert_capture.py): told the alerts of each syscall event
        self.alert_capture: Any = None
        self._snapshots = 0  # metrics snapshots written to metrics.output_file
        self._out_lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._stop = threading.Event()
        self._timer: threading.Thread | None = None
        self._drops_timer: threading.Thread | None = None
        self.exit_code = 0
        self.stats.queue_depths = self._queue_depths
        self._rules_per_file: dict[str, int] = {}  # of the running rules
        self.stats.rule_errors = self.engine.errors.counts
        self.stats.rule_meta = self._rule_meta
        self.stats.engines = self._engine_names
        self._logged_failures: set[tuple[str, str, str]] = set()

    # -- rules ---------------------------------------------------------------------------

    def _rule_meta(self) -> dict[str, tuple[int, frozenset[str]]]:
        """Each running rule's priority number and tags (Falco's Prometheus labels)."""
        return {r.name: (int(r.priority), r.tags) for r in self.engine.ruleset}

    def _engine_names(self) -> dict[str, str]:
        """The live sources and what feeds them, with Falco's engine names."""
        names = {}
        if self.syscall_capture is not None:
            names["syscall"] = "modern_bpf"
        if self.audit_hook is not None:
            names["k8s_audit"] = "source_plugin"
        return names

    def rule_paths(self, cfg: Config) -> list[str]:
        """``-r`` files, else the configuration's rules_files, else Lanner's default rules."""
        return (
            list(self.options.rules)
            or cfg.string_list("rules_files")
            or [str(p) for p in default_rules_files()]
        )

    def _compile(self, cfg: Config) -> tuple[Engine, LoadOutcome, float]:
        staging = Engine(
            self.engine.sources.values(),
            hostname=self.engine.hostname,
            iso8601=cfg.boolean("time_format_iso_8601"),
            append_output=_append_output(cfg, self.engine.sources.values()),
            print_option=self.options.print_option,
        )
        t0 = time.perf_counter()
        outcome = staging.load_rules(loadable_rule_paths(self.rule_paths(cfg)))
        return staging, outcome, time.perf_counter() - t0

    def select(self, ruleset: Ruleset, cfg: Config) -> None:
        """Apply rule_matching, priority and -D/-T/-t to a ruleset."""
        o = self.options
        select_rules(ruleset, cfg, o.disable_substr, o.disable_tags, o.enable_tags)

    def syscall_event_types(self, cfg: Config | None = None) -> tuple[set[str] | None, bool]:
        """The kernel selection for the running rules (see :mod:`lanner.app.selection`)."""
        return syscall_event_types(self.engine.ruleset, cfg or self.cfg)

    def syscall_candidates(self) -> CandidateEvents | None:
        """The running rules' candidate conditions as a native event filter (events that
        fail them cannot match any rule), or None without the syscall source."""
        spec = self.engine.sources.get("syscall")
        if spec is None or spec.event_type_of is not syscall_event_type_of:
            return None  # no syscall source, or JSON-lines events standing for one
        cands = derive_candidates(self.engine.ruleset, spec, CANDIDATE_FIELDS)
        return event_filter(cands, spec)

    def _update_syscall_filter(self) -> None:
        """Derive the filter of the running rules. Daemon.run applies it only while they
        are the engine's rules, so an event is never dropped on another ruleset's
        conditions (a reload swaps the rules first)."""
        rules = self.engine.ruleset
        try:
            cands = self.syscall_candidates()
        except Exception as exc:  # never lose an alert over it: evaluate every event
            cands = None
            log.warning("candidate conditions not derived, every event is evaluated: %s", exc)
        self._syscall_filter = (rules, cands)

    def current_syscall_filter(self) -> CandidateEvents | None:
        """The candidate conditions while their rules are the engine's (None after a
        reload swapped the rules and before the new ones are derived): for a replay's
        native walk, which drops the events that fail them before :meth:`run`."""
        rules, cands = self._syscall_filter
        return cands if rules is self.engine.ruleset else None

    @property
    def syscall_filter(self) -> CandidateEvents | None:
        """The running rules' candidate conditions on syscall events (None: none)."""
        return self._syscall_filter[1]

    def syscall_outcomes(self) -> dict[str, int] | None:
        """Per syscall, the outcomes the running rules can match (the kernel-side filter)."""
        return syscall_outcomes(self.engine.ruleset)

    def load(self) -> LoadOutcome:
        """The first load; the caller prints the results."""
        staging, outcome, seconds = self._compile(self.cfg)
        if outcome.successful:
            self.select(staging.ruleset, self.cfg)
            self.engine.ruleset = staging.ruleset
            self._update_syscall_filter()
            self._rules_per_file = outcome.rules_per_file
            self.stats.rules_loaded = len(staging.ruleset)
            self.stats.rules_load_seconds = seconds
            if self.options.live:  # their digests are read by /metrics: a live run's
                self.stats.record_files(outcome.items_per_file, self.cfg.files)
            if not staging.ruleset:
                log.warning(
                    "0 rules loaded from %s: nothing will be detected",
                    ", ".join(self.rule_paths(self.cfg)),
                )
        return outcome

    def reload(self, reason: str) -> bool:
        """Re-read the configuration and rules; on any error keep everything running."""
        with self._reload_lock:
            return self._reload(reason)

    def _reload(self, reason: str) -> bool:
        cfg = self.cfg
        if self.options.config_file:
            try:
                cfg = load_config(self.options.config_file, self.options.overrides)
                cfg.priority()
            except (ConfigError, ValueError) as exc:
                log.error("reload (%s): configuration rejected, keeping the running one: %s",
                          reason, exc)  # fmt: skip
                self.stats.reloads["failure"] += 1
                return False
        staging, outcome, seconds = self._compile(cfg)
        if not outcome.successful:
            for result in outcome.results:
                if not result.successful:
                    log.error("%s", result.as_text(verbose=True).rstrip())
            log.error(
                "reload (%s): rules rejected, the %d running rules stay active",
                reason,
                len(self.engine.ruleset),
            )
            self.stats.reloads["failure"] += 1
            return False
        emptied = self._emptied(outcome)
        if emptied and not cfg.boolean("allow_empty_rules"):
            log.error(
                "reload (%s): REFUSED, %s; the %d running rules stay active. If this is "
                "what you want, set allow_empty_rules: true",
                reason,
                emptied,
                len(self.engine.ruleset),
            )
            self.stats.reloads["failure"] += 1
            self.stats.empty_reloads_refused += 1
            return False
        self.select(staging.ruleset, cfg)
        # generated here, not on the event path after the swap
        staging.ruleset.use_errors(self.engine.errors)
        staging.ruleset.build_matchers()
        new_outputs = None
        if any(cfg.get(k) != self.cfg.get(k) for k in OUTPUT_KEYS):
            try:
                new_outputs = self._build_outputs(cfg)
            except (ConfigError, ValueError, OSError) as exc:
                log.error("reload (%s): outputs rejected, keeping the running ones: %s",
                          reason, exc)  # fmt: skip
                self.stats.reloads["failure"] += 1
                return False
        for key in RESTART_KEYS:
            if cfg.get(key) != self.cfg.get(key):
                log.warning("reload (%s): a change of '%s' needs a restart", reason, key)
        # commit: the loop picks up the new ruleset at its next event; the ring walk
        # hands out every event meanwhile (no event dropped on the old rules' conditions)
        if self.syscall_pipeline is not None:
            self.syscall_pipeline.select_ring(None)
            self.syscall_pipeline.settle()  # the batch being walked used the old one
        self.engine.iso8601 = cfg.boolean("time_format_iso_8601")
        self.engine.ruleset = staging.ruleset
        self._update_syscall_filter()
        if new_outputs is not None:
            new_outputs.start()
            with self._out_lock:
                old, self.outputs = self.outputs, new_outputs
            if old is not None:
                old.close()
        self.cfg = cfg
        setup_logging(cfg)
        if self.syscall_capture is not None:
            types, _base = self.syscall_event_types(cfg)
            self.syscall_capture.outcomes = self.syscall_outcomes()
            self.syscall_capture.set_event_types(types)
        self._select_syscall_pipeline()
        self.stats.rules_loaded = len(staging.ruleset)
        self.stats.rules_load_seconds = seconds
        self.stats.reloads["success"] += 1
        self.stats.last_reload_ns = time.time_ns()
        # start-up objects may have been frozen out of the collector (lanner run): the
        # replaced rules' reference cycles (generated matchers and their namespaces) must
        # be collectable again, or every reload would leak them
        gc.unfreeze()
        self.stats.record_files(outcome.items_per_file, cfg.files)
        self._rules_per_file = outcome.rules_per_file
        log.info("reload (%s): %d rules loaded in %.3fs", reason, len(staging.ruleset), seconds)
        if emptied:
            log.warning("reload (%s): %s, accepted as allow_empty_rules is set", reason, emptied)
        return True

    def _emptied(self, outcome: LoadOutcome) -> str:
        """Why loading ``outcome`` would quietly stop detection: no rules at all where some
        run, or rules files that had rules and are now empty (truncated, blanked); else ''.

        A file dropped from the list, or edited down to lists and macros, is a choice and
        not reported here."""
        emptied = [
            f"{file} (had {n} rules, now empty)"
            for file, n in self._rules_per_file.items()
            if n and outcome.items_per_file.get(file) == 0
        ]
        none_left = not outcome.ruleset and bool(self.engine.ruleset)
        if emptied:
            return (
                "emptied rules files: "
                + ", ".join(emptied)
                + (", no rules would be left" if none_left else "")
            )
        return "the new rules files define no rules at all" if none_left else ""

    # -- outputs -------------------------------------------------------------------------

    def _build_outputs(self, cfg: Config) -> OutputManager:
        return build_outputs(
            cfg,
            stats_for=self.stats.output,
            block=not self.options.live,
            stdout=self.stdout,
            on_throttle=self.stats.throttle,
        )

    def _queue_depths(self) -> dict[str, int]:
        outputs = self.outputs
        return {o.name: o.depth for o in outputs.outputs} if outputs else {}

    def dispatch(self, alert: Alert) -> None:
        """Count an alert and queue it on the outputs."""
        self.stats.alerts[(alert.rule, alert.priority.label, alert.source)] += 1
        with self._out_lock:
            if self.outputs is not None:
                try:
                    self.outputs.emit(alert)
                except Exception as exc:  # one alert never stops detection
                    self.failed("output", alert.source, exc)

    def emit_internal(self, alert: Alert) -> None:
        """An internal message (drops, capture size limit) on the outputs, unthrottled,
        when the configured minimum priority lets it through."""
        if alert.priority.at_least(self.cfg.priority()):
            with self._out_lock:
                if self.outputs is not None:
                    self.outputs.emit(alert, throttle=False)

    def failed(self, stage: str, source: str, exc: BaseException) -> None:
        """Count an exception raised by one event or alert; log the first of each kind."""
        key = (source, stage)
        self.stats.event_errors[key] += 1
        kind = (stage, source, type(exc).__name__)
        if kind not in self._logged_failures:
            self._logged_failures.add(kind)
            log.error(
                "%s event: %s failed with %s: %s (skipped, detection goes on; counted in "
                "lanner_event_errors, logged once per kind)",
                source,
                stage,
                type(exc).__name__,
                exc,
                exc_info=exc,
            )

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, feed: LiveFeed | None = None) -> None:
        """Start outputs and, for live runs, the web server, watcher and stats timer."""
        self.feed = feed
        self.outputs = self._build_outputs(self.cfg)
        self.outputs.start()
        if self.options.live:
            self._start_k8s_audit()
        if self.options.live and self.cfg.boolean("webserver.enabled"):
            self._start_webserver()
        if self.options.live and self.cfg.boolean("watch_config_files"):
            from lanner.app.watch import FileWatcher

            self.watcher = FileWatcher(self._watched, lambda: self.reload("file change"))
            self.watcher.start()
        if self.options.live:
            self._drops_timer = threading.Thread(
                target=self._drops_loop, name="lanner-drops", daemon=True
            )
            self._drops_timer.start()
        interval = self.options.stats_interval
        if interval is None and self.cfg.boolean("metrics.enabled"):
            interval = self.cfg.duration("metrics.interval")
        if interval:
            interval = max(interval, 0.1)
            self._timer = threading.Thread(
                target=self._stats_loop, args=(interval,), name="lanner-stats", daemon=True
            )
            self._timer.start()

    def _watched(self) -> list[str]:
        paths = [p for p in self.rule_paths(self.cfg) if Path(p).exists()]
        if self.options.config_file:  # the files read, and config_files directories
            paths[:0] = [*self.cfg.files, *(d for d in self.cfg.folders if Path(d).is_dir())]
        return paths

    def _start_webserver(self) -> None:
        try:
            from lanner.app.webserver import WebServer, build_app
        except ImportError as exc:
            log.error("web server unavailable (%s): install lanner[daemon]", exc)
            return

        from lanner.app.endpoint_auth import WEBSERVER_TOKEN_ENV, check_bind, resolve_token

        ws = self.cfg.section("webserver")
        hook = self.audit_hook
        try:
            token = resolve_token(
                "webserver.auth_token",
                ws.get("auth_token"),
                ws.get("auth_token_file"),
                WEBSERVER_TOKEN_ENV,
            )
        except ConfigError as exc:
            log.error("web server not started: %s", exc)
            return
        app = build_app(
            self.stats,
            healthz=str(ws.get("k8s_healthz_endpoint") or "/healthz"),
            prometheus=bool(ws["prometheus_metrics_enabled"]),
            audit_endpoint=str(ws.get("k8s_audit_endpoint") or "/k8s-audit") if hook else None,
            audit_sink=hook.handle_body if hook else None,
            versions=self.versions,
            token=token,
        )
        cert = str(ws.get("ssl_certificate")) if ws.get("ssl_enabled") else None
        host = str(ws.get("listen_address") or "127.0.0.1")
        server = WebServer(app, host, int(ws["listen_port"]), cert)
        if server.start():
            self.webserver = server
            check_bind("the web server", host, token)

    def attach_syscall_pipeline(self, pipeline: Any) -> None:
        """Feed the live syscall pipeline (over the probe's ring) the running rules'
        event types and candidate filter, now and at each reload; count the events its
        native walk reads and does not hand out (state only, or no rule can match them)
        as evaluated and skipped, as Daemon.run counts the ones the filter drops."""
        self.syscall_pipeline = pipeline
        self.syscall_capture = pipeline.source
        events, skipped = self.stats.events, self.stats.events_skipped

        def on_batch(n: int) -> None:
            events["syscall"] += n
            skipped["syscall"] += n

        pipeline.on_batch = on_batch
        pipeline.candidates = self.current_syscall_filter
        self.stats.syscall_state = pipeline.state_counters
        self._select_syscall_pipeline()

    def _select_syscall_pipeline(self) -> None:
        if self.syscall_pipeline is not None:
            types, _base = self.syscall_event_types()
            self.syscall_pipeline.select_ring(types)

    def kernel_drops(self, total: int) -> None:
        """Record the probe's count of events lost in the kernel ring buffer."""
        self.stats.event_drops[("syscall", "kernel_ring_full")] = total

    def _start_k8s_audit(self) -> None:
        """The audit webhook, when k8saudit is in load_plugins (as Falco's plugin).

        It listens where the k8saudit plugin's ``open_params`` says (default
        ``http://:9765/k8s-audit``, on loopback; https uses the plugin's
        ``init_config.sslCertificate``, else webserver.ssl_certificate) and is also mounted
        on the web server at ``webserver.k8s_audit_endpoint``. Accepted events wait in the
        webhook's bounded queue, moved to the live feed by a producer thread; when both
        are full the webhook answers 503 and the API server sends the batch again.
        """
        feed = self.feed
        if feed is None or "k8s_audit" not in self.engine.sources:
            return
        if "k8saudit" not in self.cfg.string_list("load_plugins"):
            return
        try:
            from lanner.app.endpoint_auth import K8SAUDIT_TOKEN_ENV, check_bind, resolve_token
            from lanner.sources.k8s_audit import AuditWebhook
        except ImportError:
            log.warning("k8s audit webhook unavailable: lanner.sources.k8s_audit is missing")
            return
        url, init = "http://:9765/k8s-audit", {}
        for plugin in self.cfg.get("plugins") or []:
            if isinstance(plugin, dict) and plugin.get("name") == "k8saudit":
                url = str(plugin.get("open_params") or url)
                init = _init_config(plugin.get("init_config"))
        cert = None
        if url.startswith("https:"):
            cert = str(init.get("sslCertificate") or self.cfg.get("webserver.ssl_certificate"))
        try:
            token = resolve_token(
                "plugins[k8saudit].init_config.authToken",
                init.get("authToken"),
                init.get("authTokenFile"),
                K8SAUDIT_TOKEN_ENV,
            )
            extra: dict[str, Any] = {}  # Lanner's keys: the queue and how long a request waits
            if isinstance(init.get("maxQueuedEvents"), int) and init["maxQueuedEvents"] > 0:
                extra["queue_size"] = init["maxQueuedEvents"]
            if isinstance(init.get("queueWaitMs"), int) and init["queueWaitMs"] >= 0:
                extra["accept_wait"] = init["queueWaitMs"] / 1000
            batch = init.get("webhookMaxBatchSize")  # the plugin's bound on a request body
            if isinstance(batch, int) and not isinstance(batch, bool) and batch > 0:
                extra["max_body_bytes"] = batch
            hook = AuditWebhook.from_url(url, certfile=cert or None, token=token, **extra)
            hook.start()
        except (OSError, ValueError, ConfigError) as exc:
            log.error("k8s audit webhook could not start on %s: %s", url, exc)
            return
        check_bind("the k8s audit webhook", hook.host, token)

        def pump(feed: LiveFeed) -> None:
            try:
                for batch in hook.batches():
                    if not feed.put([("k8s_audit", ev) for ev in batch]):  # stopping
                        self._audit_lost(len(batch))  # the batch in hand
                        break
                self._audit_lost(hook.discard_pending())
            finally:
                self._audit_pump_done.set()

        feed.add_producer(pump, "k8s-audit")
        self.audit_hook = hook

    def _stop_audit_hook(self) -> None:
        """Refuse further requests (503), count what was queued, let the producer finish."""
        hook, self.audit_hook = self.audit_hook, None
        if hook is None:
            return
        hook.stop()
        self._audit_lost(hook.discard_pending())
        self._audit_pump_done.wait(5.0)

    def _audit_lost(self, n: int) -> None:
        """Count and log audit events answered 200 that stopping leaves unevaluated."""
        if n:
            self.stats.event_drops[("k8s_audit", "shutdown")] += n
            log.warning("k8s audit webhook: %d accepted event(s) were not evaluated", n)

    def versions(self) -> dict[str, Any]:
        """What /versions answers: Falco's keys (falcoctl reads ``engine_version`` as the
        engine's minor number and ``engine_version_semver``) and Lanner's."""
        return {
            "lanner_version": lanner_version(),
            "engine_version": str(ENGINE_VERSION[1]),
            "engine_version_semver": ".".join(map(str, ENGINE_VERSION)),
            "plugin_versions": {},
            "sources": sorted(self.engine.sources),
            "rules_loaded": self.stats.rules_loaded,
        }

    def _stats_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.emit_snapshot()
            except Exception:
                log.exception("metrics snapshot failed")

    def _drops_loop(self) -> None:
        monitor = self.drop_monitor()
        while not self._stop.wait(1.0):
            if self.syscall_capture is not None or monitor.simulate:
                try:
                    monitor.check()
                except Exception:
                    log.exception("syscall drop check failed")

    def drop_monitor(self) -> Any:
        """Falco's syscall_event_drops as configured (a ``drops.DropMonitor``): its alert
        goes to the outputs (shown at priority debug), its exit stops the run with 1."""
        from lanner.app.drops import DropMonitor

        def exit_now() -> None:
            self.exit_code = 1
            self.request_stop()

        settings = self.cfg.section("syscall_event_drops")
        return DropMonitor(
            self.stats,
            settings,
            emit=self.emit_internal,
            exit_now=exit_now,
            hostname=self.engine.hostname,
        )

    def emit_snapshot(self) -> Alert:
        """Falco's ``metrics snapshot`` internal alert (and metrics.output_file line)."""
        m = self.cfg.section("metrics")
        alert, text = snapshot_alert(self.stats, m, self.engine.hostname, self.engine.iso8601)
        out_file = str(m.get("output_file") or "")
        if out_file:  # Falco's line: the fields and the sample's number
            self._snapshots += 1
            line = {"output_fields": alert.as_dict()["output_fields"], "sample": self._snapshots}
            with open(out_file, "ab") as fh:
                fh.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode())
                fh.write(b"\n")
        wanted = m["output_rule"] or self.options.stats_interval is not None
        if wanted and self.cfg.priority() >= Priority.INFORMATIONAL:
            with self._out_lock:
                if self.outputs is not None:
                    self.outputs.emit(alert, throttle=False, text=text)
        return alert

    def install_signals(self) -> None:
        """SIGINT/SIGTERM stop, SIGHUP reloads, SIGUSR1 reopens outputs (main thread)."""
        if threading.current_thread() is not threading.main_thread():
            return

        def stop(signum: int, _frame: Any) -> None:
            self.request_stop()
            signal.signal(signum, signal.SIG_DFL)  # a second one ends Lanner at once

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        signal.signal(
            signal.SIGHUP,
            lambda *_: threading.Thread(
                target=self.reload, args=("SIGHUP",), name="lanner-reload", daemon=True
            ).start(),
        )
        signal.signal(signal.SIGUSR1, lambda *_: self._reopen())

    def _reopen(self) -> None:
        if self.outputs is not None:
            self.outputs.reopen()

    def request_stop(self) -> None:
        """Stop reading events; :meth:`run` returns after the current one."""
        self._stop.set()
        if self.feed is not None:
            self.feed.stop()

    def run(self, events: Iterable[Any], deadline: float | None = None) -> None:
        """Evaluate events until they end, a stop is requested or the deadline passes."""
        engine, stats, stop = self.engine, self.stats, self._stop
        counts, skipped = stats.events, stats.events_skipped
        # the live pipeline's events were filtered in its native walk already
        prefiltered = self.syscall_pipeline is not None
        capture = self.alert_capture

        def rule_of(name: str) -> Any:  # the running ruleset's (a reload swaps it)
            return engine.ruleset.get(name)

        for item in events:
            if item is TICK:
                if stop.is_set() or (deadline is not None and time.monotonic() > deadline):
                    break
                continue
            source, event = item
            counts[source] += 1
            if source == "syscall" and not prefiltered:
                rules, cands = self._syscall_filter
                if cands is not None and rules is engine.ruleset and not cands.accepts(event):
                    skipped[source] += 1  # no running rule can match it
                    continue
            try:
                alerts = engine.process(event, source)
            except Exception as exc:  # one event never stops detection
                self.failed("evaluate", source, exc)
                alerts = []
            for alert in alerts:
                self.dispatch(alert)
            if capture is not None and source == "syscall":
                try:
                    if alerts:
                        capture.matched(event, alerts, rule_of)
                    capture.done(event)
                except Exception as exc:  # a capture never stops detection
                    self.failed("capture", source, exc)
            if stop.is_set():
                break
            if deadline is not None and time.monotonic() > deadline:
                break

    def shutdown(self) -> None:
        """Stop the helpers, then flush and close the outputs."""
        self._stop.set()
        if self.feed is not None:
            self.feed.stop()
            self._stop_audit_hook()  # before counting: its producer may be handing over
            for source, n in list(self.feed.received.items()):
                left = n - self.stats.events.get(source, 0)
                if left > 0:
                    self.stats.event_drops[(source, "shutdown")] += left
                    log.warning("stopping: %d queued %s event(s) not evaluated", left, source)
        if self.watcher is not None:
            self.watcher.stop()
        for timer in (self._timer, self._drops_timer):
            if timer is not None:
                timer.join(5.0)
        if self.webserver is not None:
            self.webserver.stop()
        self._stop_audit_hook()
        with self._out_lock:
            outputs, self.outputs = self.outputs, None
        if outputs is not None:
            outputs.close()


def _init_config(value: Any) -> dict[str, Any]:
    """A plugin's init_config: a mapping, or JSON text of one (as Falco accepts)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip():
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}
