"""schemathesis against the OpenAPI document: no server errors, responses match the schema.

Driven through schemathesis' Python API (its pytest plugin predates pytest 9).
"""

from __future__ import annotations

import time
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from ui_seed import make_alerts

from lanner.services.ui.alerts import from_alert
from lanner.services.ui.app import create_app
from lanner.services.ui.store.sqlite import SQLiteStore

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    status_code_conformance,
]


def test_api_conforms_to_its_openapi_document(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "ui.db")
    store.insert([from_alert(a) for a in make_alerts(30, time.time_ns())])
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app(store))
    # the live stream never ends by design; every other operation is exercised
    schema = schema.exclude(path="/api/v1/stream")
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=30,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: object) -> None:
            case.call_and_validate(checks=CHECKS)  # type: ignore[attr-defined]

        check()
        tested.append(operation.label)
    store.close()
    assert "POST /api/v1/events" in tested and "GET /api/v1/stats" in tested
    assert len(tested) == 7
