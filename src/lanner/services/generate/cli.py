"""``lanner generate``: list, run, test and bench the actions that trigger Lanner's rules."""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from typing import Any

import click

from lanner.services.generate.action import Action, RunContext
from lanner.services.generate.registry import UNCOVERED, UNCOVERED_FALCO, select
from lanner.services.generate.runner import (
    NOT_TRIGGERED,
    PASS,
    Result,
    failed,
    perform,
    probe_event_types,
    prove_rules,
    rule_table,
    run_and_check,
    skip_reason,
    table,
)
from lanner.services.generate.runtime_endpoint import (
    DEFAULT_SOCKET,
    active_endpoint,
    start_endpoint,
)

SOURCES = click.Choice(["syscall", "k8s_audit", "aws_cloudtrail", "github", "okta",
                        "gcp_auditlog"])  # fmt: skip
DEFAULT_WEBHOOK = "http://127.0.0.1:9765/k8s-audit"
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "": 1.0}


def parse_seconds(text: str) -> float:
    """``500ms``, ``2s``, ``1m`` or a plain number of seconds."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|)\s*", text)
    if not m:
        raise click.BadParameter(f"not a duration: {text!r} (500ms, 2s, 1m)")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _select(regex: str | None, source: str | None, ruleset: str | None = "lanner") -> list[Action]:
    try:
        actions = select(regex, source, None if ruleset == "all" else ruleset)
    except re.error as exc:
        raise click.BadParameter(f"bad regex {regex!r}: {exc}") from None
    if not actions:
        raise click.ClickException(f"no action matches {regex!r}")
    return actions


def _context(
    webhook: str, kubeconfig: str | None, timeout: float, cloud: dict[str, Any] | None = None
) -> RunContext:
    ctx = RunContext(webhook=webhook, kubeconfig=kubeconfig, timeout=timeout)
    if cloud:
        ctx.targets = _targets(cloud, timeout)
    return ctx


def _targets(opts: dict[str, Any], timeout: float) -> dict[str, Any]:
    """The delivery targets the cloud options name (ClickException when unusable)."""
    from lanner.exceptions import ActionError
    from lanner.services.generate import cloud

    endpoint = opts.get("aws_endpoint")
    targets: dict[str, Any] = {}
    try:
        if opts.get("cloudtrail_queue"):
            if not opts.get("cloudtrail_bucket"):
                raise click.UsageError("--cloudtrail-queue needs --cloudtrail-bucket")
            targets["cloudtrail"] = cloud.TrailTarget(
                opts["cloudtrail_bucket"], opts["cloudtrail_queue"], endpoint
            )
        if opts.get("eks_cluster"):
            targets["eks"] = cloud.EksTarget(opts["eks_cluster"], endpoint)
        if opts.get("aks_eventhub"):
            targets["aks"] = cloud.AksTarget(opts["aks_eventhub"], opts.get("aks_eventhub_name"))
        if opts.get("github"):
            secret_file = opts.get("github_secret_file")
            if not secret_file or not opts.get("github_repo"):
                raise click.UsageError("--github needs --github-secret-file and --github-repo")
            with open(secret_file) as fh:
                secret = fh.read().strip()
            targets["github"] = cloud.GithubTarget(opts["github"], secret, opts["github_repo"])
        if opts.get("github_api_serve"):
            targets["github_api"] = _github_api(opts, "github" in targets)
        if opts.get("gcp_topic") or opts.get("gke_topic"):
            from lanner.services.generate.gcp_actions import GcpTopic

            if opts.get("gcp_topic"):
                targets["gcp"] = GcpTopic(opts["gcp_topic"], "--gcp-topic")
            if opts.get("gke_topic"):
                targets["gke"] = GcpTopic(opts["gke_topic"], "--gke-topic")
        if opts.get("okta_serve"):
            from lanner.services.generate.okta_double import OktaLogDouble

            host, _, port = str(opts["okta_serve"]).rpartition(":")
            if not port.isdigit():
                raise click.UsageError(f"--okta-serve {opts['okta_serve']!r}: HOST:PORT")
            double = OktaLogDouble(host or "127.0.0.1", int(port), opts.get("okta_token") or "")
            targets["okta"] = double
            if not double.polled.wait(max(timeout, 30.0)):  # lanner may be backing off
                click.echo(f"warning: nothing polled {double.url} yet", err=True)
    except (ActionError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    return targets


def _github_api(opts: dict[str, Any], webhook: bool) -> Any:
    """The stand-in for GitHub's REST API ``--github-api-serve`` asks for."""
    from lanner.services.generate.github_api_double import GithubApiDouble

    if not webhook:
        raise click.UsageError(
            "--github-api-serve needs --github (its actions deliver the push and "
            "workflow_run webhooks announcing what they publish)"
        )
    host, _, port = str(opts["github_api_serve"]).rpartition(":")
    if not port.isdigit():
        raise click.UsageError(f"--github-api-serve {opts['github_api_serve']!r}: HOST:PORT")
    token = os.environ.get("GITHUB_PLUGIN_TOKEN", "")
    if opts.get("github_token_file"):
        with open(opts["github_token_file"]) as fh:
            token = fh.read().strip()
    return GithubApiDouble(host.strip("[]") or "127.0.0.1", int(port), token)


