"""The alert contract every Lanner part shares: priorities, the time format, alert checks.

Falco's alert JSON (docs/alert-contract.md) is what the engine writes and every service
reads. This module is its one definition; it sits below the engine and imports only
:mod:`lanner.exceptions`, so the engine, the sources, the app and every service can import it.
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lanner.exceptions import AlertError

__all__ = [
    "AlertError",
    "AlertFields",
    "Priority",
    "ValidAlert",
    "alert_fields",
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
_STRING_KEYS = ("rule", "priority", "time", "output", "source", "hostname")
# The first 19 characters (date and clock) of UTC times already found valid: alerts
# arrive many to the second, and the full check is most of an alert's; cleared when full.
_VALID_SECONDS: dict[str, None] = {}
_VALID_SECONDS_MAX = 4096

# What `alert_fields` returns: rule, priority, time, output, source, hostname, tags (a new
# list) and output_fields (a new dict).
AlertFields = tuple[str, Priority, str, str, str, str, list[str], dict[str, Any]]


def _check_field_value(key: str, value: Any) -> None:
    if value is None or isinstance(value, str | int | float | bool):
        return
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return
    raise AlertError(f"output_fields[{key!r}] must be a string, number, boolean, null or list")


def _check_time(text: str) -> None:
    """Raise AlertError as `parse_time` does when `text` is not a contract time."""
    if (
        text[:19] in _VALID_SECONDS  # this second, in UTC, was valid: check the rest
        and len(text) > 21
        and text[19] == "."
        and text[-1] in "Zz"
        and text[20:-1].isdecimal()  # what the pattern's \d+ takes
    ):
        return
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise AlertError(f"time {text!r} is not RFC 3339")
    _split_time(text, strict=True)  # the date itself (raises)
    if m.group(4) in ("Z", "z"):
        if len(_VALID_SECONDS) >= _VALID_SECONDS_MAX:
            _VALID_SECONDS.clear()
        _VALID_SECONDS[text[:19]] = None


def _check_tags(tags: Any) -> None:
    if type(tags) is list:
        for tag in tags:
            if type(tag) is not str and not isinstance(tag, str):
                break
        else:
            return
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise AlertError("field 'tags' must be a list of strings")


def alert_fields(data: Any) -> AlertFields:
    """The checked fields of an alert object (see `AlertFields`); raise AlertError naming
    the fault. What :func:`validate_alert` checks, without building a ValidAlert."""
    if not isinstance(data, dict):
        raise AlertError("an alert must be a JSON object")
    get: Callable[..., Any] = data.get  # values are checked below
    rule, priority_text, time_text = get("rule"), get("priority"), get("time")
    output, source, hostname = get("output", ""), get("source", ""), get("hostname", "")
    if not (
        type(rule) is str
        and type(priority_text) is str
        and type(time_text) is str
        and type(output) is str
        and type(source) is str
        and type(hostname) is str
    ):  # the first fault in the contract's order
        for key in ("rule", "priority", "time"):
            if key not in data:
                raise AlertError(f"missing required field {key!r}")
        for key in _STRING_KEYS:
            if key in data and not isinstance(data[key], str):
                raise AlertError(f"field {key!r} must be a string")
    if not rule:
        raise AlertError("field 'rule' must not be empty")
    priority = _PRIORITY_NAMES.get(priority_text)  # as Falco writes them: one look-up
    if priority is None:
        try:
            priority = Priority.parse(priority_text)
        except ValueError:
            raise AlertError(f"unknown priority {priority_text!r}") from None
    _check_time(time_text)
    tags = get("tags")
    if tags is None:
        tags = []
    else:
        _check_tags(tags)
    fields = get("output_fields")
    if fields is None:
        fields = {}
    elif not isinstance(fields, dict):
        raise AlertError("field 'output_fields' must be an object")
    else:
        for key, value in fields.items():
            if value is None or type(value) in _SCALAR_TYPES:
                continue
            _check_field_value(key, value)
    return rule, priority, time_text, output, source, hostname, list(tags), dict(fields)


def validate_alert(data: Any) -> ValidAlert:
    """Check a decoded JSON object against the contract; raise AlertError naming the fault.

    ``rule``, ``priority`` and ``time`` are required; ``output``, ``source``, ``hostname``,
    ``tags`` and ``output_fields`` may be absent (then empty).
    """
    return ValidAlert(*alert_fields(data))
