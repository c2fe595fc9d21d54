"""An alert: what a rule match produces, in Falco's text and JSON forms."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from lanner.contract import Priority, format_time_ns


def default_hostname() -> str:
    """FALCO_HOSTNAME or LANNER_HOSTNAME when set, else the host's name (as Falco)."""
    # the kernel's node name: what socket.gethostname() returns (glibc reads uname()),
    # without importing socket
    return (
        os.environ.get("FALCO_HOSTNAME") or os.environ.get("LANNER_HOSTNAME") or os.uname().nodename
    )


def format_time(ts_ns: int, iso8601: bool = False) -> str:
    """Falco's output time: ``HH:MM:SS.nnnnnnnnn`` local, or ISO 8601 UTC."""
    secs, nanos = divmod(int(ts_ns), 1_000_000_000)
    if iso8601:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{nanos:09d}+0000"
    return time.strftime("%H:%M:%S", time.localtime(secs)) + f".{nanos:09d}"


def json_time(ts_ns: int) -> str:
    """The ``time`` key of a JSON alert: the contract's RFC 3339 UTC with nanoseconds."""
    return format_time_ns(ts_ns)


@dataclass(frozen=True, slots=True)
class JsonOptions:
    """Falco's json_include_* switches."""

    include_output: bool = True
    include_tags: bool = True
    include_output_fields: bool = True
    include_message: bool = False


@dataclass(slots=True)
class Alert:
    """A rule match on one event."""

    rule: str
    priority: Priority
    source: str
    time_ns: int
    message: str
    output_fields: dict[str, Any]
    tags: list[str]
    hostname: str = field(default_factory=default_hostname)
    iso8601: bool = False
    # Falco's internal messages (drops, metrics snapshot, capture size limit: its
    # falco_outputs::handle_msg): JSON with the message as "output", no tags, whatever
    # the json_include_* switches; text "TIME: Priority message (key=value ...)"
    internal: bool = False

    @property
    def output(self) -> str:
        """The full output line: ``TIME: Priority message``."""
        if self.internal:
            fields = " ".join(
                f"{k}={orjson.dumps(v).decode()}" for k, v in sorted(self.output_fields.items())
            )
            return f"{format_time(self.time_ns)}: {self.priority.label} {self.message} ({fields})"
        return f"{format_time(self.time_ns, self.iso8601)}: {self.priority.label} {self.message}"

    def as_dict(self, opts: JsonOptions = JsonOptions()) -> dict[str, Any]:
        """Falco's JSON alert object, keys in Falco's (sorted) order."""
        if self.internal:
            return {
                "hostname": self.hostname,
                "output": self.message,
                "output_fields": dict(sorted(self.output_fields.items())),
                "priority": self.priority.label,
                "rule": self.rule,
                "source": "internal",
                "time": json_time(self.time_ns),
            }
        doc: dict[str, Any] = {"hostname": self.hostname}
        if opts.include_message:
            doc["message"] = self.message
        if opts.include_output:
            doc["output"] = self.output
        if opts.include_output_fields:
            doc["output_fields"] = dict(sorted(self.output_fields.items()))
        doc["priority"] = self.priority.label
        doc["rule"] = self.rule
        doc["source"] = self.source
        if opts.include_tags:
            doc["tags"] = sorted(set(self.tags))  # Falco's tags are a set
        doc["time"] = json_time(self.time_ns)
        return doc

    def to_json(self, opts: JsonOptions = JsonOptions()) -> bytes:
        """One JSON line (no trailing newline)."""
        return orjson.dumps(self.as_dict(opts))


def internal_alert(
    rule: str,
    priority: Priority,
    message: str,
    fields: dict[str, Any],
    hostname: str,
    time_ns: int,
    iso8601: bool = False,
) -> Alert:
    """One of Falco's internal messages (drops, capture size limit, metrics snapshot):
    source ``internal``, no tags, the message as its whole output."""
    return Alert(
        rule=rule,
        priority=priority,
        source="internal",
        time_ns=time_ns,
        message=message,
        output_fields=fields,
        tags=[],
        hostname=hostname,
        iso8601=iso8601,
        internal=True,
    )
