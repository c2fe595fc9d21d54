"""The HTTP API: `POST /`, `GET /ping`, `GET /healthz`, `POST /test`, `GET /metrics`."""

from __future__ import annotations

import gc
import hmac
import logging
import os.path
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from lanner.exceptions import BodyError
from lanner.services.httpguard import declared_length, read_body, send_json

from .alert import make_test_alert
from .config import SidekickConfig
from .delivery import Dispatcher, RetryPolicy
from .ingest import MAX_BODY, Ingest
from .outputs import OUTPUTS, Output, OutputContext
from .outputs.statsd import StatsdCounters
from .stats import Stats

log = logging.getLogger("lanner.sidekick")

OPEN_PATHS = frozenset({"/ping", "/healthz"})


def build_outputs(config: SidekickConfig, registry: CollectorRegistry) -> list[Output]:
    """Instantiate the enabled outputs."""
    client = config.get("mutualtlsclient")
    cert: tuple[str, str] | None = None
    ca = client["cacertfile"]
    if client["certfile"]:
        cert = (client["certfile"], client["keyfile"])
    else:
        base = config.get("mutualtlsfilespath").rstrip("/")
        if os.path.isfile(f"{base}/client.crt") and os.path.isfile(f"{base}/client.key"):
            cert = (f"{base}/client.crt", f"{base}/client.key")
            ca = ca or (f"{base}/ca.crt" if os.path.isfile(f"{base}/ca.crt") else "")
    ctx = OutputContext(
        timeout=config.get("delivery.timeout"),
        debug=config.get("debug"),
        client_cert=cert,
        client_ca=ca,
        extra_ca=config.get("tlsclient.cacertfile"),
        hostname=socket.gethostname(),
        registry=registry,
        customfields=config.get("customfields"),
        templatedfields=list(config.get("templatedfields")),
        enabled=[o.kind for o in config.outputs],
    )
    return [OUTPUTS[o.kind](o.settings, ctx) for o in config.outputs]


class BearerAuth:
    """ASGI middleware requiring `Authorization: Bearer <token>` except on OPEN_PATHS."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            given = b""
            for name, value in scope["headers"]:
                if name == b"authorization":
                    given = value
            scheme, _, credential = given.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(credential, self.token):
                response = JSONResponse(
                    {"error": "missing or bad bearer token"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class ContentLengthCheck:
    """ASGI middleware answering 400 to a request whose Content-Length is not a number."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            try:
                declared_length(scope["headers"])
            except BodyError as exc:
                await send_json(send, exc.status, {"error": exc.reason})
                return
        await self.app(scope, receive, send)


class FastIngest:
    """ASGI middleware answering `POST /` itself, without FastAPI's routing, dependency
    and response layers: the path every Falco alert takes."""

    def __init__(self, app: Any, ingest: Ingest) -> None:
        self.app = app
        self.ingest = ingest

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        content_type = b""
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
        try:
            body = await read_body(receive, MAX_BODY, declared_length(scope["headers"]))
        except BodyError as exc:
            status, answer = self.ingest.refuse(exc.status, exc.reason)
        else:
            if body is None:
                return  # the client left: nothing was accepted
            status, answer = self.ingest.handle(body, content_type)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(answer)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})


def create_app(config: SidekickConfig, freeze_gc: bool = False) -> FastAPI:
    """The ASGI app; delivery workers start and stop with its lifespan. `freeze_gc` (the
    `lanner sidekick` process, not an app embedded in another): once started, what exists
    then (modules, configuration, outputs, reloaded alerts) is moved out of the garbage
    collector's generations (`gc.freeze`), so that no later full collection walks it again
    (60,000 objects, some 20-60 ms per full collection on the 2-core test machine)."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    stats = Stats(registry)
    outputs = build_outputs(config, registry)
    # StatsD outputs take no alerts: they send the service's counts
    counters = [o for o in outputs if isinstance(o, StatsdCounters)]
    for counter in counters:
        counter.attach(stats)
    delivery = config.get("delivery")
    dispatcher = Dispatcher(
        [o for o in outputs if not isinstance(o, StatsdCounters)],
        stats,
        RetryPolicy(delivery["retries"], delivery["backoff"], delivery["maxbackoff"]),
        queuesize=delivery["queuesize"],
        spooldir=config.spooldir or "",
        timeout=delivery["timeout"],
        concurrency=delivery["concurrency"],
    )
    enricher = config.enricher()
    token: str = config.get("auth.token")
    hostname = socket.gethostname()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for counter in counters:
            await counter.start()
        await dispatcher.start()
        enabled = [*dispatcher.workers, *(c.kind for c in counters)]
        log.info("sidekick: outputs enabled: %s", ", ".join(enabled) or "none")
        if freeze_gc:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            drained = await dispatcher.drain(delivery["shutdowngrace"])
            left = dispatcher.pending()
            if not drained and dispatcher.spool is None:
                log.error("sidekick: stopping with %d undelivered alert(s) (no spool set)", left)
            elif not drained:
                log.warning("sidekick: %d alert(s) kept in the spool for the next start", left)
            await dispatcher.stop()
            for counter in counters:  # last: they send the final counts
                try:
                    await counter.close()
                except Exception as exc:
                    log.warning("%s: close failed: %s", counter.kind, exc)

    app = FastAPI(title="lanner sidekick", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.dispatcher = dispatcher
    app.state.stats = stats
    app.state.counters = counters

    ingest = Ingest(dispatcher, enricher, stats)
    app.state.ingest = ingest
    app.add_middleware(FastIngest, ingest=ingest)  # inside BearerAuth, added after it

    @app.api_route("/", methods=["GET", "PUT", "PATCH", "DELETE"])
    async def not_a_post() -> Response:
        """Counted as refused (Falcosidekick's `nobody` reason), answered 405."""
        status, answer = ingest.refuse(405, "send alerts with POST")
        return Response(answer, status, {"Allow": "POST"}, media_type="application/json")

    @app.post("/")
    async def receive(request: Request) -> Response:  # reached only without FastIngest
        body = await _read_limited(request)
        if body is None:
            status, answer = ingest.too_large()
        else:
            status, answer = ingest.handle(body, request.headers.get("content-type", "").encode())
        return Response(answer, status_code=status, media_type="application/json")

    app.add_middleware(ContentLengthCheck)  # outermost but for BearerAuth

    if token:
        app.add_middleware(BearerAuth, token=token)

    @app.post("/test")
    async def send_test() -> Response:
        alert = enricher.apply(make_test_alert(hostname))
        targets = dispatcher.submit(alert, everywhere=True)
        stats.input("accepted", 1, alert.priority)  # as Falcosidekick counts its test alert
        return JSONResponse({"status": "accepted", "outputs": targets})

    @app.get("/ping")
    async def ping() -> Response:
        return PlainTextResponse("pong\n")

    @app.get("/healthz")
    async def healthz() -> Response:
        outs = {
            name: {"healthy": w.healthy, "queued": len(w), "last_error": w.last_error}
            for name, w in dispatcher.workers.items()
        }
        return JSONResponse({"status": "ok", "outputs": outs, "counts": stats.snapshot()})

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


async def _read_limited(request: Request) -> bytes | None:
    """The request body, or None once it exceeds MAX_BODY (without reading it all)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def only_paths(app: Any, paths: list[str]) -> Any:
    """An ASGI wrapper serving only `paths` of `app` (the plain-HTTP port next to TLS)."""
    allowed = frozenset(paths)

    async def wrapper(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] not in allowed:
            response = PlainTextResponse("not found\n", status_code=404)
            await response(scope, receive, send)
            return
        await app(scope, receive, send)

    return wrapper
