"""``lanner run``: load rules and evaluate events, with Falco's command-line flags."""

from __future__ import annotations

import gc
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click
import orjson

from lanner.app import falco_info, quick_exit
from lanner.app.config import Config, event_input, load_config, parse_duration
from lanner.app.daemon import Daemon, RunOptions
from lanner.app.drops import ReplayDrops
from lanner.app.inputs import (
    PLUGIN_SOURCES,
    Replay,
    default_sources,
    json_line_sources,
    k8s_audit_live,
    open_replay,
    plugin_sources,
)
from lanner.app.k8s_metadata import start_k8smeta
from lanner.app.live import LiveFeed, follow_file, stdin_producer, syscall_producer
from lanner.app.logs import setup_logging
from lanner.app.metrics import ContainerRuntimes
from lanner.app.plugin_inputs import planned_inputs, selected_inputs, start_inputs
from lanner.app.replay_progress import ScapReplay, show_progress
from lanner.engine.container_info import PrintOption
from lanner.engine.engine import Engine
from lanner.engine.fields import SourceSpec
from lanner.exceptions import ConfigError, InputError, ScapError
from lanner.sources.syscall.containers.announce import ContainerAnnouncer
from lanner.sources.syscall.containers.store import MetadataStore
from lanner.sources.syscall.pipeline import SyscallPipeline
from lanner.sources.syscall.state import StateEngine

log = logging.getLogger("lanner")
# Falco reads this file when no -c is given and it exists (a swapped image keeps its mount)
FALCO_CONFIG = "/etc/falco/falco.yaml"


def _fail(message: str, code: int = 1) -> NoReturn:
    """Falco's way out: one line ``Error: ...`` on stderr and a non-zero status."""
    click.echo(f"Error: {' '.join(message.split())}", err=True)
    sys.exit(code)


def _validate(files: tuple[str, ...], sources: list[SourceSpec], as_json: bool) -> None:
    """Load the files together, in order, as Falco does, and report each one."""
    ok = True
    docs = []
    summary = []
    outcome = Engine(sources).load_rules(list(files))
    for result in outcome.results:
        ok &= result.successful
        docs.append(result.as_dict())
        if result.successful and result.warnings:
            # as Falco: stdout says "Ok, with warnings", the warnings go to the log (stderr)
            summary.append(result.as_text())
            log.warning("%s", result.as_text(verbose=True))
        else:
            summary.append(result.as_text(verbose=True))
    if as_json:
        click.echo(orjson.dumps({"falco_load_results": docs}).decode())
    else:
        click.echo("\n".join(summary))
    if not ok:
        bad = [r.name for r in outcome.results if not r.successful]
        _fail(f"invalid rules file(s): {', '.join(bad)}")
    sys.exit(0)


def listing_sources() -> list[SourceSpec]:
    """Every built-in source with its real fields (``--list``), as Falco lists the fields
    of syscall and of every loaded plugin."""
    from lanner.sources.cloudtrail.source import cloudtrail_source
    from lanner.sources.gcp import gcp_audit_source
    from lanner.sources.github import github_source
    from lanner.sources.json_source.source import json_source
    from lanner.sources.k8s_audit.source import k8s_audit_source
    from lanner.sources.okta import okta_source
    from lanner.sources.syscall.source import syscall_source

    return [
        syscall_source(),
        k8s_audit_source(),
        cloudtrail_source(),
        json_source(),
        github_source(),
        okta_source(),
        gcp_audit_source(),
    ]


def _version() -> str:
    from lanner.app.metrics import lanner_version

    return lanner_version()


class FalcoCommand(click.Command):
    """A command whose usage errors are one line, ``Error: ...``, exit status 1, as
    Falco's."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            _fail(exc.format_message())


def _inputs(
    replay_path: str | None, live: bool, audit: bool, store: MetadataStore
) -> tuple[Replay | None, list[SourceSpec], dict[str, Any]]:
    """The replay (if any), the sources, and per-source converters of JSON lines. The
    syscall source's container fields read ``store``."""
    replay = None
    if replay_path:
        try:
            replay = open_replay(replay_path, store)
        except InputError as exc:
            _fail(str(exc))
        sources = replay.sources
    elif live:
        sources = json_line_sources()
    else:
        sources = default_sources(store)  # a live run: the eBPF probe (and the audit webhook)
    adapters: dict[str, Any] = {}
    if audit and replay is None and (found := k8s_audit_live()) is not None:
        spec, adapters["k8s_audit"] = found
        sources = [spec if s.name == "k8s_audit" else s for s in sources]
    return replay, sources, adapters


