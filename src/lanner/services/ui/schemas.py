"""The API's JSON shapes, which also make its OpenAPI document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lanner.services.ui.alerts import PRIORITIES, parse_time_ns, priority_level


class FalcoAlert(BaseModel):
    """One Falco alert as Falco's json_output / http_output writes it; unknown keys are kept."""

    model_config = ConfigDict(extra="allow")

    rule: str = Field(min_length=1)
    priority: str = Field(description="Emergency … Debug, any case; Info is accepted")
    output: str | None = None
    source: str | None = None
    hostname: str | None = None
    time: str | None = Field(default=None, description="RFC 3339 UTC, nanoseconds kept")
    tags: list[str] | None = None
    output_fields: dict[str, Any] | None = None

    @field_validator("priority")
    @classmethod
    def _known_priority(cls, value: str) -> str:
        priority_level(value)
        return value

    @field_validator("time")
    @classmethod
    def _rfc3339(cls, value: str | None) -> str | None:
        if value is not None:
            parse_time_ns(value)
        return value


class IngestResult(BaseModel):
    """Answer to POST /events."""

    ingested: int
    ids: list[int]


class Event(BaseModel):
    """A stored alert with its id and the columns it is filtered on."""

    id: int
    time: str
    time_ns: int
    priority: str
    rule: str
    source: str
    hostname: str
    container: str
    namespace: str
    pod: str
    output: str
    tags: list[str]
    output_fields: dict[str, Any]


class EventDetail(Event):
    """An event plus the alert JSON exactly as it was received.

    `field_text` and `alert_text` repeat output_fields and the alert as text, so that
    JavaScript readers show 64-bit integers (evt.time in ns) without rounding them.
    """

    alert: dict[str, Any]
    field_text: dict[str, str]
    alert_text: str


class EventsPage(BaseModel):
    """A page of events, newest first; pass `next_cursor` as `cursor` for the next one."""

    events: list[Event]
    next_cursor: str | None


class Problem(BaseModel):
    """An error answer."""

    detail: Any


class Count(BaseModel):
    """One value and how many events have it."""

    value: str
    count: int


class SeriesPoint(BaseModel):
    """Events in one time bucket, starting at `time`."""

    time: str
    total: int
    by_priority: dict[str, int]


class Stats(BaseModel):
    """Counts over a time range, for the dashboard."""

    total: int
    since: str | None
    until: str | None
    bucket_seconds: int
    by_priority: dict[str, int]
    by_rule: list[Count]
    by_source: list[Count]
    by_hostname: list[Count]
    by_tag: list[Count]
    top_rules: list[Count]
    top_hosts: list[Count]
    top_containers: list[Count]
    series: list[SeriesPoint]


class Info(BaseModel):
    """What the UI needs to know about the server and the caller."""

    version: str
    role: str
    auth: bool
    priorities: list[str] = Field(default_factory=lambda: list(PRIORITIES))
    retention_age_seconds: int | None
    retention_count: int | None
