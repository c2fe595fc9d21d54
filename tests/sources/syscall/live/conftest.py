"""Fixtures for the live probe tests: root, kernel BTF and the built probe, else skip."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from live_testutil import Collector, probe_skip_reason, run_and_collect

from lanner.sources.syscall.event import Event
from lanner.sources.syscall.pipeline import SyscallPipeline
from lanner.sources.syscall.probe import LiveCapture


@pytest.fixture(scope="session")
def live_ready() -> None:
    """Skip unless a probe can be loaded here."""
    reason = probe_skip_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def capture(live_ready: None) -> Iterator[SyscallPipeline]:
    """One live capture (all supported event types, state on) shared by a module."""
    with SyscallPipeline(LiveCapture()) as cap:
        yield cap


@pytest.fixture
def collect(capture: SyscallPipeline) -> Collector:
    """``collect(argv, **popen_kw)`` -> (process, its events)."""

    def run(argv: list[str], **kw: Any) -> tuple[subprocess.Popen[bytes], list[Event]]:
        return run_and_collect(capture, argv, **kw)

    return run