def cloud_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options naming where the cloud and SaaS actions deliver (collected in
    ``cloud``)."""
    opts = [
        click.option("--aws-endpoint", help="AWS API endpoint (default: the SDK's; a local "
                     "one such as moto for tests)."),
        click.option("--cloudtrail-bucket", help="S3 bucket the CloudTrail actions put "
                     "log files into."),
        click.option("--cloudtrail-queue", help="SQS queue notified of each log file (lanner "
                     "run's cloudtrail open_params: sqs://QUEUE)."),
        click.option("--eks-cluster", help="Write the k8s audit actions' events into this EKS "
                     "cluster's CloudWatch log group (k8saudit-eks) instead of posting them."),
        click.option("--aks-eventhub", envvar="LANNER_GENERATE_AKS_EVENTHUB",
                     help="Send the k8s audit actions' events to the Event Hub of this Azure "
                     "Event Hubs connection string (k8saudit-aks) instead of posting them "
                     "(env LANNER_GENERATE_AKS_EVENTHUB keeps the key out of the process list)."),
        click.option("--aks-eventhub-name", help="The Event Hub (else the connection "
                     "string's EntityPath)."),
        click.option("--github", help="The github plugin's webhook URL the GitHub actions "
                     "post to."),
        click.option("--github-secret-file", type=click.Path(exists=True, dir_okay=False),
                     help="The webhook secret (the plugin's secretsDir/webhook.secret)."),
        click.option("--github-repo", help="OWNER/NAME the deliveries are about (one the "
                     "plugin watches)."),
        click.option("--github-api-serve", help="HOST:PORT (loopback) to serve a stand-in "
                     "for GitHub's REST API on, for the github plugin's apiURL: the secret "
                     "and miner actions push into it."),
        click.option("--github-token-file", type=click.Path(exists=True, dir_okay=False),
                     help="The token the github plugin sends (its secretsDir/github.token; "
                     "default: GITHUB_PLUGIN_TOKEN)."),
        click.option("--okta-serve", help="HOST:PORT to serve a System Log API on for the "
                     "okta plugin to poll (its baseURL)."),
        click.option("--okta-token", default=lambda: os.environ.get("OKTA_API_TOKEN", ""),
                     help="The API token the okta plugin sends (default: OKTA_API_TOKEN)."),
        click.option("--gcp-topic", help="Pub/Sub topic (projects/P/topics/T) the GCP audit "
                     "actions publish to (a subscription of it is gcpaudit's open_params)."),
        click.option("--gke-topic", help="Publish the k8s audit actions' events to this "
                     "Pub/Sub topic as GKE audit entries (k8saudit-gke) instead of posting."),
    ]  # fmt: skip
    names = ["aws_endpoint", "cloudtrail_bucket", "cloudtrail_queue", "eks_cluster",
             "aks_eventhub", "aks_eventhub_name", "github", "github_secret_file", "github_repo",
             "github_api_serve", "github_token_file", "okta_serve", "okta_token", "gcp_topic",
             "gke_topic"]  # fmt: skip

    def wrapper(**kwargs: Any) -> Any:
        cloud = {n: kwargs.pop(n, None) for n in names}
        return fn(cloud=cloud, **kwargs)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    for opt in reversed(opts):
        wrapper = opt(wrapper)
    return wrapper


regex_arg = click.argument("regex", required=False)
source_opt = click.option("--source", type=SOURCES, help="Only actions of this event source.")
ruleset_opt = click.option(
    "--ruleset",
    type=click.Choice(["lanner", "falco", "all"]),
    default="lanner",
    show_default=True,
    help="Actions named after Lanner's rules, the upstream Falco rules, or both.",
)
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


runtime_opt = click.option(
    "--runtime-socket",
    default=DEFAULT_SOCKET,
    show_default=True,
    help="Serve the simulated containers' metadata on this Docker API socket (point "
    "lanner run's container_engines.docker.sockets at it); 'none' to not serve it.",
)


def _start_runtime(path: str) -> None:
    """Serve simulated containers' metadata for the container actions."""
    if path != "none" and active_endpoint() is None:
        try:
            start_endpoint(path)
            _warm_up()
        except OSError as exc:  # container actions still run; their fields stay empty
            click.echo(f"warning: --runtime-socket {path}: {exc}; simulated containers "
                       "will have no name or image", err=True)  # fmt: skip


