"""`lanner respond`: run the response service, or check rules / print RBAC / replay alerts."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import IO, Any

import click
import yaml

from lanner.exceptions import RulesError
from lanner.services.respond.actions.kube import KubeClients, KubeConfig
from lanner.services.respond.audit import AuditLog
from lanner.services.respond.dedup import DEFAULT_KEY_FIELDS, Deduplicator
from lanner.services.respond.engine import Dispatcher, Responder
from lanner.services.respond.metrics import RespondMetrics
from lanner.services.respond.nats_input import NatsAuth, redact_url
from lanner.services.respond.notifiers import Notifications
from lanner.services.respond.rules import RuleSet, load_rules, load_ruleset

DEFAULT_PORT = 2804
DEFAULT_LISTEN = f"127.0.0.1:{DEFAULT_PORT}"
log = logging.getLogger("lanner.respond")


def _listen(value: str) -> tuple[str, int]:
    """HOST:PORT (HOST may be empty: loopback; [v6]:PORT) as (host, port)."""
    host, _, port = value.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        return host, int(port or DEFAULT_PORT)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not HOST:PORT", param_hint="--listen") from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _read_token_file(path: str) -> str:
    token = Path(path).read_text().strip()
    if not token:
        raise click.BadParameter(f"{path} is empty", param_hint="--token-file")
    return token


def _check_exposure(
    *,
    http: bool,
    listen: str,
    token: str | None,
    tls: bool,
    nats_url: str | None,
    nats_auth: NatsAuth,
    insecure: bool,
) -> None:
    """Refuse to serve inputs that would run cluster actions for anyone, unless --insecure
    (then warn loudly); warn when a token would cross the network in clear text."""
    problems: list[str] = []
    if http and not token:
        problems.append(
            f"the HTTP input ({listen}) has no bearer token: set --token, "
            "LANNER_RESPOND_TOKEN or --token-file"
        )
    if nats_url:
        conflict = nats_auth.conflict()
        if conflict:
            raise click.UsageError(conflict)
        if not nats_auth.authenticated(nats_url):
            problems.append(
                f"NATS {redact_url(nats_url)}: no credentials: set --nats-token or "
                "--nats-user/--nats-password (or a client certificate)"
            )
    if problems and not insecure:
        raise click.ClickException(
            "refusing to start: anyone who can reach an input could run the response "
            "actions on the cluster.\n  - "
            + "\n  - ".join(problems)
            + "\n(or pass --insecure to accept that risk, e.g. on a test cluster)"
        )
    for problem in problems:
        message = f"WARNING: --insecure: {problem}; anyone who can reach it can trigger actions"
        click.echo(message, err=True)
        log.warning("%s", message)
    host, _ = _listen(listen)
    if http and token and not tls and not _is_loopback(host):
        click.echo(
            f"WARNING: listening on {host} without TLS: the bearer token crosses the network "
            "in clear text (use --tls-cert/--tls-key or a mesh)",
            err=True,
        )


@click.command("respond", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-r",
    "--rules",
    "rules_paths",
    multiple=True,
    required=True,
    type=click.Path(exists=True),
    help="Response rules file or directory (repeatable).",
)
@click.option(
    "--check",
    is_flag=True,
    help="Validate the rules and exit, saying each file's format (Lanner or Falco Talon) "
    "and how anything was read.",
)
@click.option(
    "--config",
    "talon_config",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Falco Talon's config.yaml: its notifiers, default_notifiers and deduplication "
    "window are used.",
)
@click.option(
    "--rbac",
    "print_rbac",
    is_flag=True,
    help="Print least-privilege RBAC manifests for the rules and exit.",
)
@click.option(
    "--rbac-namespace",
    default="lanner",
    show_default=True,
    help="Namespace of the ServiceAccount in --rbac output.",
)
@click.option(
    "--replay",
    type=click.File("r"),
    default=None,
    help="Respond to alerts from a JSON-lines file ('-' for stdin), then exit.",
)
@click.option(
    "--listen",
    default=DEFAULT_LISTEN,
    show_default=True,
    help="HTTP address for alerts, /healthz and /metrics (0.0.0.0:2804 to listen on "
    "every interface).",
)
@click.option("--no-http", is_flag=True, help="Do not start the HTTP receiver.")
@click.option(
    "--token",
    envvar="LANNER_RESPOND_TOKEN",
    default=None,
    help="Bearer token required on POST / and GET /audit (env LANNER_RESPOND_TOKEN).",
)
@click.option(
    "--token-file",
    envvar="LANNER_RESPOND_TOKEN_FILE",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="File holding the bearer token (env LANNER_RESPOND_TOKEN_FILE).",
)
@click.option(
    "--insecure",
    is_flag=True,
    help="Start without a token on the HTTP input or credentials for NATS (prints a warning).",
)
@click.option("--tls-cert", type=click.Path(exists=True), default=None)
@click.option("--tls-key", type=click.Path(exists=True), default=None)
@click.option("--nats-url", default=None, help="NATS server to subscribe to, e.g. nats://h:4222.")
@click.option(
    "--nats-token",
    envvar="LANNER_RESPOND_NATS_TOKEN",
    default=None,
    help="NATS authentication token (env LANNER_RESPOND_NATS_TOKEN).",
)
@click.option(
    "--nats-user",
    envvar="LANNER_RESPOND_NATS_USER",
    default=None,
    help="NATS user (env LANNER_RESPOND_NATS_USER).",
)
@click.option(
    "--nats-password",
    envvar="LANNER_RESPOND_NATS_PASSWORD",
    default=None,
    help="NATS password (env LANNER_RESPOND_NATS_PASSWORD).",
)
@click.option(
    "--nats-tls-ca",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="CA bundle to verify the NATS server (turns TLS on).",
)
@click.option("--nats-tls-cert", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--nats-tls-key", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--nats-tls-hostname", default=None, help="Name in the NATS server certificate.")
@click.option(
    "--nats-subject",
    "nats_subjects",
    multiple=True,
    default=("falco.>",),
    show_default=True,
    help="Subject to subscribe to (repeatable).",
)
@click.option("--nats-queue", default=None, help="NATS queue group (share load between replicas).")
@click.option("--dry-run", is_flag=True, help="Describe actions instead of doing them.")
@click.option(
    "--dedup-window",
    type=float,
    default=60.0,
    show_default=True,
    help="Seconds during which repeats of an alert are ignored (0: off).",
)
@click.option(
    "--dedup-field",
    "dedup_fields",
    multiple=True,
    default=DEFAULT_KEY_FIELDS,
    show_default=True,
    help="Output field identifying 'the same' alert, besides rule and hostname.",
)
@click.option(
    "--audit-log",
    type=click.Path(),
    default=None,
    help="Append one JSON line per action to this file.",
)
@click.option(
    "--kubeconfig",
    type=click.Path(exists=True),
    envvar="KUBECONFIG",
    default=None,
    help="kubeconfig file (default: in-cluster, then ~/.kube/config).",
)
@click.option("--context", "kube_context", default=None, help="kubeconfig context.")
@click.option("--in-cluster", is_flag=True, help="Use the pod's service account only.")
@click.option(
    "--retries",
    type=int,
    default=2,
    show_default=True,
    help="Retries of an action after a transient failure.",
)
@click.option(
    "--backoff",
    type=float,
    default=0.5,
    show_default=True,
    help="First retry delay in seconds (doubles each retry).",
)
@click.option("--workers", type=int, default=2, show_default=True)
@click.option(
    "--max-queue",
    type=int,
    default=10_000,
    show_default=True,
    help="Alerts waiting for a worker before inputs refuse more (HTTP 503).",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
def respond(
    rules_paths: tuple[str, ...],
    check: bool,
    talon_config: str | None,
    print_rbac: bool,
    rbac_namespace: str,
    replay: IO[str] | None,
    listen: str,
    no_http: bool,
    token: str | None,
    token_file: str | None,
    insecure: bool,
    tls_cert: str | None,
    tls_key: str | None,
    nats_url: str | None,
    nats_token: str | None,
    nats_user: str | None,
    nats_password: str | None,
    nats_tls_ca: str | None,
    nats_tls_cert: str | None,
    nats_tls_key: str | None,
    nats_tls_hostname: str | None,
    nats_subjects: tuple[str, ...],
    nats_queue: str | None,
    dry_run: bool,
    dedup_window: float,
    dedup_fields: tuple[str, ...],
    audit_log: str | None,
    kubeconfig: str | None,
    kube_context: str | None,
    in_cluster: bool,
    retries: int,
    backoff: float,
    workers: int,
    max_queue: int,
    log_level: str,
) -> None:
    """Closed-loop response: run actions on Kubernetes when Falco alerts match rules."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        ruleset = load_ruleset(rules_paths)
    except RulesError as exc:
        raise click.ClickException(f"invalid response rules:\n{exc}") from exc
    rules = ruleset.rules
    settings = _talon_config(talon_config)
    if settings.get("dedup_window") is not None and dedup_window == 60.0:
        dedup_window = float(settings["dedup_window"])
    missing = sorted(
        {(r.name, n) for r in rules for n in r.notifiers if n not in settings["notifiers"]}
    )
    if missing:
        lines = [f"rule '{r}' uses notifier '{n}', which --config does not set" for r, n in missing]
        raise click.ClickException("invalid response rules:\n" + "\n".join(lines))
    if check:
        _print_check(ruleset)
        return
    if print_rbac:
        from lanner.services.respond.rbac import manifests

        click.echo(yaml.safe_dump_all(manifests(rules, namespace=rbac_namespace), sort_keys=False))
        return
    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    if token and token_file:
        raise click.UsageError("give --token or --token-file, not both")
    if token_file:
        token = _read_token_file(token_file)
    nats_auth = NatsAuth(
        token=nats_token,
        user=nats_user,
        password=nats_password,
        tls_ca=nats_tls_ca,
        tls_cert=nats_tls_cert,
        tls_key=nats_tls_key,
        tls_hostname=nats_tls_hostname,
    )
    if replay is None:
        if no_http and not nats_url:
            raise click.UsageError("nothing to listen on: drop --no-http or give --nats-url")
        _check_exposure(
            http=not no_http,
            listen=listen,
            token=token,
            tls=bool(tls_cert),
            nats_url=nats_url,
            nats_auth=nats_auth,
            insecure=insecure,
        )

    kube = KubeClients(KubeConfig(kubeconfig, kube_context, in_cluster))
    metrics = RespondMetrics()
    responder = Responder(
        rules,
        kube=kube,
        dry_run=dry_run,
        dedup=Deduplicator(dedup_window, dedup_fields),
        audit=AuditLog(audit_log),
        metrics=metrics,
        notifications=Notifications(
            settings["notifiers"],
            tuple(settings["defaults"]),
            kube=kube,
            on_result=lambda name, ok: metrics.notifications.labels(
                name, "ok" if ok else "failed"
            ).inc(),
        ),
        settings=settings["outputs"],
        retries=retries,
        backoff=backoff,
    )
    if replay is not None:
        _replay(responder, replay)
        return
    signal.signal(signal.SIGHUP, lambda *_: _reload(responder, rules_paths))
    _serve(
        _rules_summary(ruleset, dry_run),
        responder,
        Dispatcher(responder, workers=workers, max_queue=max_queue),
        listen,
        no_http,
        token,
        tls_cert,
        tls_key,
        nats_url,
        nats_auth,
        nats_subjects,
        nats_queue,
    )


