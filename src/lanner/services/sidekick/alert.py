"""Sidekick's alert: the contract's checked fields (lanner.contract) plus the received object."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from lanner.contract import Priority, alert_fields, now_time, parse_time, parse_time_ns
from lanner.exceptions import AlertError

__all__ = ["Alert", "AlertError", "Priority", "make_test_alert", "now_rfc3339", "parse_time"]


@dataclass(slots=True)
class Alert:
    """One alert; `raw` keeps the received object (plus enrichment) for outputs that relay it.

    An alert queued behind a backlog waits as `pack()`'s bytes (one object the garbage
    collector never walks) and is rebuilt by `unpack` for its delivery. `packed`, when set
    (by `unpack`, or to the spooled bytes once submitted), is `json()`, so that an output
    relaying the alert unchanged does not encode it again: a submitted alert must not change."""

    rule: str
    priority: Priority
    time: str
    output: str = ""
    source: str = ""
    hostname: str = ""
    tags: list[str] = field(default_factory=list)
    output_fields: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    packed: bytes = field(default=b"", repr=False, compare=False)

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

    def json(self) -> bytes:
        """`to_dict()` encoded as JSON (the bytes it was unpacked from, when it was)."""
        return self.packed or orjson.dumps(self.to_dict())

    def pack(self) -> bytes:
        """The alert as JSON bytes that `unpack` turns back into an equal alert: `to_dict()`,
        whose `json()` and fields are this alert's. Raises orjson.JSONEncodeError for a value
        JSON cannot hold (a lone surrogate from the environment, an int over 64 bits)."""
        # orjson's bytes keep the buffer it wrote into (4 KiB for a 300-byte alert): a queued
        # alert lives long, so it keeps a copy of the exact length (0.2 µs)
        return bytes(memoryview(orjson.dumps(self.to_dict())))

    @classmethod
    def unpack(cls, payload: bytes) -> Alert:
        """The alert `pack()` made `payload` from, not checked again: `to_dict()` always
        holds the contract's three keys, a priority label and typed optional fields."""
        data = orjson.loads(payload)
        get = data.get
        return cls(
            data["rule"],
            _BY_LABEL[data["priority"]],
            data["time"],
            get("output", ""),
            get("source", ""),
            get("hostname", ""),
            list(get("tags", ())),
            dict(get("output_fields", ())),
            data,
            payload,
        )

    @classmethod
    def from_dict(cls, data: Any) -> Alert:
        """Validate a decoded JSON object against the contract; raise AlertError if it fails."""
        rule, priority, time, output, source, hostname, tags, fields = alert_fields(data)
        return cls(rule, priority, time, output, source, hostname, tags, fields, dict(data))


_BY_LABEL = {p.label: p for p in Priority}


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