def _add_producers(daemon: Daemon, feed: LiveFeed, capture: str | None, probe: Any) -> None:
    """Start the live inputs: stdin, a followed file, the eBPF probe's pipeline."""
    if capture == "-":
        feed.add_producer(stdin_producer(), "stdin")
    elif capture:
        feed.add_producer(follow_file(capture), "follow")
    if probe is not None:
        daemon.attach_syscall_pipeline(probe)  # reloads reselect its syscalls and filter
        feed.add_producer(syscall_producer(probe, daemon.kernel_drops), "syscall")


def state_engine(cfg: Config) -> StateEngine:
    """The syscall state engine; falco_libs.thread_table_size bounds its thread table."""
    size = cfg.get("falco_libs.thread_table_size")
    return StateEngine(int(size)) if size else StateEngine()


def _alert_capture(daemon: Daemon, state: StateEngine, store: MetadataStore) -> Any:
    """Falco's ``capture`` (an AlertCapture the pipeline tees into), or None when
    ``capture.enabled`` is false."""
    if not daemon.cfg.boolean("capture.enabled"):
        return None
    from lanner.app.alert_capture import AlertCapture, CaptureSettings

    settings = CaptureSettings.from_config(daemon.cfg.section("capture"))
    capture = AlertCapture(
        settings, state, store, internal=daemon.emit_internal, hostname=daemon.engine.hostname
    )
    daemon.alert_capture = capture
    log.info(
        "captures on: %s, %s_<time>_<event number>.scap",
        "every rule" if settings.all_rules else "rules with capture: true",
        settings.path_prefix,
    )
    return capture


def _syscall_pipeline(daemon: Daemon, store: MetadataStore) -> SyscallPipeline | None:
    """The pipeline over the eBPF probe's ring for the loaded rules, new containers
    announced; None (reported) if the probe is unusable."""
    ring = _syscall_capture(daemon)
    if ring is None:
        return None
    state = state_engine(daemon.cfg)
    return SyscallPipeline(
        ring,
        store,
        state=state,
        inserter=_container_announcer(daemon, store),
        max_fds=int(daemon.cfg.get("falco_libs.fd_table_size")),
        tee=_alert_capture(daemon, state, store),
    )


def _syscall_capture(daemon: Daemon) -> object | None:
    """The eBPF probe's ring for the loaded rules, or None (reported) if unusable."""
    try:
        from lanner.sources.syscall.probe import LiveCapture, check_requirements
    except ImportError as exc:
        _warn_or_fail(daemon, f"live capture is not available in this build ({exc})")
        return None
    try:
        check_requirements()
    except Exception as exc:
        _warn_or_fail(daemon, f"{exc}: replay a file with -e FILE")
        return None
    types, base = daemon.syscall_event_types()
    log.info(
        "capturing %s syscall event types%s",
        "all" if types is None else len(types),
        " and the state engine's base set" if base else "",
    )
    # Falco's buf_size_preset: 1 MiB << (preset - 1), 8 MiB at the default 4; Lanner's
    # probe has one ring for all CPUs, which takes the whole size
    ring_size = 1 << (19 + daemon.cfg.integer("engine.modern_ebpf.buf_size_preset"))
    capture = LiveCapture(
        event_types=types, base=base, ring_size=ring_size, verbose=daemon.options.verbose
    )
    capture.outcomes = daemon.syscall_outcomes()  # the kernel-side filter (probe/filters.py)
    return capture


def _container_announcer(daemon: Daemon, store: MetadataStore) -> ContainerAnnouncer:
    """Ask the container runtimes found on this host; announce new containers."""
    # imported here: their clients (httpx, grpc) cost a replay ~0.1 s of start-up for nothing
    from lanner.sources.syscall.containers.runtimes import configure_runtimes, socket_watch

    used = configure_runtimes(store, daemon.cfg.get("container_engines") or {})
    log.info("container runtimes: %s", ", ".join(used) if used else "none found")
    watch = socket_watch(store)
    if watch is not None:  # container engines configured: their state on /metrics
        daemon.stats.containers = ContainerRuntimes(store, watch)
    return ContainerAnnouncer(store)


