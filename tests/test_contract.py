"""The alert contract, asserted once: Falco's priority order and the RFC 3339 time format."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import lanner
from lanner.contract import Priority, format_time_ns, parse_time, parse_time_ns, validate_alert
from lanner.engine.priority import Priority as EnginePriority
from lanner.exceptions import AlertError

FALCO_ORDER = [
    "Emergency",
    "Alert",
    "Critical",
    "Error",
    "Warning",
    "Notice",
    "Informational",
    "Debug",
]


def test_priorities_in_falco_order_most_severe_first() -> None:
    assert [p.label for p in Priority] == FALCO_ORDER
    assert [p.value for p in Priority] == list(range(8))  # Falco's numbering
    assert [p.severity for p in Priority] == list(range(7, -1, -1))
    ranked = list(Priority)
    for i, p in enumerate(ranked):
        for j, q in enumerate(ranked):
            assert p.at_least(q) is (i <= j), (p, q)
            assert p.more_severe_than(q) is (i < j), (p, q)
    assert sorted(Priority, key=lambda p: p.severity, reverse=True) == ranked


def test_one_priority_type_everywhere() -> None:
    from lanner.services.sidekick.alert import Priority as SidekickPriority

    assert lanner.Priority is EnginePriority is SidekickPriority is Priority


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Warning", Priority.WARNING),
        ("WARNING", Priority.WARNING),
        (" warning ", Priority.WARNING),
        ("info", Priority.INFORMATIONAL),
        ("Informational", Priority.INFORMATIONAL),
        ("emergency", Priority.EMERGENCY),
    ],
)
def test_priority_parse_any_case(text: str, expected: Priority) -> None:
    assert Priority.parse(text) is expected


def test_priority_labels_and_bad_name() -> None:
    assert Priority.INFORMATIONAL.label == "Informational"
    assert Priority.INFORMATIONAL.short_label == "Info"
    assert Priority.WARNING.short_label == "Warning"
    with pytest.raises(ValueError, match="Invalid priority 'Severe'"):
        Priority.parse("Severe")


def test_time_round_trip_keeps_nanoseconds() -> None:
    ns = 1_700_000_053_012_345_678
    text = format_time_ns(ns)
    assert text == "2023-11-14T22:14:13.012345678Z"
    assert parse_time_ns(text) == ns
    assert format_time_ns(5) == "1970-01-01T00:00:00.000000005Z"
    assert parse_time(text) == datetime(2023, 11, 14, 22, 14, 13, 12345, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2023-11-14T16:14:13Z", 1_699_978_453_000_000_000),
        ("2023-11-14t16:14:13z", 1_699_978_453_000_000_000),
        ("2023-11-14 16:14:13.5Z", 1_699_978_453_500_000_000),
        ("2023-11-14T17:14:13.5+01:00", 1_699_978_453_500_000_000),
        ("2023-11-14T16:14:13.1234567891Z", 1_699_978_453_123_456_789),  # kept to 9 digits
    ],
)
def test_time_parse_forms(text: str, ns: int) -> None:
    assert parse_time_ns(text) == ns


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("yesterday", "is not RFC 3339"),
        ("2023-11-14T16:14:13", "is not RFC 3339"),  # the contract requires a zone
        ("2023-11-14T16:14:13+0100", "is not RFC 3339"),
        ("2023-11-14T16:14:13Z\n", "is not RFC 3339"),
        ("2023-02-30T00:00:00Z", "is not a valid date"),
        ("0001-01-01T00:00:00+01:00", "is not a valid date"),
    ],
)
def test_time_parse_refuses(text: str, message: str) -> None:
    with pytest.raises(AlertError, match=message):
        parse_time_ns(text)


def test_time_parse_lenient_for_readers() -> None:
    base = parse_time_ns("2023-11-14T16:14:13Z")
    assert parse_time_ns(" 2023-11-14T16:14:13 ", strict=False) == base
    assert parse_time_ns("2023-11-14T17:14:13+0100", strict=False) == base
    with pytest.raises(ValueError, match="is not RFC 3339"):
        parse_time_ns("last tuesday", strict=False)


def test_validate_alert() -> None:
    valid = validate_alert(
        {"rule": "r", "priority": "info", "time": "2023-11-14T16:14:13Z", "tags": ["a"]}
    )
    assert (valid.rule, valid.priority, valid.tags, valid.output_fields) == (
        "r",
        Priority.INFORMATIONAL,
        ["a"],
        {},
    )
    bad = [
        ([], "an alert must be a JSON object"),
        ({"priority": "Debug", "time": "2023-11-14T16:14:13Z"}, "missing required field 'rule'"),
        ({"rule": "r", "priority": "Loud", "time": "2023-11-14T16:14:13Z"}, "unknown priority"),
        ({"rule": "r", "priority": "Debug", "time": "now"}, "is not RFC 3339"),
        (
            {"rule": "r", "priority": "Debug", "time": "2023-11-14T16:14:13Z", "tags": [1]},
            "'tags' must be a list of strings",
        ),
        (
            {
                "rule": "r",
                "priority": "Debug",
                "time": "2023-11-14T16:14:13Z",
                "output_fields": {"x": {"nested": 1}},
            },
            r"output_fields\['x'\]",
        ),
    ]
    for data, message in bad:
        with pytest.raises(AlertError, match=message):
            validate_alert(data)
