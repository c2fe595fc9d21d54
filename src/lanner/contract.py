"""The alert contract every Lanner part shares: priorities, the time format, alert checks.

Falco's alert JSON (docs/alert-contract.md) is what the engine writes and every service
reads. This module is its one definition; it sits below the engine and imports only
:mod:`lanner.exceptions`, so the engine, the sources, the app and every service can import it.
"""

from __future__ import annotations

import enum
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lanner.exceptions import AlertError

__all__ = [
    "AlertError",
    "Priority",
    "ValidAlert",
    "format_time_ns",
    "now_time",
    "parse_time",
    "parse_time_ns",
    "validate_alert",
]


class Priority(enum.IntEnum):
    """A Falco priority. As in Falco, a lower value is more severe (Emergency is 0).

    Compare severities with :meth:`at_least` and :meth:`more_severe_than` (or
    :attr:`severity`) rather than with the raw integers.
    """

    EMERGENCY = 0
    ALERT = 1
    CRITICAL = 2
    ERROR = 3
    WARNING = 4
    NOTICE = 5
    INFORMATIONAL = 6
    DEBUG = 7

    @property
    def label(self) -> str:
        """The spelling Falco prints in alerts: ``Warning``, ``Informational``..."""
        return self.name.capitalize()

    @property
    def short_label(self) -> str:
        """The short spelling of Falco's summary: ``Info`` for Informational."""
        return "Info" if self is Priority.INFORMATIONAL else self.label

    @property
    def severity(self) -> int:
        """A rank where larger is more severe: 0 for Debug up to 7 for Emergency."""
        return Priority.DEBUG.value - self.value

    def at_least(self, minimum: Priority) -> bool:
        """Whether this priority is as severe as `minimum` or more."""
        return self.value <= minimum.value

    def more_severe_than(self, other: Priority) -> bool:
        """Whether this priority is strictly more severe than `other`."""
        return self.value < other.value

    @classmethod
    def parse(cls, text: str) -> Priority:
        """Read a priority name in any case; ``info`` is accepted for Informational.

        Raises ValueError ``Invalid priority '<text>'`` for anything else.
        """
        key = str(text).strip().upper()
        if key == "INFO":
            return cls.INFORMATIONAL
        try:
            return cls[key]
        except KeyError:
            raise ValueError(f"Invalid priority '{text}'") from None


# RFC 3339 as the contract writes it: a zone is required, any number of fraction digits.
_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})"
)
# What readers of query parameters also accept: no zone (UTC), or an offset as +hhmm.
_RFC3339_LENIENT = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:?\d{2})?"
)


def _split_time(text: str, strict: bool) -> tuple[datetime, int]:
    """(the whole second as an aware UTC datetime, the nanoseconds) of an RFC 3339 time."""
    m = (_RFC3339 if strict else _RFC3339_LENIENT).fullmatch(text if strict else text.strip())
    if not m:
        raise AlertError(f"time {text!r} is not RFC 3339")
    day, clock, frac, zone = m.groups()
    offset = "+00:00" if zone in (None, "Z", "z") else zone
    if len(offset) == 5:  # +hhmm
        offset = f"{offset[:3]}:{offset[3:]}"
    try:
        whole = datetime.fromisoformat(f"{day}T{clock}{offset}").astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise AlertError(f"time {text!r} is not a valid date: {exc}") from None
    return whole, int((frac or "0")[:9].ljust(9, "0"))


def parse_time(text: str) -> datetime:
    """An RFC 3339 time (nanoseconds truncated to microseconds) as an aware UTC datetime.

    Raises AlertError when the text is not RFC 3339 or not a valid date.
    """
    whole, nanos = _split_time(text, strict=True)
    return whole + timedelta(microseconds=nanos // 1000)


def parse_time_ns(text: str, *, strict: bool = True) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time, keeping all nine fraction digits.

    With ``strict=False`` surrounding blanks, a missing zone (read as UTC) and an offset
    written ``+hhmm`` are accepted too. Raises AlertError (a ValueError) otherwise.
    """
    whole, nanos = _split_time(text, strict)
    return int(whole.timestamp()) * 1_000_000_000 + nanos


def format_time_ns(ts_ns: int) -> str:
    """The contract's time: RFC 3339 UTC with nine fraction digits, as Falco writes it."""
    secs, nanos = divmod(int(ts_ns), 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{nanos:09d}Z"


def now_time() -> str:
    """The current time in the contract's format."""
    return format_time_ns(time.time_ns())


_PRIORITY_NAMES = {p.label: p for p in Priority}  # "Warning", "Informational", ...


@dataclass(frozen=True, slots=True)
class ValidAlert:
    """The typed fields of an alert object that passed :func:`validate_alert`."""

    rule: str
    priority: Priority
    time: str
    output: str
    source: str
    hostname: str
    tags: list[str]
    output_fields: dict[str, Any]


_SCALAR_TYPES = frozenset((str, int, float, bool))  # exact types: the common case, checked fast


def _check_field_value(key: str, value: Any) -> None:
    if value is None or isinstance(value, str | int | float | bool):
        return
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return
    raise AlertError(f"output_fields[{key!r}] must be a string, number, boolean, null or list")


def validate_alert(data: Any) -> ValidAlert:
    """Check a decoded JSON object against the contract; raise AlertError naming the fault.

    ``rule``, ``priority`` and ``time`` are required; ``output``, ``source``, ``hostname``,
    ``tags`` and ``output_fields`` may be absent (then empty).
    """
    if not isinstance(data, dict):
        raise AlertError("an alert must be a JSON object")
    for key in ("rule", "priority", "time"):
        if key not in data:
            raise AlertError(f"missing required field {key!r}")
    for key in ("rule", "priority", "time", "output", "source", "hostname"):
        if key in data and not isinstance(data[key], str):
            raise AlertError(f"field {key!r} must be a string")
    if not data["rule"]:
        raise AlertError("field 'rule' must not be empty")
    priority = _PRIORITY_NAMES.get(data["priority"])  # as Falco writes them: one look-up
    if priority is None:
        try:
            priority = Priority.parse(data["priority"])
        except ValueError:
            raise AlertError(f"unknown priority {data['priority']!r}") from None
    _split_time(data["time"], strict=True)  # raises AlertError as parse_time does
    tags = data.get("tags")
    if tags is None:
        tags = []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise AlertError("field 'tags' must be a list of strings")
    fields = data.get("output_fields")
    if fields is None:
        fields = {}
    if not isinstance(fields, dict):
        raise AlertError("field 'output_fields' must be an object")
    for key, value in fields.items():
        if value is None or type(value) in _SCALAR_TYPES:
            continue
        _check_field_value(key, value)
    return ValidAlert(
        rule=data["rule"],
        priority=priority,
        time=data["time"],
        output=data.get("output", ""),
        source=data.get("source", ""),
        hostname=data.get("hostname", ""),
        tags=list(tags),
        output_fields=dict(fields),
    )
