"""The SQL both stores share: filters, keyset pages, stats and retention.

Every value reaches the database as a bound parameter; only fixed column names and
placeholders are ever formatted into SQL text.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from lanner.services.ui.alerts import StoredAlert
from lanner.services.ui.query import Cursor, EventFilter, Page

# filter attribute -> indexed column
_EXACT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("rules", "rule"),
    ("sources", "source"),
    ("hostnames", "hostname"),
    ("containers", "container"),
    ("namespaces", "namespace"),
    ("pods", "pod"),
)
_ROW_COLUMNS: tuple[str, ...] = ("id", "time_ns", "priority", "rule", "source", "hostname")
_ROW_COLUMNS += ("container",)
_ROW_COLUMNS += ("namespace", "pod")
_SELECT = f"SELECT {', '.join('e.' + c for c in _ROW_COLUMNS)}, e.raw FROM events e"
#: columns the stats endpoint groups by, besides tags
STAT_COLUMNS: tuple[str, ...] = ("priority", "rule", "source", "hostname", "container")
TOP_LIMIT = 50


class Store(abc.ABC):
    """Alert history in a SQL database; subclasses supply the connection and dialect."""

    #: placeholder the driver expects
    placeholder: str = "?"

    # -- connection primitives supplied by the dialect -------------------------------------
    @abc.abstractmethod
    def _fetchall(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run a read query and return every row."""

    @abc.abstractmethod
    def _write(self, sql: str, params: Sequence[Any]) -> int:
        """Run one write statement in its own transaction; return the affected row count."""

    @abc.abstractmethod
    def insert(self, alerts: Sequence[StoredAlert]) -> list[int]:
        """Store alerts in one transaction; return their ids in order."""

    @abc.abstractmethod
    def _fulltext_clause(
        self, terms: list[tuple[str, bool]], correlated: bool
    ) -> tuple[str, list[Any]]:
        """SQL condition on `e`: every (word, is_prefix) term is in the alert's search text."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""

    # -- shared SQL -----------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql if self.placeholder == "?" else sql.replace("?", self.placeholder)

    def _in(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        if len(values) == 1:
            return f"{column} = ?", [values[0]]
        return f"{column} IN ({', '.join('?' * len(values))})", list(values)

    def _where(
        self, flt: EventFilter, *, skip_tags: bool = False, correlated: bool = False
    ) -> tuple[list[str], list[Any]]:
        """SQL conditions on `e` for `flt`.

        `correlated` asks for per-row full-text checks, cheapest when other conditions
        already bound the rows scanned (the live stream's `id > ?`).
        """
        clauses: list[str] = []
        params: list[Any] = []
        if flt.max_priority is not None:
            clauses.append(self._priority_clause())
            params.append(flt.max_priority)
        if flt.priorities:
            clause, extra = self._in("e.priority", flt.priorities)
            clauses.append(clause)
            params.extend(extra)
        for attr, column in _EXACT_COLUMNS:
            values = getattr(flt, attr)
            if values:
                clause, extra = self._in(f"e.{column}", values)
                clauses.append(clause)
                params.extend(extra)
        if flt.tags and not skip_tags:
            clause, extra = self._in("t.tag", flt.tags)
            clauses.append(
                f"EXISTS (SELECT 1 FROM event_tags t WHERE t.event_id = e.id AND {clause})"
            )
            params.extend(extra)
        if flt.since_ns is not None:
            clauses.append("e.time_ns >= ?")
            params.append(flt.since_ns)
        if flt.until_ns is not None:
            clauses.append("e.time_ns < ?")
            params.append(flt.until_ns)
        if flt.after_id is not None:
            clauses.append("e.id > ?")
            params.append(flt.after_id)
        terms = flt.terms
        if terms:
            clause, extra = self._fulltext_clause(terms, correlated)
            clauses.append(clause)
            params.extend(extra)
        return clauses, params

    def _priority_clause(self) -> str:
        return "e.priority <= ?"

    def _stats_source(self, flt: EventFilter) -> str:
        """FROM clause (aliased `e`) for aggregates over `flt`."""
        return "events e"

    def _tag_counts_sql(self, flt: EventFilter, source: str, where: str) -> str:
        """Query counting tags of the events in `source` + `where` (one LIMIT parameter)."""
        return (
            f"SELECT t.tag, COUNT(*) AS n FROM {source} JOIN event_tags t ON t.event_id = e.id"
            f"{where} GROUP BY t.tag ORDER BY n DESC, t.tag LIMIT ?"
        )

    @staticmethod
    def _row(row: tuple[Any, ...]) -> dict[str, Any]:
        raw = row[-1]
        result = dict(zip(_ROW_COLUMNS, row, strict=False))
        result["alert"] = orjson.loads(raw if isinstance(raw, bytes | str) else bytes(raw))
        return result

    def page(self, flt: EventFilter, cursor: Cursor | None = None, limit: int = 50) -> Page:
        """Up to `limit` events matching `flt`, newest first, after `cursor`."""
        if len(flt.tags) == 1:
            # walk the (tag, time_ns, event_id) index in order instead of sorting matches
            clauses, params = self._where(flt, skip_tags=True)
            clauses.insert(0, "t.tag = ?")
            params.insert(0, flt.tags[0])
            order = ("t.time_ns", "t.event_id")
            source = _SELECT + " JOIN event_tags t ON t.event_id = e.id"
        else:
            clauses, params = self._where(flt)
            order = ("e.time_ns", "e.id")
            source = _SELECT
        if cursor is not None:
            clauses.append(f"({order[0]}, {order[1]}) < (?, ?)")
            params.extend([cursor.time_ns, cursor.id])
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"{source}{where} ORDER BY {order[0]} DESC, {order[1]} DESC LIMIT ?"
        rows = [self._row(r) for r in self._fetchall(self._sql(sql), [*params, limit + 1])]
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = Cursor(rows[-1]["time_ns"], rows[-1]["id"])
        return Page(rows=rows, next_cursor=next_cursor)

    def iter_events(
        self, flt: EventFilter, limit: int, chunk: int = 1000
    ) -> Iterator[dict[str, Any]]:
        """Every event matching `flt` newest first, at most `limit`, fetched in keyset chunks."""
        cursor: Cursor | None = None
        left = limit
        while left > 0:
            page = self.page(flt, cursor, min(chunk, left))
            yield from page.rows
            left -= len(page.rows)
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def newer(self, flt: EventFilter, after_id: int, limit: int = 200) -> list[dict[str, Any]]:
        """Events stored after id `after_id` that match `flt`, oldest first (live stream)."""
        clauses, params = self._where(flt, correlated=True)
        clauses.insert(0, "e.id > ?")
        params.insert(0, after_id)
        sql = f"{_SELECT} WHERE {' AND '.join(clauses)} ORDER BY e.id LIMIT ?"
        return [self._row(r) for r in self._fetchall(self._sql(sql), [*params, limit])]

    def max_id(self) -> int:
        """Highest stored id, 0 when empty."""
        rows = self._fetchall("SELECT COALESCE(MAX(id), 0) FROM events", [])
        return int(rows[0][0])

    def get(self, event_id: int) -> dict[str, Any] | None:
        """One event by id."""
        rows = self._fetchall(self._sql(f"{_SELECT} WHERE e.id = ?"), [event_id])
        return self._row(rows[0]) if rows else None

    def count(self, flt: EventFilter) -> int:
        """Number of events matching `flt`."""
        clauses, params = self._where(flt)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return int(self._fetchall(self._sql(f"SELECT COUNT(*) FROM events e{where}"), params)[0][0])

    def stats(self, flt: EventFilter, bucket_ns: int) -> dict[str, Any]:
        """Counts by priority, rule, source, hostname, container and tag, and a time series.

        The series has one point per `bucket_ns`-wide bucket that has events, each split by
        priority level.
        """
        clauses, params = self._where(flt)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        source = self._stats_source(flt)
        result: dict[str, Any] = {"total": self.count(flt)}
        for column in STAT_COLUMNS:
            sql = (
                f"SELECT e.{column}, COUNT(*) AS n FROM {source}{where} "
                f"GROUP BY e.{column} ORDER BY n DESC, e.{column} LIMIT ?"
            )
            result[column] = self._fetchall(self._sql(sql), [*params, TOP_LIMIT])
        if clauses:
            sql = self._tag_counts_sql(flt, source, where)
        else:  # every event: the tag table alone has the answer
            sql = (
                "SELECT t.tag, COUNT(*) AS n FROM event_tags t"
                " GROUP BY t.tag ORDER BY n DESC, t.tag LIMIT ?"
            )
        result["tag"] = self._fetchall(self._sql(sql), [*params, TOP_LIMIT])
        sql = (
            f"SELECT e.time_ns / ? AS b, e.priority, COUNT(*) FROM {source}{where} "
            "GROUP BY b, e.priority ORDER BY b"
        )
        result["series"] = self._fetchall(self._sql(sql), [bucket_ns, *params])
        return result

    def counts(self, flt: EventFilter, column: str) -> list[tuple[Any, ...]]:
        """(value, count) of every distinct value of one stats column or "tag"."""
        clauses, params = self._where(flt)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        source = self._stats_source(flt)
        every = 1 << 62  # LIMIT parameter meaning "all"
        if column == "tag":
            return self._fetchall(self._sql(self._tag_counts_sql(flt, source, where)),
                                  [*params, every])  # fmt: skip
        if column not in STAT_COLUMNS:
            raise ValueError(f"no counts by {column}")
        sql = (
            f"SELECT e.{column}, COUNT(*) AS n FROM {source}{where} "
            f"GROUP BY e.{column} ORDER BY n DESC, e.{column} LIMIT ?"
        )
        return self._fetchall(self._sql(sql), [*params, every])

    def delete(self, event_id: int) -> bool:
        """Remove one event; False when it did not exist."""
        return self._write(self._sql("DELETE FROM events WHERE id = ?"), [event_id]) > 0

    def prune(self, *, older_than_ns: int | None = None, keep: int | None = None) -> int:
        """Retention: drop events whose time is before `older_than_ns`, then all but the
        newest `keep` by id. Returns the number removed."""
        removed = 0
        if older_than_ns is not None:
            sql = self._sql("DELETE FROM events WHERE time_ns < ?")
            removed += self._write(sql, [older_than_ns])
        if keep is not None:
            rows = self._fetchall(
                self._sql("SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?"), [keep]
            )
            if rows:
                removed += self._write(self._sql("DELETE FROM events WHERE id <= ?"), [rows[0][0]])
        return removed

    def oldest_time_ns(self, flt: EventFilter) -> int | None:
        """Time of the oldest event matching `flt`."""
        clauses, params = self._where(flt)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._fetchall(self._sql(f"SELECT MIN(e.time_ns) FROM events e{where}"), params)
        return None if rows[0][0] is None else int(rows[0][0])
