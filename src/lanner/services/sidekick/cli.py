"""`lanner sidekick`: run the alert forwarder."""

from __future__ import annotations

import asyncio
import logging
import ssl
import sys

import click

from lanner.exceptions import ConfigError

from .config import load_config, prepare_spool


def _serve(config_path: str | None) -> None:
    import uvicorn

    from .app import create_app, only_paths
    from .httpserver import FastPath, new_event_loop, protocol_for

    config = load_config(config_path)
    spool = prepare_spool(config)
    app = create_app(config, freeze_gc=True)
    host = config.get("listenaddress") or "0.0.0.0"
    port = config.get("listenport")
    tls = config.get("tlsserver")
    kwargs: dict[str, object] = {}
    if tls["deploy"]:
        kwargs = {"ssl_certfile": tls["certfile"], "ssl_keyfile": tls["keyfile"]}
        if tls["mutualtls"]:
            kwargs.update(ssl_ca_certs=tls["cacertfile"], ssl_cert_reqs=ssl.CERT_REQUIRED)
    level = "info" if config.get("debug") else "warning"
    fast = FastPath(app.state.ingest, config.get("auth.token"))
    main = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=level,
            access_log=False,
            http=protocol_for(fast),
            **kwargs,  # type: ignore[arg-type]
        )
    )
    servers = [main]
    if tls["deploy"] and tls["notlspaths"]:
        plain = uvicorn.Config(
            only_paths(app, tls["notlspaths"]),
            host=host,
            port=tls["notlsport"],
            log_level=level,
            access_log=False,
            lifespan="off",
            http=protocol_for(fast if "/" in tls["notlspaths"] else None),
        )
        servers.append(uvicorn.Server(plain))
    names = ", ".join(o.kind for o in config.outputs)
    scheme = "https" if tls["deploy"] else "http"
    click.echo(f"lanner sidekick on {scheme}://{host}:{port}; outputs: {names}", err=True)
    if not config.get("auth.token"):
        click.echo(
            f"WARNING: no auth.token (env AUTH_TOKEN): anyone who can reach {host}:{port} "
            "can post alerts to every output",
            err=True,
        )
    if spool is None:
        click.echo(
            "spool: none (delivery.spooldir: none): queued alerts are lost if the process dies",
            err=True,
        )
    else:
        click.echo(f"spool: {spool} (queued alerts survive a restart)", err=True)

    async def run_all() -> None:
        tasks = [asyncio.create_task(s.serve()) for s in servers]
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            task.result()

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(run_all())
    if not main.started:
        sys.exit(1)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c", "--config-file", type=click.Path(dir_okay=False), help="YAML configuration file."
)
@click.option(
    "--check", is_flag=True, help="Validate the configuration, list enabled outputs, exit."
)
@click.option("--list-outputs", is_flag=True, help="List every supported output and exit.")
def sidekick(config_file: str | None, check: bool, list_outputs: bool) -> None:
    """Receive Falco alerts over HTTP and forward them to chat, logs, metrics, alerting,
    queues, functions and email. Every key can also be set by an environment variable,
    e.g. SLACK_WEBHOOKURL or LOKI_HOSTPORT."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request URL at INFO: noisy, and webhook URLs carry secrets
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if list_outputs:
        from .outputs import OUTPUTS

        for kind, cls in sorted(OUTPUTS.items()):
            key = f"{cls.config_path()}.{cls.enable_key}" if cls.enable_key else "(on by default)"
            click.echo(f"{kind:18} {cls.family:9} enabled by {key}")
        return
    try:
        if check:
            config = load_config(config_file)
            for out in config.outputs:
                click.echo(out.kind)
            return
        _serve(config_file)
    except ConfigError as exc:
        raise click.ClickException(f"bad configuration: {exc}") from None
