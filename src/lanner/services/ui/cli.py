"""`lanner ui`: serve the dashboard and the alert history API."""

from __future__ import annotations

import ipaddress
import logging

import click

from lanner.services.ui.query import parse_duration_ns


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@click.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=2802, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--db",
    "db_url",
    default="sqlite:///lanner-ui.db",
    show_default=True,
    envvar="LANNER_UI_DB",
    help="sqlite:///FILE, a file path, or postgresql://user:pass@host/db.",
)
@click.option("--retention-age", help="Drop alerts older than this (e.g. 7d, 12h).")
@click.option("--retention-count", type=click.IntRange(min=1), help="Keep at most N alerts.")
@click.option(
    "--user",
    "users",
    multiple=True,
    envvar="LANNER_UI_USERS",
    help="NAME:PASSWORD[:admin|read-only] for HTTP basic auth; repeatable.",
)
@click.option(
    "--token",
    "tokens",
    multiple=True,
    envvar="LANNER_UI_TOKENS",
    help="TOKEN[:admin|read-only] accepted as a bearer token; repeatable.",
)
@click.option(
    "--auth-file",
    type=click.Path(exists=True, dir_okay=False),
    help="YAML with users: [{name, password, role}] and tokens: [{token, role}].",
)
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), help="PEM certificate.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="PEM private key.")
@click.option("--log-level", default="info", show_default=True)
def ui(
    host: str,
    port: int,
    db_url: str,
    retention_age: str | None,
    retention_count: int | None,
    users: tuple[str, ...],
    tokens: tuple[str, ...],
    auth_file: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    log_level: str,
) -> None:
    """Serve the web dashboard, the events history and the /api/v1 REST API."""
    import uvicorn

    from lanner.services.ui import accesslog
    from lanner.services.ui.app import create_app
    from lanner.services.ui.auth import AuthConfig
    from lanner.services.ui.retention import Retention
    from lanner.services.ui.store import open_store

    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    try:
        auth = AuthConfig.from_file(auth_file) if auth_file else AuthConfig()
        for spec in users:
            auth.add_user(spec)
        for spec in tokens:
            auth.add_token(spec)
        max_age = parse_duration_ns(retention_age) if retention_age else None
    except (ValueError, KeyError) as exc:
        raise click.UsageError(str(exc)) from exc
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    log = logging.getLogger(__name__)
    if not auth.enabled:
        log.warning("no --user/--token: the API is open to anyone")
    elif not tls_cert and not _is_loopback(host):
        log.warning(
            "listening on %s without TLS: passwords and tokens cross the network in clear "
            "text (use --tls-cert/--tls-key or a mesh)",
            host,
        )
    store = open_store(db_url)
    app = create_app(
        store,
        auth=auth,
        retention=Retention(max_age_ns=max_age, max_count=retention_count),
        close_store=True,
    )
    app.state.listen = (host, port)  # for falcosidekick-ui's /api/v1/configuration
    app.state.log_level = log_level
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
    )
    accesslog.install()  # after uvicorn set its loggers up: no token in the access log
    uvicorn.Server(config).run()
