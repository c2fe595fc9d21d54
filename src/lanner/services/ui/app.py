"""The ASGI application: API, static single-page UI, retention task."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from lanner.services.httpguard import BodyLimit
from lanner.services.ui import sidekick_ui
from lanner.services.ui.api import MAX_BODY, router
from lanner.services.ui.auth import AuthConfig
from lanner.services.ui.headers import SecurityHeaders
from lanner.services.ui.live import Notifier
from lanner.services.ui.retention import Retention
from lanner.services.ui.store import Store

STATIC_DIR = Path(str(files("lanner.services.ui") / "static"))


def create_app(
    store: Store,
    auth: AuthConfig | None = None,
    retention: Retention | None = None,
    stream_poll_seconds: float = 2.0,
    close_store: bool = False,
) -> FastAPI:
    """Build the app around an open store."""
    retention = retention or Retention()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.notifier = Notifier()
        task = asyncio.create_task(retention.run(store)) if retention.active else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if close_store:
                store.close()

    app = FastAPI(
        title="Lanner UI",
        summary="Falco-compatible alert history and dashboard",
        version="1",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.auth = auth or AuthConfig()
    app.state.retention = retention
    app.state.stream_poll_seconds = stream_poll_seconds
    app.state.notifier = Notifier()
    app.include_router(sidekick_ui.router)  # first: its /events/count, /events/search
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(BodyLimit, limit=MAX_BODY, key="detail")
    app.add_middleware(SecurityHeaders)  # outermost: on every answer, 4xx included
    return app
