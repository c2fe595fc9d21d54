"""Reading JSON files: one document (pretty-printed or not) or JSON lines, gzip or plain.

A line that is not JSON is reported with its file and line number and skipped; the
stream goes on. Callers decide what a document means (an audit Event, a CloudTrail
Records file...) and report their own rejections through the same :class:`LineError`.
"""

from __future__ import annotations

import gzip
import io
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from lanner.sources.json_source.event import JsonEvent

GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True, slots=True)
class LineError:
    """A skipped input line (or document): where it was and why."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: skipped, {self.reason}"


ErrorHandler = Callable[[LineError], None]


def report_to_stderr(error: LineError) -> None:
    """The default error handler: one line on stderr."""
    print(error, file=sys.stderr, flush=True)


def open_binary(path: str | Path) -> IO[bytes]:
    """Open a file for reading, decompressing it when it is gzipped."""
    with open(path, "rb") as probe:
        magic = probe.read(2)
    if magic == GZIP_MAGIC:
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _numbered_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    for lineno, line in enumerate(stream, 1):
        if line.strip():
            yield lineno, line


def parse_lines(
    lines: Iterable[tuple[int, bytes]], name: str, on_error: ErrorHandler
) -> Iterator[tuple[int, Any]]:
    """JSON lines: ``(line number, value)`` for every line that parses."""
    for lineno, line in lines:
        try:
            yield lineno, orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            on_error(LineError(name, lineno, f"not JSON: {exc}"))


def read_documents(
    source: str | Path | IO[bytes],
    on_error: ErrorHandler = report_to_stderr,
    name: str | None = None,
) -> Iterator[tuple[int, Any]]:
    """The JSON values of a file or binary stream, with the line each starts on.

    A file whose first line is JSON is read as JSON lines; otherwise the whole content
    is tried as one document, and if that fails too it is read as JSON lines with each
    bad line reported.
    """
    if isinstance(source, str | Path):
        with open_binary(source) as fh:
            yield from read_documents(fh, on_error, name or str(source))
        return
    label = name or getattr(source, "name", None) or "<stream>"
    if not isinstance(label, str):
        label = str(label)
    lines = _numbered_lines(source)
    first = next(lines, None)
    if first is None:
        return
    lineno, line = first
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        rest = list(lines)
        whole = line + b"".join(text for _, text in rest)
        try:
            value = orjson.loads(whole)
        except orjson.JSONDecodeError:
            yield from parse_lines([first, *rest], label, on_error)
            return
        yield lineno, value
        return
    yield lineno, value
    yield from parse_lines(lines, label, on_error)


def read_json_events(
    source: str | Path | IO[bytes],
    on_error: ErrorHandler = report_to_stderr,
    name: str | None = None,
) -> Iterator[JsonEvent]:
    """Events of the generic ``json`` source: every JSON value of a file or stream.

    A top-level array in a single-document file gives one event per element. Events are
    stamped with the time they are read.
    """
    num = 0
    for _lineno, value in read_documents(source, on_error, name):
        items = value if isinstance(value, list) else [value]
        for item in items:
            num += 1
            yield JsonEvent(item, time.time_ns(), num)


def read_json_text(
    text: str | bytes, on_error: ErrorHandler = report_to_stderr, name: str = "<text>"
) -> Iterator[tuple[int, Any]]:
    """:func:`read_documents` over in-memory text (handy for tests and HTTP bodies)."""
    data = text.encode() if isinstance(text, str) else text
    return read_documents(io.BytesIO(data), on_error, name)
