"""``lanner run``: load rules and evaluate events, with Falco's command-line flags."""

from __future__ import annotations

import sys
import time

import click
import orjson

from lanner.app.config import Config, ConfigError, load_config
from lanner.app.inputs import InputError, default_sources, open_replay
from lanner.engine.alert import JsonOptions
from lanner.engine.engine import Engine
from lanner.engine.fields import SourceSpec
from lanner.engine.priority import Priority


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def _json_options(cfg: Config) -> JsonOptions:
    return JsonOptions(
        include_output=cfg.boolean("json_include_output_property"),
        include_tags=cfg.boolean("json_include_tags_property"),
        include_output_fields=cfg.boolean("json_include_output_fields_property"),
        include_message=cfg.boolean("json_include_message_property"),
    )


def _load(engine: Engine, rules: list[str], verbose: bool) -> bool:
    outcome = engine.load_rules(rules)
    for result in outcome.results:
        if not result.successful or (verbose and result.warnings):
            click.echo(result.as_text(verbose=True), err=True)
    return outcome.successful


def _validate(files: tuple[str, ...], sources: list[SourceSpec], as_json: bool) -> None:
    ok = True
    docs = []
    summary = []
    for f in files:
        engine = Engine(sources)
        outcome = engine.load_rules([f])
        for result in outcome.results:
            ok &= result.successful
            docs.append(result.as_dict())
            summary.append(result.as_text(verbose=True))
    if as_json:
        click.echo(orjson.dumps({"falco_load_results": docs}).decode())
    else:
        click.echo("\n".join(summary))
    sys.exit(0 if ok else 1)


def _list_fields(sources: list[SourceSpec], only: str | None) -> None:
    for spec in sources:
        if only and spec.name != only:
            continue
        click.echo(f"Event Source: {spec.name}\n")
        for f in spec.fields:
            arg = f" [{f.arg.value}]" if f.arg.value != "none" else ""
            click.echo(
                f"{f.name:32} ({f.type.value}{', list' if f.is_list else ''}){arg}  {f.desc}"
            )
        click.echo("")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-r", "rules", multiple=True, help="Rules file or directory (repeatable).")
@click.option("-e", "capture", help="Replay a capture: .scap (sysdig/Falco) or JSON lines.")
@click.option("-c", "config_file", help="Configuration file (falco.yaml keys).")
@click.option("-o", "overrides", multiple=True, help="Override a config key: key.sub=value.")
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
@click.option("-v", "verbose", is_flag=True, help="Print warnings too.")
def run(
    rules: tuple[str, ...],
    capture: str | None,
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
    verbose: bool,
) -> None:
    """Detect threats: evaluate Falco-format rules against events."""
    try:
        cfg = load_config(config_file, overrides)
        json_output = cfg.boolean("json_output")
        iso = cfg.boolean("time_format_iso_8601")
        json_opts = _json_options(cfg)
        min_priority = Priority.parse(str(cfg.get("priority", "debug")))
    except (ConfigError, ValueError) as exc:
        _fail(str(exc))
        return
    if list_source is not None:
        _list_fields(default_sources(), list_source or None)
        return
    if validate:
        _validate(validate, default_sources(), json_output)
        return
    rule_paths = list(rules) or cfg.string_list("rules_files")
    if not rule_paths:
        _fail("no rules given: use -r FILE or rules_files in the configuration")
    replay = None
    if capture:
        try:
            replay = open_replay(capture)
        except InputError as exc:
            _fail(str(exc))
            return
        sources = replay.sources
    else:
        sources = default_sources()
    sources = [
        s
        for s in sources
        if (not enable_sources or s.name in enable_sources) and s.name not in disable_sources
    ]
    engine = Engine(sources, iso8601=iso)
    if not _load(engine, rule_paths, verbose):
        sys.exit(1)
    ruleset = engine.ruleset
    ruleset.match_all = str(cfg.get("rule_matching", "first")) == "all"
    for sub in disable_substr:
        ruleset.set_enabled(False, substring=sub)
    if disable_tags:
        ruleset.set_enabled(False, tags=disable_tags)
    if enable_tags:
        for rule in ruleset:
            rule.enabled = rule.enabled and not set(enable_tags).isdisjoint(rule.tags)
    ruleset.set_min_priority(min_priority)
    if list_rules or describe:
        for rule in ruleset:
            if describe and rule.name != describe:
                continue
            click.echo(f"{rule.name}\n    {' '.join(rule.desc.split())}\n")
        return
    if replay is None:
        _fail("live capture is not available in this build yet: replay a file with -e FILE")
        return
    deadline = time.monotonic() + duration if duration else None
    out = sys.stdout.buffer
    for source, event in replay.events:
        for alert in engine.process(event, source):
            line = alert.to_json(json_opts) if json_output else alert.output.encode()
            out.write(line + b"\n")
        if deadline is not None and time.monotonic() > deadline:
            break
    out.flush()
    click.echo(engine.summary(), nl=False)


def main() -> None:  # pragma: no cover - convenience for `python -m`
    """Entry point for running this command alone."""
    run()


if __name__ == "__main__":  # pragma: no cover
    main()
