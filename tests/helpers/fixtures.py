"""The shared fixtures (upstream rules files, real captures) in ``../shared/fixtures``,
next to the checkout. A test that needs one fails with a clear message when it is
missing: it never collects zero cases or skips."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout
SHARED_FIXTURES = ROOT.parent / "shared" / "fixtures"


class MissingFixture(FileNotFoundError):
    """A shared fixture the tests need is not there."""


def shared_fixture(*parts: str) -> Path:
    """``../shared/fixtures/PARTS``; MissingFixture naming the path when it is absent."""
    path = SHARED_FIXTURES.joinpath(*parts)
    if not path.exists():
        raise MissingFixture(
            f"shared fixture missing: {path}\n"
            f"The tests read upstream rules and real captures from {SHARED_FIXTURES}; "
            "work in a git worktree that is a sibling of shared/ (see CONTRIBUTING.md)."
        )
    return path
