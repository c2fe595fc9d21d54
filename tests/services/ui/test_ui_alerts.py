"""Falco alert JSON -> stored columns, times and query parameters."""

from __future__ import annotations

import pytest

from lanner.services.ui.alerts import (
    format_time_ns,
    from_alert,
    parse_time_ns,
    priority_level,
    search_words,
)
from lanner.services.ui.query import Cursor, parse_duration_ns, parse_time_param

CONTRACT_ALERT = {
    "hostname": "node-1",
    "output": "16:14:13.012345678: Warning Sensitive file opened for reading by non-trusted"
    " program (file=/etc/shadow proc.name=cat ...)",
    "output_fields": {
        "evt.time": 1700000053012345678,
        "fd.name": "/etc/shadow",
        "proc.name": "cat",
        "k8s.ns.name": "default",
        "k8s.pod.name": "web-7d4b9",
    },
    "priority": "Warning",
    "rule": "Read sensitive file untrusted",
    "source": "syscall",
    "tags": ["filesystem", "mitre_credential_access", "T1555"],
    "time": "2023-11-14T16:14:13.012345678Z",
}


def test_contract_alert_columns() -> None:
    stored = from_alert(CONTRACT_ALERT)
    # `time` is authoritative (2023-11-14T16:14:13Z), not output_fields' evt.time
    assert stored.time_ns == 1699978453012345678
    assert stored.priority == priority_level("Warning") == 4
    assert (stored.rule, stored.source, stored.hostname) == (
        "Read sensitive file untrusted",
        "syscall",
        "node-1",
    )
    assert (stored.namespace, stored.pod, stored.container) == ("default", "web-7d4b9", "")
    assert stored.tags == ["T1555", "filesystem", "mitre_credential_access"]
    words = stored.search_text.split()
    assert {"shadow", "etc", "cat", "web", "7d4b9", "t1555"} <= set(words)


@pytest.mark.parametrize(
    ("name", "level"),
    [("Emergency", 0), ("critical", 2), ("WARNING", 4), ("Info", 6), ("informational", 6)],
)
def test_priority_any_case(name: str, level: int) -> None:
    assert priority_level(name) == level


def test_unknown_priority_rejected() -> None:
    with pytest.raises(ValueError):
        priority_level("Severe")


def test_minimal_old_falco_alert() -> None:
    # no hostname, tags, output_fields or output: all optional in the contract
    stored = from_alert({"rule": "r", "priority": "Debug", "time": "2020-01-01T00:00:00Z"})
    assert stored.hostname == "" and stored.tags == [] and stored.output == ""
    assert stored.time_ns == 1577836800 * 10**9


BASE = {"rule": "r", "priority": "Debug"}


def test_time_falls_back_to_evt_time_then_now() -> None:
    assert from_alert({**BASE, "output_fields": {"evt.time": 5}}).time_ns == 5
    assert from_alert(BASE, now_ns=42).time_ns == 42


def test_container_name_preferred_over_id() -> None:
    fields = {"container.id": "abc123", "container.name": "web"}
    assert from_alert({**BASE, "output_fields": fields}).container == "web"
    fields = {"container.id": "abc123", "container.name": None}
    assert from_alert({**BASE, "output_fields": fields}).container == "abc123"


@pytest.mark.parametrize(
    "bad",
    [
        {"priority": "Debug"},
        {"rule": "r"},
        {"rule": "r", "priority": "Debug", "tags": "x"},
        {"rule": "r", "priority": "Debug", "output_fields": [1]},
        {"rule": "r", "priority": "Debug", "time": "yesterday"},
    ],
)
def test_invalid_alerts(bad: dict) -> None:
    with pytest.raises(ValueError):
        from_alert(bad)


def test_time_round_trip_keeps_nanoseconds() -> None:
    text = "2023-11-14T16:14:13.012345678Z"
    assert format_time_ns(parse_time_ns(text)) == text
    assert parse_time_ns("2023-11-14T17:14:13.5+01:00") == parse_time_ns("2023-11-14T16:14:13.5Z")


def test_search_words() -> None:
    assert search_words("file=/etc/shadow proc.name=Cat") == [
        "file",
        "etc",
        "shadow",
        "proc",
        "name",
        "cat",
    ]


def test_cursor_round_trip_and_garbage() -> None:
    cursor = Cursor(1700000053012345678, 99)
    assert Cursor.decode(cursor.encode()) == cursor
    for garbage in ["", "!!!", "bm90IGEgY3Vyc29y", "MTox"[:3]]:
        with pytest.raises(ValueError):
            Cursor.decode(garbage)


def test_time_params() -> None:
    now = 10**18
    assert parse_duration_ns("15m") == 15 * 60 * 10**9
    assert parse_time_param("1h", now) == now - 3600 * 10**9
    assert parse_time_param("123", now) == 123
    assert parse_time_param("2023-11-14T16:14:13Z", now) == 1699978453 * 10**9
    with pytest.raises(ValueError):
        parse_time_param("soon", now)