def _print_check(ruleset: RuleSet) -> None:
    """One line per file (format, counts), then how things were read, then the total."""
    names = {"lanner": "Lanner rules", "talon": "Falco Talon rules", "empty": "empty"}
    for report in ruleset.files:
        click.echo(
            f"{report.path}: {names[report.format]}, {report.rules} rules, {report.actions} actions"
        )
        for note in report.notes:
            click.echo(f"  note: {note}")
    actions = sum(len(r.actions) for r in ruleset.rules)
    click.echo(f"{len(ruleset.rules)} rules, {actions} actions: OK")


# Falco Talon config keys lanner respond sets with its own flags instead
_TALON_FLAGS = {
    "listen_address": "--listen",
    "listen_port": "--listen",
    "rules_files": "-r",
    "kubeconfig": "--kubeconfig",
    "log_format": "--log-level",
    "watch_rules": "SIGHUP",
    "print_all_events": "--log-level debug",
    "otel": "/metrics",
}


def _talon_config(path: str | None) -> dict[str, Any]:
    """notifiers, defaults and dedup_window from Talon's config.yaml (empty without one);
    keys handled by flags are named on stderr, unknown keys refused."""
    out: dict[str, Any] = {"notifiers": {}, "defaults": [], "dedup_window": None, "outputs": {}}
    if path is None:
        return out
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise click.ClickException(f"{path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise click.ClickException(f"{path}: a Talon config file is a mapping")
    known = {"notifiers", "default_notifiers", "deduplication", "aws", "minio", "gcp"}
    known |= set(_TALON_FLAGS)
    problems = [f"unknown key '{k}'" for k in sorted(set(doc) - known)]
    problems += Notifications.check(doc.get("notifiers"), doc.get("default_notifiers") or [])
    dedup = doc.get("deduplication") or {}
    window = dedup.get("time_window_seconds") if isinstance(dedup, dict) else None
    if isinstance(dedup, dict):
        problems += [
            f"unknown key 'deduplication.{k}'"
            for k in sorted(set(dedup) - {"time_window_seconds", "leader_election"})
        ]
    if window is not None and (isinstance(window, bool) or not isinstance(window, int | float)):
        problems.append("'deduplication.time_window_seconds' must be a number")
    if problems:
        raise click.ClickException(f"{path}: " + f"\n{path}: ".join(problems))
    if isinstance(dedup, dict) and "leader_election" in dedup:
        click.echo(
            f"{path}: 'deduplication.leader_election' is not read from here; lanner respond "
            "replicas share alerts through a NATS queue group (--nats-queue)",
            err=True,
        )
    for key in sorted(set(doc) & set(_TALON_FLAGS)):
        use = _TALON_FLAGS[key]
        click.echo(f"{path}: '{key}' is not read from here; lanner respond uses {use}", err=True)
    out.update(
        notifiers=dict(doc.get("notifiers") or {}),
        defaults=list(doc.get("default_notifiers") or []),
        dedup_window=window,
        outputs={k: dict(doc[k]) for k in ("aws", "minio", "gcp") if isinstance(doc.get(k), dict)},
    )
    return out


def _replay(responder: Responder, stream: IO[str]) -> None:
    """Handle alerts one by one and print each audit record as a JSON line."""
    failed = 0
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            records = responder.handle(json.loads(line), "replay")
        except ValueError as exc:
            click.echo(f"line {number}: skipped: {exc}", err=True)
            continue
        for record in records:
            failed += record.result == "failed"
            click.echo(json.dumps(record.to_dict(), default=str, sort_keys=True))
    if failed:
        raise SystemExit(1)


def _reload(responder: Responder, rules_paths: tuple[str, ...]) -> None:
    """SIGHUP: load the rules again; on any problem keep the running ones."""
    try:
        rules = load_rules(rules_paths)
    except RulesError as exc:
        responder.metrics.reloads.labels("failed").inc()
        log.error("rules not reloaded, keeping the previous ones:\n%s", exc)
        return
    responder.replace_rules(rules)
    responder.metrics.reloads.labels("ok").inc()
    log.info("reloaded %d rules", len(rules))


def _rules_summary(ruleset: RuleSet, dry_run: bool) -> str:
    """ "9 rules (rules.yaml: Falco Talon; local.yaml: Lanner)", for the start-up line."""
    kinds = {"lanner": "Lanner", "talon": "Falco Talon", "empty": "empty"}
    files = "; ".join(f"{Path(f.path).name}: {kinds[f.format]}" for f in ruleset.files)
    text = f"{len(ruleset.rules)} rules ({files})"
    return text + (", dry-run" if dry_run else "")


def _serve(
    rules_summary: str,
    responder: Responder,
    dispatcher: Dispatcher,
    listen: str,
    no_http: bool,
    token: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    nats_url: str | None,
    nats_auth: NatsAuth,
    nats_subjects: tuple[str, ...],
    nats_queue: str | None,
) -> None:
    nats_input = None
    if nats_url:
        from lanner.services.respond.nats_input import NatsInput

        nats_input = NatsInput(nats_url, nats_subjects, dispatcher, nats_queue, auth=nats_auth)
        try:
            nats_input.start()
        except ConnectionError as exc:
            raise click.ClickException(str(exc)) from exc
    inputs = []
    if not no_http:
        host, port = _listen(listen)
        scheme = "https" if tls_cert else "http"
        guard = "bearer token required" if token else "NO TOKEN (--insecure)"
        inputs.append(f"{scheme}://{host}:{port} ({guard})")
    if nats_url:
        inputs.append(f"NATS {redact_url(nats_url)} subjects {', '.join(nats_subjects)}")
    click.echo(f"lanner respond: listening on {' and '.join(inputs)}; {rules_summary}", err=True)
    try:
        if no_http:
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            with contextlib.suppress(KeyboardInterrupt):
                stop.wait()
        else:
            import uvicorn

            from lanner.services.respond.app import create_app

            host, port = _listen(listen)
            uvicorn.run(
                create_app(dispatcher, token=token),
                host=host,
                port=port,
                ssl_certfile=tls_cert,
                ssl_keyfile=tls_key,
                log_level="warning",
            )
    finally:
        if nats_input is not None:
            nats_input.stop()
        dispatcher.stop()
        sys.stdout.flush()


__all__ = ["respond"]
