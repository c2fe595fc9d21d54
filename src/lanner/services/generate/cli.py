"""``lanner generate``: list, run, test and bench the actions that trigger Lanner's rules."""

from __future__ import annotations

import re
import sys
import time

import click

from lanner.services.generate.action import Action, RunContext
from lanner.services.generate.registry import UNCOVERED, select
from lanner.services.generate.runner import (
    PASS,
    Result,
    failed,
    perform,
    probe_event_types,
    run_and_check,
    skip_reason,
    table,
)

SOURCES = click.Choice(["syscall", "k8s_audit"])
DEFAULT_WEBHOOK = "http://127.0.0.1:9765/k8s-audit"
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "": 1.0}


def parse_seconds(text: str) -> float:
    """``500ms``, ``2s``, ``1m`` or a plain number of seconds."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|)\s*", text)
    if not m:
        raise click.BadParameter(f"not a duration: {text!r} (500ms, 2s, 1m)")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _select(regex: str | None, source: str | None) -> list[Action]:
    try:
        actions = select(regex, source)
    except re.error as exc:
        raise click.BadParameter(f"bad regex {regex!r}: {exc}") from None
    if not actions:
        raise click.ClickException(f"no action matches {regex!r}")
    return actions


def _context(webhook: str, kubeconfig: str | None, timeout: float) -> RunContext:
    return RunContext(webhook=webhook, kubeconfig=kubeconfig, timeout=timeout)


regex_arg = click.argument("regex", required=False)
source_opt = click.option("--source", type=SOURCES, help="Only actions of this event source.")
webhook_opt = click.option(
    "--webhook",
    default=DEFAULT_WEBHOOK,
    show_default=True,
    help="Audit webhook the k8s audit actions post to.",
)
kubeconfig_opt = click.option(
    "--kubeconfig",
    type=click.Path(exists=True, dir_okay=False),
    help="Make real API calls on this cluster instead of posting audit events.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def generate() -> None:
    """Trigger Lanner's default rules on purpose, safely, and check they are detected."""


@generate.command("list")
@regex_arg
@source_opt
def list_cmd(regex: str | None, source: str | None) -> None:
    """List the actions (REGEX filters names and rules) and the rules no action covers."""
    actions = _select(regex, source)
    width = max(len(a.name) for a in actions)
    for a in actions:
        root = "root" if a.needs_root else "    "
        click.echo(f"{a.name:<{width}}  {a.source:<9}  {root}  {a.rule}")
        click.echo(f"{'':<{width}}  {a.description}")
    if not regex and source != "k8s_audit":
        click.echo("\nNot triggerable on a bare host:")
        for u in UNCOVERED:
            click.echo(f"  {u.rule}: {u.reason}")


@generate.command("run")
@regex_arg
@source_opt
@click.option("--loop", is_flag=True, help="Run the actions again and again until Ctrl-C.")
@click.option("--sleep", "sleep", default="1s", show_default=True, help="Pause between actions.")
@webhook_opt
@kubeconfig_opt
@click.option("--timeout", default=10.0, show_default=True, help="Seconds an action may take.")
def run_cmd(
    regex: str | None,
    source: str | None,
    loop: bool,
    sleep: str,
    webhook: str,
    kubeconfig: str | None,
    timeout: float,
) -> None:
    """Run the actions (all, or those matching REGEX)."""
    pause = parse_seconds(sleep)
    actions = _select(regex, source)
    ctx = _context(webhook, kubeconfig, timeout)
    errors = 0
    try:
        while True:
            for action in actions:
                reason = skip_reason(action, None)
                if reason:
                    click.echo(f"SKIP   {action.name}: {reason}")
                    continue
                res = perform(action, ctx)
                if res.status == PASS and res.outcome is not None:
                    click.echo(f"ran    {action.name} ({res.outcome.marker}) -> {action.rule}")
                else:
                    errors += 1
                    click.echo(f"ERROR  {action.name}: {res.detail}", err=True)
                time.sleep(pause)
            if not loop:
                break
    except KeyboardInterrupt:
        pass
    sys.exit(1 if errors else 0)


