"""The embedded web server: /healthz, /versions, /metrics, and the k8s audit webhook.

It runs uvicorn in a background thread, so the event loop never waits on HTTP clients.
With a token every path but the health check and ``/metrics`` needs
``Authorization: Bearer <token>``: Kubernetes probes and Prometheus scrapes send none, and
those two reveal counters, not alerts (docs/security.md).
The audit endpoint checks Content-Type and size before reading, and parses and queues
the body on a worker thread; a full queue answers 503 with Retry-After.
This module is imported only when the web server is enabled.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from lanner.app.metrics import Stats, lanner_version
from lanner.app.prometheus import registry_for

log = logging.getLogger("lanner.webserver")

# (request body) -> (events accepted, reasons items were skipped); raises for a bad request
AuditSink = Callable[[bytes], tuple[int, list[str]]]
DEFAULT_MAX_BODY = 12 * 1024 * 1024  # as the k8saudit plugin's webhookMaxBatchSize
RETRY_AFTER = "1"
MAX_CONCURRENCY = 256  # open connections and tasks; beyond it uvicorn answers 503


class BearerAuth:
    """ASGI middleware: 401 unless ``Authorization: Bearer <token>``; ``open_paths`` pass."""

    def __init__(self, app: ASGIApp, token: str, open_paths: tuple[str, ...]) -> None:
        self.app = app
        self.token = token
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from lanner.sources.k8s_audit.webhook import bearer_ok

        if scope["type"] != "http" or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        if bearer_ok(header, self.token):
            await self.app(scope, receive, send)
            return
        body = b"unauthorized: missing or wrong bearer token\n"
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"text/plain"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="lanner"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _text(status: int, text: str, **headers: str) -> Response:
    return Response(f"{text}\n", status_code=status, media_type="text/plain", headers=headers)


async def _read_limited(request: Request, limit: int) -> bytes | Response:
    """The body, or the refusal: 400 for a bad Content-Length, 413 past ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        text = declared.strip()
        if not (text.isascii() and text.isdigit()):
            return _text(400, f"bad request: bad Content-Length {declared[:40]!r}")
        if int(text) > limit:
            return _text(413, f"request body larger than {limit} bytes", Connection="close")
    parts, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return _text(413, f"request body larger than {limit} bytes", Connection="close")
        parts.append(chunk)
    return b"".join(parts)


def build_app(
    stats: Stats,
    *,
    healthz: str = "/healthz",
    prometheus: bool = True,
    audit_endpoint: str | None = None,
    audit_sink: AuditSink | None = None,
    versions: Callable[[], dict[str, Any]] | None = None,
    token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY,
) -> Any:
    """The FastAPI application; with ``token`` every path but ``healthz`` and ``/metrics``
    needs it."""
    app = FastAPI(title="lanner", docs_url=None, redoc_url=None, openapi_url=None)
    if token:
        app.add_middleware(BearerAuth, token=token, open_paths=(healthz, "/metrics"))
    registry = registry_for(stats)

    @app.get(healthz)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/versions")
    def get_versions() -> dict[str, Any]:
        return versions() if versions else {"lanner_version": lanner_version()}

    if prometheus:

        @app.get("/metrics")
        def metrics() -> Response:
            return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    if audit_endpoint and audit_sink is not None:
        sink = audit_sink

        @app.post(audit_endpoint)
        async def k8s_audit(request: Request) -> Response:
            ctype = request.headers.get("content-type", "")
            if "application/json" not in ctype:
                return _text(400, "bad request: wrong Content Type, want application/json")
            body = await _read_limited(request, max_body_bytes)
            if isinstance(body, Response):
                return body
            try:  # parsing and queueing (which may wait for room) off the event loop
                accepted, rejected = await run_in_threadpool(sink, body)
            except Exception as exc:  # the source's BadRequest carries a 4xx/503 status
                status = getattr(exc, "status", None)
                if status is None:
                    log.exception("k8s audit endpoint: handling a request failed")
                    return _text(503, f"error: {exc}", **{"Retry-After": RETRY_AFTER})
                extra = {"Retry-After": RETRY_AFTER} if int(status) in (429, 503) else {}
                return _text(int(status), str(getattr(exc, "reason", exc)), **extra)
            doc = {"accepted": accepted, "rejected": rejected}
            return Response(orjson.dumps(doc), media_type="application/json")

    return app


class WebServer:
    """uvicorn serving an app on a background thread; ``ssl_certificate`` holds cert+key."""

    def __init__(
        self,
        app: Any,
        host: str,
        port: int,
        ssl_certificate: str | None = None,
    ) -> None:
        import uvicorn

        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            ssl_certfile=ssl_certificate,
            log_level="warning",
            access_log=False,
            lifespan="off",
            limit_concurrency=MAX_CONCURRENCY,
            timeout_keep_alive=30,
        )
        self.server = uvicorn.Server(config)
        self.url = f"{'https' if ssl_certificate else 'http'}://{host}:{port}"
        self._thread = threading.Thread(target=self._serve, name="lanner-web", daemon=True)
        self.error: BaseException | None = None

    def _serve(self) -> None:
        try:
            self.server.run()
        except BaseException as exc:  # SystemExit when the port is taken
            self.error = exc

    def start(self, timeout: float = 10.0) -> bool:
        """Start serving; False (and logged) when the server could not start."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        if not self.server.started:
            log.error("web server could not start on %s: %s", self.url, self.error or "timeout")
            return False
        log.info("web server listening on %s", self.url)
        return True

    def stop(self) -> None:
        """Stop serving."""
        self.server.should_exit = True
        self._thread.join(5.0)
