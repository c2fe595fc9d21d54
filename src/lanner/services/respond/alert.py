"""The Falco alert as `lanner respond` sees it (see docs/alert-contract.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lanner.contract import Priority
from lanner.exceptions import AlertError

__all__ = ["PRIORITIES", "Alert", "AlertError", "normalize_priority", "parse_priority"]

# Falco priorities as Falco spells them, most severe first.
PRIORITIES: tuple[str, ...] = tuple(p.label for p in Priority)


def parse_priority(value: str) -> Priority:
    """The contract's priority of a name (any case, `Info` accepted); AlertError otherwise."""
    try:
        return Priority.parse(value)
    except ValueError:
        raise AlertError(
            f"unknown priority {value!r}; expected one of {', '.join(PRIORITIES)}"
        ) from None


def normalize_priority(value: str) -> str:
    """Return the canonical spelling of a Falco priority (any case, `Info` accepted)."""
    return parse_priority(value).label


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
