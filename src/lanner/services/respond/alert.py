"""The Falco alert as `lanner respond` sees it (see docs/alert-contract.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Falco priorities, most severe first; a smaller rank is more severe.
PRIORITIES: tuple[str, ...] = (
    "Emergency",
    "Alert",
    "Critical",
    "Error",
    "Warning",
    "Notice",
    "Informational",
    "Debug",
)
_ALIASES = {"info": "Informational"}
_RANK = {name.lower(): rank for rank, name in enumerate(PRIORITIES)}


class AlertError(ValueError):
    """The payload is not a Falco alert."""


def normalize_priority(value: str) -> str:
    """Return the canonical spelling of a Falco priority (any case, `Info` accepted)."""
    key = str(value).strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    if key not in _RANK:
        raise AlertError(f"unknown priority {value!r}; expected one of {', '.join(PRIORITIES)}")
    return PRIORITIES[_RANK[key]]


def priority_rank(value: str) -> int:
    """Severity rank of a priority: 0 for Emergency up to 7 for Debug."""
    return _RANK[normalize_priority(value).lower()]


@dataclass(frozen=True)
class Alert:
    """One Falco alert: the parsed fields plus the untouched original payload."""

    rule: str
    priority: str
    source: str = "syscall"
    output: str = ""
    time: str = ""
    hostname: str = ""
    tags: tuple[str, ...] = ()
    output_fields: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any) -> Alert:
        """Parse a decoded Falco alert JSON object, tolerating absent optional keys."""
        if not isinstance(data, dict):
            raise AlertError("an alert must be a JSON object")
        rule = data.get("rule")
        if not isinstance(rule, str) or not rule:
            raise AlertError("alert has no 'rule'")
        if "priority" not in data:
            raise AlertError("alert has no 'priority'")
        fields = data.get("output_fields") or {}
        if not isinstance(fields, dict):
            raise AlertError("'output_fields' must be an object")
        tags = data.get("tags") or []
        if not isinstance(tags, list):
            raise AlertError("'tags' must be a list")
        return cls(
            rule=rule,
            priority=normalize_priority(data["priority"]),
            source=str(data.get("source") or "syscall"),
            output=str(data.get("output") or ""),
            time=str(data.get("time") or ""),
            hostname=str(data.get("hostname") or ""),
            tags=tuple(str(t) for t in tags),
            output_fields=dict(fields),
            raw=dict(data),
        )

    def get(self, name: str) -> Any:
        """Value of an output field, or None when the alert does not carry it."""
        return self.output_fields.get(name)