def _warn_or_fail(daemon: Daemon, message: str) -> None:
    if "k8saudit" in daemon.cfg.string_list("load_plugins"):
        log.warning("syscall source disabled: %s", message)
        return
    _fail(message)


def _select_sources(
    sources: list[SourceSpec],
    cfg: Config,
    enable: tuple[str, ...],
    disable: tuple[str, ...],
    replaying: bool,
) -> list[SourceSpec]:
    """The sources ``load_plugins``, ``--enable-source`` and ``--disable-source`` keep;
    a live run refuses an unknown name, a mix of both flags and an empty selection with
    Falco's errors."""
    plugins = cfg.string_list("load_plugins")
    for name in plugins:
        if name == "container":  # built in; its init_config.engines read by app.config
            continue
        if name not in PLUGIN_SOURCES:
            log.warning("load_plugins: Lanner has no equivalent of plugin '%s' (ignored)", name)
    from_plugins = plugin_sources(plugins)
    loaded = [s for s in sources if from_plugins is None or s.name in from_plugins]
    names = {s.name for s in loaded}
    selected = [s for s in loaded if (not enable or s.name in enable) and s.name not in disable]
    if replaying:  # as Falco: the selection is not checked when reading a capture
        return selected
    if enable and disable:
        _fail("You can not mix --enable-source and --disable-source")
    for verb, asked in (("enabling", enable), ("disabling", disable)):
        for name in asked:
            if name not in names:
                _fail(f"Attempted {verb} an unknown event source: {name}")
    if not selected:
        _fail("Must enable at least one event source")
    return selected


