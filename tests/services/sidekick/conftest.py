"""Fixtures for the sidekick tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import Receiver, Sidekick


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A recording HTTP receiver on loopback."""
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    """A list to which tests append receivers; all are closed after the test."""
    made: list[Receiver] = []
    yield made
    for r in made:
        r.close()


@pytest.fixture
def sidekicks() -> Iterator[list[Sidekick]]:
    """Sidekick processes started by the test; all are stopped after it."""
    started: list[Sidekick] = []
    yield started
    for s in started:
        s.stop()


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    """A temporary directory."""
    return tmp_path
