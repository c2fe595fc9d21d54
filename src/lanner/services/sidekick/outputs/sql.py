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


@register
class TimescaleDB(Output):
    """Falcosidekick's TimescaleDB output: one row per alert in `hypertablename`, which the
    user creates (`time, rule, priority, source, output, tags, hostname` plus a text column
    per custom or templated field, then `create_hypertable`). Columns as Falcosidekick fills
    them: tags comma-joined, and the string values of `customfields`/`templatedfields`
    (double quotes removed, `null` as NULL). Names are quoted identifiers, values parameters."""

    kind = "timescaledb"
    family = "sql"
    enable_key = "host"
    options: ClassVar[dict[str, Opt]] = {
        "host": Opt("str", ""),
        "port": Opt("str", "5432"),
        "user": Opt("str", "postgres"),
        "password": Opt("str", "postgres", secret=True),
        "database": Opt("str", "falcosidekick"),
        "hypertablename": Opt("str", "falcosidekick_events"),
    }

    def __init__(self, settings: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(settings, ctx)
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._extra = [*ctx.customfields, *ctx.templatedfields]

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """The table is a plain identifier; the port a number."""
        if not _IDENT.match(settings["hypertablename"]):
            return "hypertablename", f"{settings['hypertablename']!r} is not a table name"
        if settings["host"] and not settings["port"].isdigit():
            return "port", f"expected a port number, got {settings['port']!r}"
        return None

    def row(self, alert: Alert) -> dict[str, Any]:
        """Column → value for one alert."""
        values: dict[str, Any] = {
            "time": alert.timestamp,
            "rule": alert.rule,
            "priority": alert.priority.label,
            "source": alert.source,
            "output": alert.output,
        }
        if alert.tags:
            values["tags"] = ",".join(alert.tags)
        if alert.hostname:
            values["hostname"] = alert.hostname
        for name in self._extra:
            value = alert.output_fields.get(name)
            if isinstance(value, str):
                text = value.replace('"', "")
                values[name] = None if text.lower() == "null" else text
        return values

    async def send(self, alert: Alert) -> None:
        """Insert one row."""
        import psycopg
        from psycopg import sql

        values = self.row(alert)
        query = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            sql.Identifier(*self.settings["hypertablename"].split(".")),
            sql.SQL(",").join(sql.Identifier(c) for c in values),
            sql.SQL(",").join(sql.Placeholder() for _ in values),
        )
        s = self.settings
        try:
            if self._conn is None or self._conn.closed:
                self._conn = await psycopg.AsyncConnection.connect(
                    host=s["host"],
                    port=s["port"],
                    user=s["user"],
                    password=s["password"],
                    dbname=s["database"],
                    autocommit=True,
                    connect_timeout=max(1, int(self.ctx.timeout)),
                )
            await self._conn.execute(query, list(values.values()))
        except (psycopg.errors.DataError, psycopg.errors.IntegrityConstraintViolation) as exc:
            raise PermanentError(f"timescaledb: {exc}") from exc
        except (psycopg.Error, OSError) as exc:
            await self.close()
            raise DeliveryError(f"timescaledb: {exc!r}") from exc

    async def close(self) -> None:
        """Close the connection."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()
