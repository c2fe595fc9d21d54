"""The shared test helpers fail loudly: a missing ../shared fixture or a missing program
that setup.sh installs is a failure naming what to do, never a skip."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import helpers
from helpers import fixtures

HERE = Path(__file__).resolve().parent


def test_a_present_fixture_is_its_path() -> None:
    path = helpers.shared_fixture("rules", "falco_rules.yaml")
    assert path.is_file() and path.parent.parent == helpers.SHARED_FIXTURES


def test_a_missing_fixture_is_an_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fixtures, "SHARED_FIXTURES", Path("/nonexistent/shared/fixtures"))
    with pytest.raises(helpers.MissingFixture, match="/nonexistent/shared/fixtures/rules"):
        helpers.shared_fixture("rules")


def test_a_module_needing_a_missing_fixture_fails_collection(tmp_path: Path) -> None:
    """As pytest sees it: the module errors at collection with the message, no skip."""
    (tmp_path / "conftest.py").write_text(
        f"import sys\nsys.path.insert(0, {str(HERE)!r})\n"
        "from helpers import fixtures\n"
        "from pathlib import Path\n"
        "fixtures.SHARED_FIXTURES = Path('/nonexistent/shared/fixtures')\n"
    )
    (tmp_path / "test_needs_rules.py").write_text(
        "from helpers import shared_fixture\n"
        "RULES = shared_fixture('rules')\n"
        "def test_rules():\n    assert RULES\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert out.returncode != 0
    assert "shared fixture missing: /nonexistent/shared/fixtures/rules" in out.stdout
    assert "skipped" not in out.stdout


def test_a_missing_program_fails_the_test_naming_its_package() -> None:
    with pytest.raises(pytest.fail.Exception, match="Debian package nopkg"):
        helpers.require_tool("no-such-program-lanner", "nopkg")
