"""Test-suite root: tests/ is on sys.path, so ``helpers`` (shared by every suite) and each
suite's own helper modules import from every test.

It also marks the slow tests: ``pytest -m "not slow"`` is the quick run while you work,
``pytest`` (CI, ``make test``) runs everything. Slow are the suites that start live
captures, real servers, clusters or a browser, the fuzz and sanitizer runs, tests marked
``servers``, and the modules listed in SLOW_MODULES (measured with ``--durations``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

# whole directories (relative to tests/)
SLOW_DIRS = (
    "e2e/",
    "deploy/",
    "services/",
    "sources/syscall/live/",
    "sources/syscall/native_asan/",
    "sources/syscall/scap_writer/",
    "sources/syscall/containers/",
    "app/",  # most start lanner run or its servers
)
# words in a module's name
SLOW_WORDS = ("fuzz", "live", "asan", "throughput")
# single modules (relative to tests/), each several seconds or more
SLOW_MODULES = frozenset(
    {
        "engine/test_candidates.py",  # random conditions against the native filter
        "sources/syscall/test_syscall_candidate_events.py",  # upstream rules on captures
        "test_helpers.py",  # runs pytest in a subprocess
    }
)


def is_slow(item: pytest.Item) -> bool:
    """Whether a collected test belongs to the slow set."""
    rel = Path(item.path).resolve().relative_to(TESTS).as_posix()
    return (
        rel.startswith(SLOW_DIRS)
        or rel in SLOW_MODULES
        or any(word in Path(rel).stem for word in SLOW_WORDS)
        or item.get_closest_marker("servers") is not None
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if is_slow(item):
            item.add_marker(pytest.mark.slow)