def _warm_up() -> None:
    """Let a running lanner run find the new runtime socket before the first container
    action: it looks for sockets that appear when it meets a container it does not know
    (at most every 2 s), so show it one (``true`` in a simulated container) and wait."""
    from lanner.exceptions import ActionError
    from lanner.services.generate.action import Outcome, token
    from lanner.services.generate.container_context import container
    from lanner.services.generate.sandbox import run, tool

    out = Outcome(token())
    try:
        with container(out) as prefix:
            run(out, [*prefix, "-", tool("true"), out.marker], 10.0)
    except (ActionError, OSError):
        return  # not root, no cgroups: the container actions will say so themselves
    time.sleep(2.5)


def _rule_map(files: tuple[str, ...]) -> dict[str, list[str]]:
    from lanner.services.generate.registry import all_actions
    from lanner.services.generate.rule_map import RuleMapError, load_map

    try:
        mapping = load_map(files)
    except RuleMapError as exc:
        raise click.ClickException(str(exc)) from None
    unknown = set(mapping) - {a.name for a in all_actions()}
    if unknown:
        raise click.ClickException(f"map names actions that do not exist: {sorted(unknown)}")
    return mapping


def _loaded_rule_names(files: tuple[str, ...], source: str | None) -> list[str]:
    """The enabled rules of the files, as lanner run loads them (of ``source``)."""
    from lanner.app.run_command import listing_sources
    from lanner.engine.engine import Engine

    engine = Engine(listing_sources())  # every built-in source: github.yaml, okta_rules.yaml
    outcome = engine.load_rules(list(files))
    if not outcome.successful:
        text = "; ".join(r.as_text(verbose=False) for r in outcome.results if not r.successful)
        raise click.ClickException(f"the rules do not load: {text[:1000]}")
    return [r.name for r in engine.ruleset if r.enabled and (source is None or r.source == source)]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def generate() -> None:
    """Trigger Lanner's default rules on purpose, safely, and check they are detected."""


@generate.command("list")
@regex_arg
@source_opt
def list_cmd(regex: str | None, source: str | None) -> None:
    """List the actions (REGEX filters names and rules) and the rules no action covers."""
    actions = _select(regex, source, "all")
    width = max(len(a.name) for a in actions)
    for a in actions:
        root = "root" if a.needs_root else "    "
        click.echo(f"{a.name:<{width}}  {a.source:<9}  {a.ruleset:<6}  {root}  {a.rule}")
        click.echo(f"{'':<{width}}  {a.description}")
    if not regex and source != "k8s_audit":
        click.echo("\nNot triggerable on a bare host:")
        for u in [*UNCOVERED, *UNCOVERED_FALCO]:
            click.echo(f"  {u.rule}: {u.reason}")


