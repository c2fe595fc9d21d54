"""Fixtures of the app tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .helpers import LiveLanner


@pytest.fixture
def live() -> Iterator[list[LiveLanner]]:
    """Live lanner processes started by a test; killed afterwards if still running."""
    started: list[LiveLanner] = []
    yield started
    for proc in started:
        proc.kill()