@generate.command("test")
@regex_arg
@source_opt
@click.option(
    "--alerts",
    "alerts",
    required=True,
    help="lanner run's JSON file output (a path), or http://HOST:PORT/ to receive its "
    "http_output there.",
)
@webhook_opt
@kubeconfig_opt
@click.option("--timeout", default=15.0, show_default=True, help="Seconds to wait for the alerts.")
@click.option(
    "--metrics",
    help="lanner run's Prometheus endpoint: report the events it dropped during the test.",
)
@click.option(
    "--retries",
    default=0,
    show_default=True,
    help="Run an action whose alert did not come again, up to this many times.",
)
def test_cmd(
    regex: str | None,
    source: str | None,
    alerts: str,
    webhook: str,
    kubeconfig: str | None,
    timeout: float,
    metrics: str | None,
    retries: int,
) -> None:
    """Run the actions and check a running `lanner run` raised each one's alert.

    Prints a pass/fail table; exits 1 when an alert is missing or an action failed.
    """
    from lanner.services.generate.alerts import alerts_from
    from lanner.services.generate.bench import read_drops

    actions = _select(regex, source)
    ctx = _context(webhook, kubeconfig, min(timeout, 10.0))
    sources = {a.source for a in actions}
    drops0 = read_drops(metrics, sources)
    with alerts_from(alerts) as feed:
        results: list[Result] = run_and_check(
            actions, feed, ctx, timeout=timeout, captured=probe_event_types(), retries=retries
        )
    drops1 = read_drops(metrics, sources)
    click.echo(table(results))
    if metrics:
        if drops0 is None or drops1 is None:
            click.echo(f"drops: unknown ({metrics} unreadable)")
        else:
            click.echo(f"lanner dropped {drops1 - drops0} events during the test")
    sys.exit(1 if failed(results) else 0)


@generate.command("bench")
@regex_arg
@source_opt
@click.option("--alerts", required=True, help="As for `test`: alert file or http:// URL.")
@click.option(
    "--pid", type=int, help="Pid of lanner run (default: the only one running, from /proc)."
)
@click.option(
    "--metrics",
    default="http://127.0.0.1:8765/metrics",
    show_default=True,
    help="lanner run's Prometheus endpoint, for its drop counters ('' to skip).",
)
@click.option(
    "--rates", default="1,2,5,10,20,50,100", show_default=True, help="Actions per second."
)
@click.option("--step", "step", default="5s", show_default=True, help="Duration of a step.")
@click.option("--grace", default="10s", show_default=True, help="Wait for alerts after a step.")
@webhook_opt
def bench_cmd(
    regex: str | None,
    source: str | None,
    alerts: str,
    pid: int | None,
    metrics: str,
    rates: str,
    step: str,
    grace: str,
    webhook: str,
) -> None:
    """Drive actions at increasing rates; report the highest rate still fully detected."""
    from lanner.services.generate.alerts import alerts_from
    from lanner.services.generate.bench import HEADER, bench, format_step
    from lanner.services.generate.procstat import find_lanner_pids

    try:
        rate_list = [float(r) for r in rates.split(",") if r.strip()]
    except ValueError:
        raise click.BadParameter(f"--rates: not numbers: {rates!r}") from None
    captured = probe_event_types()
    actions = [a for a in _select(regex, source) if skip_reason(a, captured) is None]
    if not actions:
        raise click.ClickException("no selected action can run here")
    if pid is None:
        pids = find_lanner_pids()
        if len(pids) == 1:
            pid = pids[0]
        else:
            found = ", ".join(map(str, pids)) or "none"
            click.echo(
                f"warning: lanner run processes found: {found}; give --pid to measure CPU and RSS",
                err=True,
            )
    ctx = _context(webhook, None, 10.0)
    click.echo(f"{len(actions)} actions, lanner pid {pid or '?'}\n{HEADER}")
    with alerts_from(alerts) as feed:
        _steps, best = bench(
            actions,
            feed,
            ctx,
            rate_list,
            parse_seconds(step),
            pid=pid,
            metrics_url=metrics or None,
            grace=parse_seconds(grace),
            on_step=lambda s: click.echo(format_step(s)),
        )
    if best is None:
        click.echo("no rate was fully detected")
        sys.exit(1)
    drops = "unknown (no metrics)" if best.drops is None else str(best.drops)
    click.echo(
        f"highest fully detected rate: {best.achieved_rate:.1f} actions/s "
        f"(target {best.target_rate:g}/s, drops {drops})"
    )
