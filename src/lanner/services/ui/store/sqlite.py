"""SQLite store: the embedded default, FTS5 for full-text search."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lanner.services.ui.alerts import StoredAlert
from lanner.services.ui.query import EventFilter
from lanner.services.ui.store.base import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    time_ns INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    rule TEXT NOT NULL,
    source TEXT NOT NULL,
    hostname TEXT NOT NULL,
    container TEXT NOT NULL,
    namespace TEXT NOT NULL,
    pod TEXT NOT NULL,
    output TEXT NOT NULL,
    raw BLOB NOT NULL
);
-- priority rides along so counts by priority and the time series read only the index
CREATE INDEX IF NOT EXISTS events_time ON events (time_ns, id, priority);
CREATE INDEX IF NOT EXISTS events_rule ON events (rule, time_ns);
CREATE INDEX IF NOT EXISTS events_source ON events (source, time_ns);
CREATE INDEX IF NOT EXISTS events_hostname ON events (hostname, time_ns);
CREATE INDEX IF NOT EXISTS events_container ON events (container, time_ns);
CREATE INDEX IF NOT EXISTS events_k8s ON events (namespace, pod, time_ns);
CREATE TABLE IF NOT EXISTS event_tags (
    tag TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    event_id INTEGER NOT NULL,
    PRIMARY KEY (tag, time_ns, event_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS event_tags_event ON event_tags (event_id);
CREATE VIRTUAL TABLE IF NOT EXISTS events_fts USING fts5 (
    text, detail=none, tokenize='unicode61 remove_diacritics 0'
);
CREATE TRIGGER IF NOT EXISTS events_cleanup AFTER DELETE ON events BEGIN
    DELETE FROM events_fts WHERE rowid = old.id;
    DELETE FROM event_tags WHERE event_id = old.id;
END;
"""

_INSERT = (
    "INSERT INTO events (time_ns, priority, rule, source, hostname, container, namespace,"
    " pod, output, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class SQLiteStore(Store):
    """Alert history in one SQLite file (WAL mode): one writer, a connection per reader thread."""

    #: above this many full-text matches, scan in time order instead of listing matches
    fts_scan_threshold: int = 10_000

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._writer = self._connect()
        with self._write_lock:
            self._writer.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=10000")
        with self._conns_lock:
            self._conns.append(conn)
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def _fetchall(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return self._reader().execute(sql, params).fetchall()

    def _write(self, sql: str, params: Sequence[Any]) -> int:
        with self._write_lock:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                count = self._writer.execute(sql, params).rowcount
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            self._writer.execute("COMMIT")
            return count

    def _stats_source(self, flt: EventFilter) -> str:
        # with a time range, aggregate over that range of the time index instead of letting
        # the planner walk a whole (column, time) index to avoid sorting groups
        bounded = flt.since_ns is not None or flt.until_ns is not None
        return "events e INDEXED BY events_time" if bounded else "events e"

    def _priority_clause(self) -> str:
        # unary + keeps the planner on the time index (no priority index exists anyway)
        return "+e.priority <= ?"

    def _fulltext_clause(
        self, terms: list[tuple[str, bool]], correlated: bool
    ) -> tuple[str, list[Any]]:
        # Two plans, picked by how many alerts match. Few: take the matching ids from FTS5
        # and sort them. Many: walk the time index and check each row's stored search text,
        # which finds a page of matches after a few rows; FTS5 would first list them all.
        if not correlated:
            expression = " AND ".join(f'"{w}"' + ("*" if prefix else "") for w, prefix in terms)
            sql = "SELECT COUNT(*) FROM (SELECT 1 FROM events_fts WHERE events_fts MATCH ? LIMIT ?)"
            matches = self._fetchall(sql, [expression, self.fts_scan_threshold])[0][0]
            if matches < self.fts_scan_threshold:
                return "e.id IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?)", [
                    expression
                ]
        # the search text is lower-case words joined by single spaces
        checks = " AND ".join(
            "instr(' ' || f.text || ' ', ?) > 0" if not prefix else "instr(' ' || f.text, ?) > 0"
            for _, prefix in terms
        )
        params = [f" {w}" if prefix else f" {w} " for w, prefix in terms]
        return f"EXISTS (SELECT 1 FROM events_fts f WHERE f.rowid = e.id AND {checks})", params

    def insert(self, alerts: Sequence[StoredAlert]) -> list[int]:
        ids: list[int] = []
        with self._write_lock:
            cur = self._writer.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                for a in alerts:
                    cur.execute(
                        _INSERT,
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
                            a.raw,
                        ),
                    )
                    event_id = int(cur.lastrowid or 0)
                    ids.append(event_id)
                    cur.executemany(
                        "INSERT OR IGNORE INTO event_tags (tag, time_ns, event_id)"
                        " VALUES (?, ?, ?)",
                        [(tag, a.time_ns, event_id) for tag in a.tags],
                    )
                    cur.execute(
                        "INSERT INTO events_fts (rowid, text) VALUES (?, ?)",
                        (event_id, a.search_text),
                    )
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")
        return ids

    def close(self) -> None:
        with self._conns_lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
