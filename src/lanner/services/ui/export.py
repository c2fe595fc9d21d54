"""Export: stream events as a JSON array of Falco alerts or as CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from lanner.services.ui.alerts import PRIORITIES, format_time_ns

CSV_COLUMNS = (
    "id",
    "time",
    "priority",
    "rule",
    "source",
    "hostname",
    "container",
    "namespace",
    "pod",
    "tags",
    "output",
)


def json_chunks(rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """A JSON array of the alerts as received, so it can be POSTed back as-is."""
    yield b"["
    first = True
    for row in rows:
        yield (b"" if first else b",\n") + orjson.dumps(row["alert"])
        first = False
    yield b"]\n"


def _csv_safe(value: str) -> str:
    # keep spreadsheet programs from evaluating cells (CSV injection)
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_chunks(rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """One CSV line per event with the filterable columns and the output."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for n, row in enumerate(rows, 1):
        alert = row["alert"]
        writer.writerow(
            [
                row["id"],
                format_time_ns(row["time_ns"]),
                PRIORITIES[row["priority"]],
                *(
                    _csv_safe(str(row[c]))
                    for c in ("rule", "source", "hostname", "container", "namespace", "pod")
                ),
                _csv_safe(" ".join(str(t) for t in alert.get("tags") or [])),
                _csv_safe(str(alert.get("output") or "")),
            ]
        )
        if n % 500 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()
