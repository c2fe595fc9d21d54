"""The alert JSON contract (Falco's schema): priorities, validation and helpers."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


class AlertError(ValueError):
    """An alert that does not follow the contract; the message says why."""


class Priority(enum.IntEnum):
    """Falco priorities; a larger value is more severe."""

    DEBUG = 0
    INFORMATIONAL = 1
    NOTICE = 2
    WARNING = 3
    ERROR = 4
    CRITICAL = 5
    ALERT = 6
    EMERGENCY = 7

    @classmethod
    def parse(cls, text: str) -> Priority:
        """Read a priority in any case; `Info` is accepted for Informational."""
        key = text.strip().upper()
        if key == "INFO":
            key = "INFORMATIONAL"
        try:
            return cls[key]
        except KeyError:
            raise AlertError(f"unknown priority {text!r}") from None

    @property
    def falco_name(self) -> str:
        """The spelling Falco writes, e.g. `Warning`."""
        return self.name.capitalize()


def _check_field_value(key: str, value: Any) -> None:
    if value is None or isinstance(value, str | int | float | bool):
        return
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return
    raise AlertError(f"output_fields[{key!r}] must be a string, number, boolean, null or list")


def parse_time(text: str) -> datetime:
    """Parse RFC 3339 with up to nanoseconds (truncated to microseconds) into UTC."""
    m = _RFC3339.match(text)
    if not m:
        raise AlertError(f"time {text!r} is not RFC 3339")
    frac = (m.group(7) or ".0")[1:7].ljust(6, "0")
    zone = m.group(8).upper()
    iso = f"{text[:19].replace('t', 'T').replace(' ', 'T')}.{frac}"
    iso += "+00:00" if zone == "Z" else zone
    try:
        return datetime.fromisoformat(iso).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise AlertError(f"time {text!r} is not a valid date: {exc}") from None


@dataclass
class Alert:
    """One alert; `raw` keeps the received object (plus enrichment) for outputs that relay it."""

    rule: str
    priority: Priority
    time: str
    output: str = ""
    source: str = ""
    hostname: str = ""
    tags: list[str] = field(default_factory=list)
    output_fields: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def timestamp(self) -> datetime:
        """The alert time as an aware UTC datetime."""
        return parse_time(self.time)

    @property
    def time_ns(self) -> int:
        """The alert time in nanoseconds since the epoch, keeping the nanosecond digits."""
        m = _RFC3339.match(self.time)
        nanos = int(((m.group(7) if m else None) or ".0")[1:10].ljust(9, "0"))
        return int(self.timestamp.replace(microsecond=0).timestamp()) * 1_000_000_000 + nanos

    def to_dict(self) -> dict[str, Any]:
        """The alert as Falco's JSON object, with enrichment applied."""
        data = dict(self.raw)
        data.update(rule=self.rule, priority=self.priority.falco_name, time=self.time)
        optional = {
            "output": self.output,
            "source": self.source,
            "hostname": self.hostname,
            "output_fields": self.output_fields,
            "tags": self.tags,
        }
        for key, value in optional.items():
            if value or key in self.raw:  # keep absent keys absent, as received
                data[key] = value
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Alert:
        """Validate a decoded JSON object against the contract; raise AlertError if it fails."""
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
        priority = Priority.parse(data["priority"])
        parse_time(data["time"])
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
            _check_field_value(key, value)
        return cls(
            rule=data["rule"],
            priority=priority,
            time=data["time"],
            output=data.get("output", ""),
            source=data.get("source", ""),
            hostname=data.get("hostname", ""),
            tags=list(tags),
            output_fields=dict(fields),
            raw=dict(data),
        )


def now_rfc3339() -> str:
    """The current time in the contract's format (nanosecond digits)."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}000Z"


def make_test_alert(hostname: str = "") -> Alert:
    """The alert sent by `POST /test`."""
    return Alert.from_dict(
        {
            "output": "This is a test from lanner sidekick",
            "priority": "Debug",
            "rule": "Test rule",
            "source": "internal",
            "time": now_rfc3339(),
            "hostname": hostname,
            "output_fields": {"proc.name": "lanner", "user.name": "lanner"},
            "tags": ["test", "example"],
        }
    )
