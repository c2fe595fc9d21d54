"""Reading audit events from files: one Event, an EventList, or the log backend's JSON lines.

Files may be gzipped; a directory is read file by file, oldest first (as the plugin
does). A line that is not an audit event is reported with its file and line and skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO

from lanner.exceptions import NotAuditEvent
from lanner.sources.json_source.event import JsonEvent
from lanner.sources.json_source.reader import (
    ErrorHandler,
    LineError,
    read_documents,
    report_to_stderr,
)
from lanner.sources.k8s_audit.payload import parse_payload


def _files(path: Path) -> list[Path]:
    if not path.is_dir():
        return [path]
    files = [p for p in path.iterdir() if p.is_file()]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


def read_audit_events(
    source: str | Path | IO[bytes],
    on_error: ErrorHandler = report_to_stderr,
    name: str | None = None,
    first_num: int = 1,
) -> Iterator[JsonEvent]:
    """Audit events of a file, a directory of files or a binary stream, numbered in order."""
    num = first_num
    if isinstance(source, str | Path):
        for path in _files(Path(source)):
            for event in _read_one(path, on_error, name or str(path), num):
                num = event.num + 1
                yield event
        return
    yield from _read_one(source, on_error, name, num)


def _read_one(
    source: Path | IO[bytes], on_error: ErrorHandler, name: str | None, num: int
) -> Iterator[JsonEvent]:
    label = name or str(getattr(source, "name", "<stream>"))
    for lineno, value in read_documents(source, on_error, label):
        try:
            parsed = parse_payload(value)
        except NotAuditEvent as exc:
            on_error(LineError(label, lineno, str(exc)))
            continue
        for reason in parsed.rejected:
            on_error(LineError(label, lineno, reason))
        for event in parsed.events:
            event.num = num
            num += 1
            yield event


def looks_like_audit_file(path: str | Path) -> bool:
    """True when the first JSON value of a file is audit data (for ``-e`` recognition)."""
    try:
        for _lineno, value in read_documents(path, on_error=lambda _e: None):
            try:
                return bool(parse_payload(value).events)
            except NotAuditEvent:
                return False
    except OSError:
        return False
    return False
