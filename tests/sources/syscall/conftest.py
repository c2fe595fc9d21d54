"""Shared fixtures for the syscall source tests."""

from __future__ import annotations

import pytest
from syscall_testutil import ALL_CAPTURES


@pytest.fixture(params=ALL_CAPTURES)
def capture_name(request: pytest.FixtureRequest) -> str:
    """Each fixture capture by name."""
    return request.param  # type: ignore[no-any-return]
