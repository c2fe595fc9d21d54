"""What a reader asks of the store: filters, keyset cursors and stats ranges."""

from __future__ import annotations

import base64
import binascii
import re
import time
from dataclasses import dataclass, field
from typing import Any

from lanner.services.ui.alerts import parse_time_ns

INT64_MAX = 2**63 - 1
_TERM = re.compile(r"([^\W_]+)(\*?)")


@dataclass(frozen=True, slots=True)
class Cursor:
    """Position after the last row of a page: rows are ordered by (time_ns, id) descending."""

    time_ns: int
    id: int

    def encode(self) -> str:
        """Opaque URL-safe token."""
        raw = f"{self.time_ns}:{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """Inverse of `encode`; ValueError on anything else."""
        try:
            padded = token + "=" * (-len(token) % 4)
            time_part, id_part = base64.urlsafe_b64decode(padded).decode().split(":")
            cursor = cls(int(time_part), int(id_part))
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise ValueError("invalid cursor") from exc
        if not (abs(cursor.time_ns) <= INT64_MAX and 0 <= cursor.id <= INT64_MAX):
            raise ValueError("invalid cursor")
        return cursor


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Filters shared by the events list, the live stream, export and stats.

    Empty tuples mean "any"; several values of one field are alternatives.
    """

    max_priority: int | None = None  # keep levels <= this (0 = Emergency): "priority >="
    priorities: tuple[int, ...] = ()  # exactly these levels (falcosidekick-ui's filter)
    rules: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    hostnames: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    containers: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    pods: tuple[str, ...] = ()
    since_ns: int | None = None  # inclusive
    until_ns: int | None = None  # exclusive
    query: str = ""  # full-text words, all must match; `word*` matches a prefix
    after_id: int | None = None  # only rows stored after this id (live stream)

    @property
    def terms(self) -> list[tuple[str, bool]]:
        """Full-text terms of `query` as (word, is_prefix): `word*` asks for a prefix."""
        return [(m.group(1).lower(), bool(m.group(2))) for m in _TERM.finditer(self.query)]


@dataclass(frozen=True, slots=True)
class Page:
    """One page of events, newest first."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    next_cursor: Cursor | None = None


_DURATION = re.compile(r"^(\d+)(s|m|h|d|w)$")
_UNIT_NS = {
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
    "w": 604_800_000_000_000,
}


def parse_duration_ns(text: str) -> int:
    """`90s`, `15m`, `6h`, `7d`, `2w` -> nanoseconds."""
    m = _DURATION.match(text.strip())
    if not m:
        raise ValueError(f"not a duration: {text!r} (use e.g. 15m, 6h, 7d)")
    return int(m.group(1)) * _UNIT_NS[m.group(2)]


def parse_time_param(text: str, now_ns: int | None = None) -> int:
    """A time bound: RFC 3339, epoch nanoseconds, or a duration meaning "that long ago"."""
    text = text.strip()
    now_ns = time.time_ns() if now_ns is None else now_ns
    if _DURATION.match(text):
        return now_ns - parse_duration_ns(text)
    value = int(text) if text.isdigit() else parse_time_ns(text)
    if not -INT64_MAX <= value <= INT64_MAX:
        raise ValueError(f"time out of range: {text!r}")
    return value
