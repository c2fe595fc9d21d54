"""HTTP input: POST / with Falco alert JSON, plus /healthz, /metrics and /audit."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from lanner.exceptions import BodyError, Overloaded
from lanner.services.httpguard import BodyLimit, loads
from lanner.services.respond.engine import Dispatcher

MAX_BODY = 1 << 20


def create_app(dispatcher: Dispatcher, token: str | None = None) -> FastAPI:
    """The receiver. With `token`, POST / and GET /audit need `Authorization: Bearer`;
    without one they are open (`lanner respond` refuses that unless --insecure)."""
    app = FastAPI(title="lanner respond", docs_url=None, redoc_url=None, openapi_url=None)
    responder = dispatcher.responder

    def authorized(request: Request) -> bool:
        if not token:
            return True
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())

    def denied() -> JSONResponse:
        return JSONResponse(
            {"error": "missing or wrong bearer token"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.post("/")
    async def receive(request: Request) -> JSONResponse:
        """Accept one alert (or a JSON list of alerts) and queue it for response."""
        if not authorized(request):
            return denied()
        body = await request.body()  # at most MAX_BODY: BodyLimit read it
        try:
            payload: Any = loads(body)
        except BodyError as exc:
            responder.metrics.invalid.labels("http").inc()
            return JSONResponse({"error": exc.reason}, status_code=400)
        items = payload if isinstance(payload, list) else [payload]
        accepted = 0
        for item in items:
            try:
                dispatcher.submit(item, "http")
            except Overloaded as exc:
                return JSONResponse(
                    {"error": f"overloaded: {exc}", "accepted": accepted},
                    status_code=503,
                    headers={"Retry-After": "1"},
                )
            except ValueError as exc:
                return JSONResponse(
                    {"error": f"not a Falco alert: {exc}", "accepted": accepted},
                    status_code=400,
                )
            accepted += 1
        return JSONResponse({"accepted": accepted}, status_code=202)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        """Liveness: the process answers and has rules loaded."""
        return {
            "status": "ok",
            "rules": len(responder.rules),
            "rules_generation": responder.generation,
            "dry_run": responder.dry_run,
        }

    @app.get("/metrics")
    async def metrics() -> Response:
        """Prometheus exposition of the respond counters."""
        return Response(generate_latest(responder.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/audit")
    async def audit(request: Request, limit: int = 100) -> Response:
        """The latest audit records, newest last."""
        if not authorized(request):
            return denied()
        records = list(responder.audit.recent)[-max(limit, 0) :] if limit else []
        return JSONResponse([r.to_dict() for r in records])

    app.add_middleware(BodyLimit, limit=MAX_BODY)
    return app
