"""SQL output: one row per alert in a PostgreSQL table (created if missing)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar

from lanner.exceptions import DeliveryError, PermanentError

from ..alert import Alert
from ..schema import Opt
from .base import Output, OutputContext, register

if TYPE_CHECKING:  # psycopg loads only when this output is configured
    import psycopg

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$")

_COLUMNS = (
    "time timestamptz NOT NULL, rule text NOT NULL, priority text NOT NULL,"
    " priority_num smallint NOT NULL, source text, hostname text, output text,"
    " tags text[] NOT NULL, output_fields jsonb NOT NULL"
)


@register
class PostgreSQL(Output):
    """Inserts each alert into `table` (time, rule, priority, source, hostname, output, tags,
    output_fields as JSONB); the table and a time index are created on first use."""

    kind = "postgresql"
    family = "sql"
    enable_key = "dsn"
    options: ClassVar[dict[str, Opt]] = {
        "dsn": Opt("str", "", secret=True),
        "table": Opt("str", "falco_events"),
    }

    def __init__(self, settings: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(settings, ctx)
        from psycopg import sql

        self._conn: psycopg.AsyncConnection[Any] | None = None
        parts = settings["table"].split(".")
        self._table = sql.Identifier(*parts)
        self._index = sql.Identifier(parts[-1] + "_time_idx")

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """The table must be a plain (optionally schema-qualified) identifier."""
        if not _IDENT.match(settings["table"]):
            return "table", f"{settings['table']!r} is not a table name"
        return None

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        import psycopg
        from psycopg import sql

        if self._conn is None or self._conn.closed:
            conn = await psycopg.AsyncConnection.connect(
                self.settings["dsn"], autocommit=True, connect_timeout=max(1, int(self.ctx.timeout))
            )
            await conn.execute(
                sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(self._table, sql.SQL(_COLUMNS))
            )
            await conn.execute(
                sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (time)").format(
                    self._index, self._table
                )
            )
            self._conn = conn
        return self._conn

    async def send(self, alert: Alert) -> None:
        """Insert one row."""
        import psycopg
        from psycopg import sql
        from psycopg.types.json import Jsonb

        query = sql.SQL(
            "INSERT INTO {} (time, rule, priority, priority_num, source, hostname, output, tags,"
            " output_fields) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        ).format(self._table)
        row = (
            alert.timestamp,
            alert.rule,
            alert.priority.label,
            alert.priority.severity,  # 0 Debug .. 7 Emergency
            alert.source,
            alert.hostname,
            alert.output,
            alert.tags,
            Jsonb(alert.output_fields),
        )
        try:
            conn = await self._connection()
            await conn.execute(query, row)
        except (psycopg.errors.DataError, psycopg.errors.IntegrityConstraintViolation) as exc:
            raise PermanentError(f"postgresql: {exc}") from exc
        except (psycopg.Error, OSError) as exc:
            await self.close()
            raise DeliveryError(f"postgresql: {exc!r}") from exc

    async def close(self) -> None:
        """Close the connection."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.closed:
            await conn.close()
