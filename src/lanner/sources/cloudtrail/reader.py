"""Reading CloudTrail log files: ``{"Records": [...]}`` (gzipped or plain) or JSON lines.

A JSON-lines file may hold one record per line or one Records document per line. A
directory is read file by file in name order (CloudTrail names files by time). Lines or
records that are not CloudTrail records are reported with file and line and skipped.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from lanner.sources.json_source.event import JsonEvent, parse_rfc3339
from lanner.sources.json_source.reader import (
    ErrorHandler,
    LineError,
    read_documents,
    report_to_stderr,
)


def _records(value: Any) -> tuple[list[Any], str | None]:
    """The records of a document, or the reason it is not CloudTrail data."""
    if isinstance(value, dict):
        records = value.get("Records")
        if isinstance(records, list):
            return records, None
        if "eventName" in value and "eventSource" in value:
            return [value], None
    elif isinstance(value, list):
        return value, None
    return [], "not a CloudTrail record or log file (no Records array, no eventName)"


def _files(path: Path) -> list[Path]:
    if not path.is_dir():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file())


def read_cloudtrail_events(
    source: str | Path | IO[bytes],
    on_error: ErrorHandler = report_to_stderr,
    name: str | None = None,
) -> Iterator[JsonEvent]:
    """CloudTrail records of a file, directory or binary stream, as numbered events."""
    num = 1
    inputs: list[Any] = _files(Path(source)) if isinstance(source, str | Path) else [source]
    for item in inputs:
        label = name or (str(item) if isinstance(item, Path) else str(getattr(item, "name", "-")))
        for lineno, value in read_documents(item, on_error, label):
            records, reason = _records(value)
            if reason is not None:
                on_error(LineError(label, lineno, reason))
                continue
            for i, record in enumerate(records):
                if not isinstance(record, dict):
                    on_error(LineError(label, lineno, f"record {i}: not a JSON object"))
                    continue
                ts = parse_rfc3339(record.get("eventTime"))
                yield JsonEvent(record, ts if ts is not None else time.time_ns(), num)
                num += 1


def looks_like_cloudtrail_file(path: str | Path) -> bool:
    """True when a file's first JSON value is CloudTrail data (for ``-e`` recognition)."""
    try:
        for _lineno, value in read_documents(path, on_error=lambda _e: None):
            records, reason = _records(value)
            return (
                reason is None
                and bool(records)
                and isinstance(records[0], dict)
                and ("eventName" in records[0])
            )
    except OSError:
        return False
    return False
