"""The embedded web server: /healthz, /versions, /metrics, and the k8s audit webhook.

It runs uvicorn in a background thread, so the event loop never waits on HTTP clients.
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

from lanner.app.metrics import Stats, lanner_version
from lanner.app.prometheus import registry_for

log = logging.getLogger("lanner.webserver")

# (request body) -> (events accepted, reasons items were skipped); raises for a bad request
AuditSink = Callable[[bytes], tuple[int, list[str]]]


def build_app(
    stats: Stats,
    *,
    healthz: str = "/healthz",
    prometheus: bool = True,
    audit_endpoint: str | None = None,
    audit_sink: AuditSink | None = None,
    versions: Callable[[], dict[str, Any]] | None = None,
) -> Any:
    """The FastAPI application."""
    app = FastAPI(title="lanner", docs_url=None, redoc_url=None, openapi_url=None)
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

        @app.post(audit_endpoint)
        async def k8s_audit(request: Request) -> Response:
            body = await request.body()
            try:
                accepted, rejected = audit_sink(body)
            except Exception as exc:  # the source's BadRequest carries a 4xx status
                status = int(getattr(exc, "status", 400))
                return Response(f"{getattr(exc, 'reason', exc)}\n", status_code=status)
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
