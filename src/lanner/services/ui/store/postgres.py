"""PostgreSQL store: same schema as SQLite, a tsvector column with a GIN index for search."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from lanner.services.ui.alerts import StoredAlert
from lanner.services.ui.query import EventFilter
from lanner.services.ui.store.base import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id BIGSERIAL PRIMARY KEY,
    time_ns BIGINT NOT NULL,
    priority SMALLINT NOT NULL,
    rule TEXT NOT NULL,
    source TEXT NOT NULL,
    hostname TEXT NOT NULL,
    container TEXT NOT NULL,
    namespace TEXT NOT NULL,
    pod TEXT NOT NULL,
    output TEXT NOT NULL,
    raw TEXT NOT NULL,
    search TSVECTOR NOT NULL
);
CREATE INDEX IF NOT EXISTS events_time ON events (time_ns, id) INCLUDE (priority);
CREATE INDEX IF NOT EXISTS events_rule ON events (rule, time_ns, id);
CREATE INDEX IF NOT EXISTS events_source ON events (source, time_ns, id);
CREATE INDEX IF NOT EXISTS events_hostname ON events (hostname, time_ns, id);
CREATE INDEX IF NOT EXISTS events_container ON events (container, time_ns, id);
CREATE INDEX IF NOT EXISTS events_k8s ON events (namespace, pod, time_ns, id);
CREATE INDEX IF NOT EXISTS events_search ON events USING GIN (search);
CREATE TABLE IF NOT EXISTS event_tags (
    tag TEXT NOT NULL,
    time_ns BIGINT NOT NULL,
    event_id BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    PRIMARY KEY (tag, time_ns, event_id)
);
CREATE INDEX IF NOT EXISTS event_tags_event ON event_tags (event_id);
"""

_INSERT = (
    "INSERT INTO events (time_ns, priority, rule, source, hostname, container, namespace,"
    " pod, output, raw, search) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
    " to_tsvector('simple', %s)) RETURNING id"
)


class PostgresStore(Store):
    """Alert history in PostgreSQL, through a small pool of connections."""

    placeholder = "%s"
    #: fewer full-text matches than this are filtered by id, more by walking the time index
    fts_list_threshold: int = 1000

    def __init__(self, url: str, pool_size: int = 4) -> None:
        self.url = url
        self._pool: queue.LifoQueue[psycopg.Connection] = queue.LifoQueue()
        self._all: list[psycopg.Connection] = []
        self._lock = threading.Lock()
        self._size = pool_size
        with self._conn() as conn, conn.transaction():
            # one schema creator at a time when several replicas start together
            conn.execute("SELECT pg_advisory_xact_lock(7461626)")
            conn.execute(SCHEMA)

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection]:
        try:
            conn = self._pool.get_nowait()
        except queue.Empty:
            with self._lock:
                grow = len(self._all) < self._size
                if grow:
                    conn = psycopg.connect(self.url, autocommit=True)
                    self._all.append(conn)
            if not grow:
                conn = self._pool.get()
        try:
            yield conn
        finally:
            if conn.closed:
                with self._lock:
                    self._all.remove(conn)
            else:
                self._pool.put(conn)

    def _fetchall(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._conn() as conn:
            return conn.execute(sql, params).fetchall()

    def _write(self, sql: str, params: Sequence[Any]) -> int:
        with self._conn() as conn, conn.transaction():
            return conn.execute(sql, params).rowcount

    def _fulltext_clause(
        self, terms: list[tuple[str, bool]], correlated: bool
    ) -> tuple[str, list[Any]]:
        # words are letters and digits only, so this is always a valid tsquery
        expression = " & ".join(w + (":*" if prefix else "") for w, prefix in terms)
        if not correlated:
            # The planner cannot tell a rare word from a common one, and walking the time
            # index for a rare word reads the whole table. Ask the GIN index first: when few
            # rows match, filter on their ids.
            rows = self._fetchall(
                "SELECT id FROM events WHERE search @@ to_tsquery('simple', %s) LIMIT %s",
                [expression, self.fts_list_threshold],
            )
            if not rows:
                return "FALSE", []
            if len(rows) < self.fts_list_threshold:
                return "e.id = ANY(%s)", [[int(r[0]) for r in rows]]
        return "e.search @@ to_tsquery('simple', %s)", [expression]

    def _tag_counts_sql(self, flt: EventFilter, source: str, where: str) -> str:
        if flt.since_ns is None and flt.until_ns is None:
            return super()._tag_counts_sql(flt, source, where)
        # over a time range, look each event's tags up (OFFSET 0 keeps the subquery from
        # being flattened into a hash join over every tag row)
        return (
            f"SELECT u.tag, COUNT(*) AS n FROM {source} CROSS JOIN LATERAL"
            " (SELECT t.tag FROM event_tags t WHERE t.event_id = e.id OFFSET 0) u"
            f"{where} GROUP BY u.tag ORDER BY n DESC, u.tag LIMIT ?"
        )

    def insert(self, alerts: Sequence[StoredAlert]) -> list[int]:
        if not alerts:
            return []
        ids: list[int] = []
        with self._conn() as conn, conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                _INSERT,
                [
                    (
                        a.time_ns,
                        a.priority,
                        a.rule,
                        a.source,
                        a.hostname,
                        a.container,
                        a.namespace,
                        a.pod,
                        a.output,
                        a.raw.decode(),
                        a.search_text,
                    )
                    for a in alerts
                ],
                returning=True,
            )
            while True:
                row = cur.fetchone()
                if row is not None:
                    ids.append(int(row[0]))
                if not cur.nextset():
                    break
            tag_rows = [
                (tag, a.time_ns, i) for a, i in zip(alerts, ids, strict=True) for tag in a.tags
            ]
            if tag_rows:
                cur.executemany(
                    "INSERT INTO event_tags (tag, time_ns, event_id) VALUES (%s, %s, %s)"
                    " ON CONFLICT DO NOTHING",
                    tag_rows,
                )
        return ids

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
