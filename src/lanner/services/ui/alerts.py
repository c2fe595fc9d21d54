"""Falco alert JSON -> the columns the UI stores and filters on."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from lanner import contract
from lanner.contract import Priority, format_time_ns

__all__ = [
    "PRIORITIES",
    "StoredAlert",
    "format_time_ns",
    "from_alert",
    "parse_time_ns",
    "priority_level",
    "search_words",
]

#: Falco priorities, most severe first; the index is the stored numeric level
#: (the contract's Priority value: 0 = Emergency).
PRIORITIES: tuple[str, ...] = tuple(p.label for p in Priority)

# letters and digits; "_" separates words, as in SQLite's unicode61 tokenizer
_WORD = re.compile(r"[^\W_]+")


def priority_level(name: str) -> int:
    """Numeric level of a Falco priority name (0 = Emergency); any case, `Info` too."""
    try:
        return Priority.parse(name).value
    except ValueError:
        raise ValueError(f"unknown priority {name!r}") from None


def parse_time_ns(value: str) -> int:
    """Nanoseconds of an RFC 3339 time, read as the contract does but leniently: blanks
    around it, a missing zone (UTC) and a ``+hhmm`` offset are accepted (ValueError else)."""
    return contract.parse_time_ns(value, strict=False)


def search_words(text: str) -> list[str]:
    """Lower-case word tokens, the unit of full-text search in every store."""
    return [w.lower() for w in _WORD.findall(text)]


@dataclass(slots=True)
class StoredAlert:
    """One alert reduced to indexed columns, plus its original JSON."""

    time_ns: int
    priority: int
    rule: str
    source: str
    hostname: str
    container: str
    namespace: str
    pod: str
    output: str
    tags: list[str] = field(default_factory=list)
    raw: bytes = b"{}"

    @property
    def search_text(self) -> str:
        """Words searched by `q`: output, rule, tags and every output field value."""
        fields = orjson.loads(self.raw).get("output_fields") or {}
        parts = [self.output, self.rule, self.hostname, " ".join(self.tags)]
        for value in fields.values():
            if isinstance(value, list):
                parts.extend(str(v) for v in value)
            elif value is not None:
                parts.append(str(value))
        return " ".join(search_words(" ".join(parts)))


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def from_alert(alert: dict[str, Any], now_ns: int | None = None) -> StoredAlert:
    """Reduce one Falco alert (already JSON-decoded) to a `StoredAlert`.

    Raises ValueError when `rule` or `priority` is missing or invalid.
    """
    rule = alert.get("rule")
    if not isinstance(rule, str) or not rule:
        raise ValueError("alert has no rule")
    priority = alert.get("priority")
    if not isinstance(priority, str):
        raise ValueError("alert has no priority")
    level = priority_level(priority)
    fields = alert.get("output_fields") or {}
    if not isinstance(fields, dict):
        raise ValueError("output_fields is not an object")
    stamp = alert.get("time")
    if isinstance(stamp, str) and stamp:
        time_ns = parse_time_ns(stamp)
    elif isinstance(fields.get("evt.time"), int):
        time_ns = int(fields["evt.time"])
    else:
        time_ns = now_ns if now_ns is not None else time.time_ns()
    tags = alert.get("tags") or []
    if not isinstance(tags, list):
        raise ValueError("tags is not a list")
    container = _text(fields.get("container.name")) or _text(fields.get("container.id"))
    return StoredAlert(
        time_ns=time_ns,
        priority=level,
        rule=rule,
        source=_text(alert.get("source")),
        hostname=_text(alert.get("hostname")),
        container=container,
        namespace=_text(fields.get("k8s.ns.name")),
        pod=_text(fields.get("k8s.pod.name")),
        output=_text(alert.get("output")),
        tags=sorted({str(t) for t in tags}),
        raw=orjson.dumps(alert),
    )