@generate.command("run")
@regex_arg
@source_opt
@ruleset_opt
@click.option("--loop", is_flag=True, help="Run the actions again and again until Ctrl-C.")
@click.option("--sleep", "sleep", default="1s", show_default=True, help="Pause between actions.")
@webhook_opt
@kubeconfig_opt
@click.option("--timeout", default=10.0, show_default=True, help="Seconds an action may take.")
@runtime_opt
@cloud_options
def run_cmd(
    regex: str | None,
    source: str | None,
    ruleset: str,
    loop: bool,
    sleep: str,
    webhook: str,
    kubeconfig: str | None,
    timeout: float,
    runtime_socket: str,
    cloud: dict[str, Any],
) -> None:
    """Run the actions (all, or those matching REGEX)."""
    pause = parse_seconds(sleep)
    _start_runtime(runtime_socket)
    actions = _select(regex, source, ruleset)
    ctx = _context(webhook, kubeconfig, timeout, cloud)
    errors = 0
    try:
        while True:
            for action in actions:
                reason = skip_reason(action, None, ctx)
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
@click.option(
    "--rules",
    "rules_files",
    multiple=True,
    type=click.Path(exists=True),
    help="Rules files lanner run loaded: report per enabled rule (proved, not triggered, "
    "no action, cannot run here).",
)
@click.option("--map", "map_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="More action -> rule names mappings (YAML, as rule_map.yaml).")  # fmt: skip
@runtime_opt
@cloud_options
def test_cmd(
    regex: str | None,
    source: str | None,
    alerts: str,
    webhook: str,
    kubeconfig: str | None,
    timeout: float,
    metrics: str | None,
    retries: int,
    rules_files: tuple[str, ...],
    map_files: tuple[str, ...],
    runtime_socket: str,
    cloud: dict[str, Any],
) -> None:
    """Run the actions and check a running `lanner run` raised each one's alert.

    Prints a pass/fail table (per rule with --rules); exits 1 when an alert is missing or
    an action failed.
    """
    from lanner.services.generate.alerts import alerts_from
    from lanner.services.generate.bench import read_drops

    actions = _select(regex, source, "all" if rules_files else "lanner")
    ctx = _context(webhook, kubeconfig, min(timeout, 10.0), cloud)
    sources = {a.source for a in actions}
    drops0 = read_drops(metrics, sources)
    _start_runtime(runtime_socket)
    if rules_files:
        rule_names = _loaded_rule_names(rules_files, source)
        rule_map = _rule_map(map_files)
        with alerts_from(alerts) as feed:
            per_rule = prove_rules(
                rule_names, actions, rule_map, feed, ctx, timeout, probe_event_types()
            )
        click.echo(rule_table(per_rule))
        sys.exit(1 if any(r.status == NOT_TRIGGERED for r in per_rule) else 0)
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


@generate.command("suite")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--alerts", required=True, help="As for `test`: alert file or http:// URL.")
@webhook_opt
@kubeconfig_opt
@click.option("--timeout", default=15.0, show_default=True, help="Seconds to wait for alerts.")
@runtime_opt
@cloud_options
def suite_cmd(
    files: tuple[str, ...],
    alerts: str,
    webhook: str,
    kubeconfig: str | None,
    timeout: float,
    runtime_socket: str,
    cloud: dict[str, Any],
) -> None:
    """Run YAML scenarios (steps and the alerts they must raise); exit 1 on a failure."""
    from lanner.services.generate.alerts import alerts_from
    from lanner.services.generate.registry import all_actions
    from lanner.services.generate.suite import SuiteError, load_suite, run_suite

    by_name = {a.name: a for a in all_actions()}
    try:
        scenarios = [s for f in files for s in load_suite(f, by_name)]
    except SuiteError as exc:
        raise click.ClickException(str(exc)) from None
    _start_runtime(runtime_socket)
    ctx = _context(webhook, kubeconfig, min(timeout, 10.0), cloud)
    with alerts_from(alerts) as feed:
        results = run_suite(scenarios, by_name, feed, ctx, timeout, probe_event_types())
    width = max(len(r.scenario.name) for r in results)
    for r in results:
        click.echo(f"{r.scenario.name:<{width}}  {r.status:<5}  {r.detail}".rstrip())
    counts = {s: sum(r.status == s for r in results) for s in ("PASS", "FAIL", "ERROR", "SKIP")}
    click.echo(", ".join(f"{n} {s.lower()}" for s, n in counts.items()))
    sys.exit(1 if counts["FAIL"] or counts["ERROR"] else 0)


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
