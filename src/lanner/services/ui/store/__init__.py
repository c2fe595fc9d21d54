"""Alert storage: SQLite by default, PostgreSQL by URL, one schema and one query layer."""

from __future__ import annotations

from lanner.services.ui.store.base import Store


def open_store(url: str) -> Store:
    """Open the store a `--db` URL names.

    `postgresql://…` / `postgres://…` selects PostgreSQL; `sqlite:///relative.db`,
    `sqlite:////absolute.db` or a plain file path selects SQLite.
    """
    if url.startswith(("postgresql://", "postgres://")):
        from lanner.services.ui.store.postgres import PostgresStore

        return PostgresStore(url)
    from lanner.services.ui.store.sqlite import SQLiteStore

    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
    else:
        path = url.removeprefix("sqlite://")
    return SQLiteStore(path or "lanner-ui.db")


__all__ = ["Store", "open_store"]
