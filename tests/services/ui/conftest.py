"""Fixtures for the UI tests: stores on SQLite and on a real PostgreSQL, a live server."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import ui_pgserver
import uvicorn
from fastapi import FastAPI

from helpers import missing
from lanner.services.ui.store import Store, open_store

_db_names = itertools.count()


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """One PostgreSQL server for the whole session, started from Debian's package."""
    if not ui_pgserver.available():
        missing("PostgreSQL server binaries", "postgresql")
    with ui_pgserver.pg_server() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.servers)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ui.db'}"
    admin = request.getfixturevalue("pg_admin_url")
    return ui_pgserver.create_database(admin, f"ui_test_{next(_db_names)}")


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """An open store on each backend."""
    s = open_store(db_url)
    yield s
    s.close()


class LiveServer:
    """A uvicorn server on a free loopback port, in a thread."""

    def __init__(self, app: FastAPI) -> None:
        self.port = ui_pgserver.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", timeout_graceful_shutdown=1
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def live_server() -> Iterator[Callable[[FastAPI], LiveServer]]:
    """Factory: start `app` on loopback; every server started is stopped after the test."""
    started: list[LiveServer] = []

    def start(app: FastAPI) -> LiveServer:
        server = LiveServer(app).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__(None, None, None)