@click.command(cls=FalcoCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-r", "rules", multiple=True, help="Rules file or directory (repeatable).")
@click.option(
    "-e",
    "capture",
    help="Replay a capture: .scap (sysdig/Falco) or JSON lines; '-' reads JSON lines on stdin.",
)
@click.option(
    "--follow", is_flag=True, help="With -e FILE: keep reading what is appended (tail -F)."
)
@click.option(
    "-c",
    "config_file",
    help="Configuration file (falco.yaml keys); default /etc/falco/falco.yaml if it exists.",
)
@click.option(
    "-o", "--option", "overrides", multiple=True, help="Override a config key: key.sub=value."
)
@click.option("-D", "disable_substr", multiple=True, help="Disable rules whose name contains.")
@click.option("-T", "disable_tags", multiple=True, help="Disable rules with this tag.")
@click.option("-t", "enable_tags", multiple=True, help="Only run rules with this tag.")
@click.option("-A", "all_events", is_flag=True, help="Monitor all events (accepted for Falco).")
@click.option("-L", "list_rules", is_flag=True, help="List the loaded rules and exit.")
@click.option("-l", "describe", help="Describe one rule and exit.")
@click.option(
    "--list",
    "list_source",
    is_flag=False,
    flag_value="",
    default=None,
    help="List the fields of every source, or of SOURCE.",
)
@click.option("--enable-source", "enable_sources", multiple=True, help="Only these sources.")
@click.option("--disable-source", "disable_sources", multiple=True, help="Skip these sources.")
@click.option("-V", "--validate", "validate", multiple=True, help="Validate rules files; exit.")
@click.option("-M", "duration", type=float, help="Stop after this many seconds.")
@click.option(
    "--stats-interval",
    "stats_interval",
    help="Emit the metrics snapshot alert at this interval (500ms, 10s, 1m...).",
)
@click.option(
    "-p",
    "--print",
    "print_format",
    help="Extra output text (Falco's -p): c/container, k/kubernetes, cg, kg or a format.",
)
@click.option("-v", "verbose", is_flag=True, help="Print warnings too.")
@click.option(
    "--dry-run", is_flag=True, help="Load the configuration and rules, then exit: no events."
)
@click.option(
    "--list-events", "list_events", is_flag=True, help="List the driver's events and exit."
)
@click.option("-i", "ignored", is_flag=True, help="List the I/O syscalls not captured; exit.")
@click.option("-N", "names_only", is_flag=True, help="With --list: field names only.")
@click.option("--markdown", is_flag=True, help="With --list/--list-events: Markdown.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(falco_info.FORMATS),
    help="With --list/--list-events: text, markdown or json.",
)
@click.option(
    "--support", is_flag=True, help="Print versions, system, config and rules as JSON; exit."
)
@click.option("--config-schema", is_flag=True, help="Print the config JSON Schema and exit.")
@click.option("--rule-schema", is_flag=True, help="Print the rules JSON Schema and exit.")
@click.option("--list-plugins", is_flag=True, help="Describe the built-in plugins; exit.")
@click.option("--plugin-info", "plugin_name", help="Describe one built-in plugin; exit.")
@click.option(
    "-U", "--unbuffered", is_flag=True, help="Flush every alert line (buffered_outputs=false)."
)
@click.option("-P", "--pidfile", help="Write the process id to this file.")
@click.option("--version", "print_version", is_flag=True, help="Print versions and exit.")
@click.option("--page-size", is_flag=True, help="Log the system page size and exit.")
@click.option(
    "-S", "--snaplen", type=int, help="Falco 0.40 (deprecated there): -o falco_libs.snaplen=LEN."
)
@click.option(
    "-b", "--print-base64", "print_base64", is_flag=True, help="Falco 0.40: refused (no base64)."
)
@click.option(
    "--gvisor-generate-config",
    "gvisor_config",
    is_flag=False,
    flag_value="/run/falco/gvisor.sock",
    default=None,
    help="Falco 0.40-0.43: refused (there is no gVisor engine).",
)
def run(
    rules: tuple[str, ...],
    capture: str | None,
    follow: bool,
    config_file: str | None,
    overrides: tuple[str, ...],
    disable_substr: tuple[str, ...],
    disable_tags: tuple[str, ...],
    enable_tags: tuple[str, ...],
    all_events: bool,
    list_rules: bool,
    describe: str | None,
    list_source: str | None,
    enable_sources: tuple[str, ...],
    disable_sources: tuple[str, ...],
    validate: tuple[str, ...],
    duration: float | None,
    stats_interval: str | None,
    print_format: str | None,
    verbose: bool,
    dry_run: bool,
    list_events: bool,
    ignored: bool,
    names_only: bool,
    markdown: bool,
    fmt: str | None,
    support: bool,
    config_schema: bool,
    rule_schema: bool,
    list_plugins: bool,
    plugin_name: str | None,
    unbuffered: bool,
    pidfile: str | None,
    print_version: bool,
    page_size: bool,
    snaplen: int | None,
    print_base64: bool,
    gvisor_config: str | None,
) -> None:
    """Detect threats: evaluate Falco-format rules against events."""
    # Start-up (configuration, rules, compiled matchers) makes objects that live as long
    # as the run: no collection while they are made (about a tenth of start-up's CPU);
    # collection resumes at gc.freeze() below, or when the command ends.
    gc.disable()
    click.get_current_context().call_on_close(gc.enable)
    # Falco 0.40's flags that later releases dropped: what they set, or why Lanner refuses
    if print_base64:
        _fail("-b/--print-base64: buffers print as text; base64 is not provided")
    if gvisor_config is not None:
        _fail("--gvisor-generate-config: Lanner has no gVisor engine")
    if snaplen:  # as Falco 0.40: -S 0 leaves falco_libs.snaplen alone
        overrides = (*overrides, f"falco_libs.snaplen={snaplen}")
    if config_schema:  # before the configuration is read, as Falco
        from lanner.app.config_keys import json_schema

        click.echo(orjson.dumps(json_schema(), option=orjson.OPT_INDENT_2).decode())
        return
    if rule_schema:
        from lanner.engine.rule_schema import rule_schema as schema_of_rules

        click.echo(orjson.dumps(schema_of_rules(), option=orjson.OPT_INDENT_2).decode())
        return
    if markdown and fmt:
        _fail("Cannot specify both --markdown and --format options together")
    listing_format = fmt or ("markdown" if markdown else "text")
    if unbuffered:  # -U wins over the configuration, as Falco's
        overrides = (*overrides, "buffered_outputs=false")
    default_config = config_file is None and Path(FALCO_CONFIG).is_file()
    if default_config:  # as Falco: its default file when no -c is given
        config_file = FALCO_CONFIG
    try:
        cfg = load_config(config_file, overrides)
        json_output = cfg.boolean("json_output")
        cfg.priority()
        interval = parse_duration(stats_interval) if stats_interval else None
        print_option = PrintOption.parse(print_format) if print_format is not None else None
        capture, driver = event_input(cfg, capture)  # engine.kind: replay, nodriver
    except (ConfigError, ValueError) as exc:
        _fail(str(exc))
        return
    setup_logging(cfg)
    if default_config:
        log.info("Configuration: %s (Falco's default file; -c names another)", FALCO_CONFIG)
    for warning in cfg.warnings:
        log.warning("%s", warning)
    if print_version:
        click.echo(falco_info.version_text(_version(), json_output), nl=False)
        return
    if page_size:
        log.info("Your system page size is: %d bytes", os.sysconf("SC_PAGE_SIZE"))
        return
    if ignored:
        click.echo(falco_info.ignored_events(), nl=False)
        return
    if list_events:
        click.echo(falco_info.list_events(listing_format), nl=False)
        return
    if plugin_name is not None:
        try:
            click.echo(falco_info.plugin_info(plugin_name, _version()), nl=False)
        except KeyError:
            _fail(f"can't find plugin and print its info: {plugin_name}")
        return
    if list_plugins:
        plugins = falco_info.configured_plugins(cfg)
        click.echo(falco_info.list_plugins(plugins, _version()), nl=False)
        return
    if list_source is not None:
        sources = listing_sources()
        if list_source and list_source not in {s.name for s in sources}:
            _fail("Value for --list must be a valid source type")
        text = falco_info.list_fields(
            sources,
            list_source or None,
            names_only=names_only,
            fmt=listing_format,
            verbose=verbose,
        )
        click.echo(text, nl=False)
        return
    if validate:
        _validate(validate, default_sources(), json_output)
        return
    if enable_tags and (disable_substr or disable_tags):
        _fail("You can not specify both disabled (-D/-T) and enabled (-t) rules")
    options = RunOptions(
        rules=list(rules),
        config_file=config_file,
        overrides=list(overrides),
        disable_substr=list(disable_substr),
        disable_tags=list(disable_tags),
        enable_tags=list(enable_tags),
        verbose=verbose,
        stats_interval=interval,
        print_option=print_option,
    )
    live = capture == "-" or (capture is not None and follow)
    audit = "k8saudit" in cfg.string_list("load_plugins")
    try:  # cloudtrail's S3/SQS reader, github's webhook, okta's poller: nothing started yet
        planned = planned_inputs(cfg) if not capture else []
    except ConfigError as exc:
        _fail(str(exc))
        return
    store = MetadataStore()  # container metadata: filled by the pipeline, read by the fields
    replay, sources, adapters = _inputs(capture if not live else None, live, audit, store)
    for plugin in planned:  # the plugin's real fields (aws_cloudtrail: not JSON passthrough)
        sources = [s for s in sources if s.name != plugin.spec.name] + [plugin.spec]
    sources = _select_sources(sources, cfg, enable_sources, disable_sources, replay is not None)
    chosen = selected_inputs(planned, sources)  # a disabled source's input never starts
    options.live = live
    try:
        daemon = Daemon(cfg, options, sources)
    except ConfigError as exc:
        _fail(str(exc))
        return
    outcome = daemon.load()
    for result in outcome.results:
        if not result.successful or (verbose and result.warnings):
            click.echo(result.as_text(verbose=True), err=True)
    if not outcome.successful:
        bad = [r.name for r in outcome.results if not r.successful]
        _fail(f"could not load rules file(s): {', '.join(bad)}")
    if support:
        doc = falco_info.support(
            _version(),
            " ".join(["lanner", *sys.argv[1:]]),
            daemon.cfg.values,
            [r.name for r in outcome.results],
        )
        click.echo(orjson.dumps(doc).decode())
        return
    if dry_run:
        log.info("dry run: configuration and %d rules loaded, no events read",
                 len(daemon.engine.ruleset))  # fmt: skip
        return
    if pidfile:  # as Falco: written once the rules are loaded, not on a dry run
        try:
            Path(pidfile).write_text(str(os.getpid()))
        except OSError as exc:
            _fail(f"Could not write pid to pidfile {pidfile}: {exc.strerror}")
    if describe and daemon.engine.ruleset.get(describe) is None:
        _fail(f'Rule "{describe}" is not loaded')
    if (list_rules or describe) and json_output and outcome.collector is not None:
        from lanner.engine.describe import describe as describe_rules

        doc = describe_rules(outcome.collector, daemon.engine.ruleset, describe or None)
        click.echo(orjson.dumps(doc).decode())
        return
    if list_rules or describe:
        described = [
            (rule.name, rule.desc)
            for rule in daemon.engine.ruleset
            if not describe or rule.name == describe
        ]
        click.echo(falco_info.describe_rules(described), nl=False)
        return
    probe = None
    if driver and replay is None and not live and "syscall" in daemon.engine.sources:
        probe = _syscall_pipeline(daemon, store)
    if probe is not None or (replay is not None and replay.capture_path is not None):
        try:
            daemon.stats.k8smeta = start_k8smeta(cfg, store)
        except ConfigError as exc:
            _fail(str(exc))
            return
    webhook = audit and replay is None
    if replay is None and not live and probe is None and not webhook and not chosen:
        why = "" if driver else " (engine.kind is nodriver: no probe)"
        _fail(f"nothing to run: give events with -e, or enable the syscall source{why}")
        return
    try:  # bound or opened only now: a dry run, -L or a disabled source opens nothing
        services = start_inputs(chosen)
    except ConfigError as exc:
        _fail(str(exc))
        return
    live = live or probe is not None or webhook or bool(services)
    options.live = live
    feed = None
    if live:
        drops = daemon.stats.event_drops
        feed = LiveFeed(on_drop=lambda source, n: drops.update({(source, "queue_full"): n}))
        feed.adapters.update(adapters)
    scap = None
    events: Any = replay.events if replay is not None else None
    if replay is not None and replay.capture_path is not None:
        types, _base = daemon.syscall_event_types()
        state = state_engine(cfg)
        scap = ScapReplay(
            replay.capture_path,
            types,
            daemon.current_syscall_filter,
            store=store,
            state=state,
            tee=_alert_capture(daemon, state, store),
            drops=ReplayDrops(daemon.drop_monitor()),
        )
        events = iter(scap)
        show_progress(scap)
    daemon.install_signals()
    damage: ScapError | None = None
    try:
        daemon.start(feed)
        if feed is not None:
            _add_producers(daemon, feed, capture, probe)
            for plugin, producer, counters in services:
                daemon.stats.inputs[plugin.name] = counters  # lanner_input_errors
                feed.add_producer(producer, plugin.name)
            events = feed.events() if probe is None else probe.merge(feed.events())
        deadline = time.monotonic() + duration if duration else None
        # what start-up made (modules, compiled rules, config) lives as long as the run:
        # out of the collector's generations, so its collections scan only the events'
        # own objects (the replay of a large capture spent ~10 % of its CPU in them)
        gc.freeze()
        gc.enable()
        try:
            daemon.run(events, deadline)
        except ScapError as exc:  # a damaged capture: what came before it was evaluated
            damage = exc
    finally:
        if daemon.alert_capture is not None:
            daemon.alert_capture.close()  # the open capture file is finished
        rejected = daemon.stats.events_skipped["syscall"]
        if scap is not None:  # dropped in the native walk: received and skipped all the same
            daemon.stats.events["syscall"] += scap.dropped
            daemon.stats.events_skipped["syscall"] += scap.dropped
        daemon.shutdown()
    try:
        sys.stdout.flush()
        click.echo(daemon.engine.summary(), nl=False)
        if scap is not None:
            click.echo(scap.rate_line(rejected), err=True)
    except OSError as exc:  # stdout closed or full: the outputs already reported it
        log.error("cannot write the summary: %s", exc)
        sys.exit(1)
    # the outputs are closed and the summary written: the process may end without the
    # interpreter's teardown (lanner.app.quick_exit flushes stdout/stderr and runs atexit)
    quick_exit.arm()
    if damage is not None:
        _fail(
            f"{capture}: corrupt capture at byte offset {damage.offset}: {damage.reason}; "
            "the events before it were evaluated"
        )
    if daemon.exit_code:
        sys.exit(daemon.exit_code)
    if feed is not None and feed.failed:
        click.echo(f"Error: input(s) stopped on an error: {', '.join(feed.failed)}", err=True)
        sys.exit(1)


def main() -> None:  # pragma: no cover - convenience for `python -m`
    """Entry point for running this command alone."""
    run()


if __name__ == "__main__":  # pragma: no cover
    main()
