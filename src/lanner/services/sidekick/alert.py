"""Sidekick's alert: the contract's checked fields (lanner.contract) plus the received object."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lanner.contract import Priority, alert_fields, now_time, parse_time, parse_time_ns
from lanner.exceptions import AlertError

__all__ = ["Alert", "AlertError", "Priority", "make_test_alert", "now_rfc3339", "parse_time"]


@dataclass(slots=True)
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
        return parse_time_ns(self.time)

    def to_dict(self) -> dict[str, Any]:
        """The alert as Falco's JSON object, with enrichment applied."""
        data = dict(self.raw)
        data.update(rule=self.rule, priority=self.priority.label, time=self.time)
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
        rule, priority, time, output, source, hostname, tags, fields = alert_fields(data)
        return cls(rule, priority, time, output, source, hostname, tags, fields, dict(data))


def now_rfc3339() -> str:
    """The current time in the contract's format (nanosecond digits)."""
    return now_time()


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
