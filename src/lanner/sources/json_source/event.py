"""The event of the JSON-based sources: a parsed JSON document with a time and a number.

The k8s_audit, aws_cloudtrail and json sources all carry a :class:`JsonEvent`; their
fields read ``event.data``. Values print as the plugins print them: strings as they are,
anything else as compact JSON (fastjson's ``MarshalTo``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson

_FRACTION = re.compile(r"\.(\d+)")


class JsonEvent:
    """One JSON document: ``data`` (parsed), ``ts`` (ns since the epoch), ``num``."""

    __slots__ = ("data", "num", "ts")

    def __init__(self, data: Any, ts: int = 0, num: int = 0) -> None:
        self.data = data
        self.ts = ts
        self.num = num

    def __repr__(self) -> str:
        return f"JsonEvent(num={self.num}, ts={self.ts}, data={self.data!r:.80})"


def as_text(value: Any) -> str:
    """A JSON value as the plugins return it: a string as-is, otherwise compact JSON."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def parse_rfc3339(text: Any) -> int | None:
    """Nanoseconds since the epoch of an RFC 3339 timestamp (any fraction), or None."""
    if not isinstance(text, str) or not text:
        return None
    nanos = 0
    m = _FRACTION.search(text)
    if m:
        digits = m.group(1)
        nanos = int(digits[:9].ljust(9, "0"))
        text = text[: m.start()] + text[m.end() :]
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:  # no offset: UTC, as CloudTrail and the apiserver write
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1_000_000_000 + nanos
