"""The public API: every name of ``lanner.__all__`` imports from the package root, and the
README's example runs as written against a real capture."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import lanner
from helpers import shared_fixture

ROOT = Path(__file__).resolve().parents[1]
CAPTURE = shared_fixture("captures", "curl_google.scap")


@pytest.mark.parametrize("name", lanner.__all__)
def test_every_public_name_imports_from_the_root(name: str) -> None:
    value = getattr(lanner, name)
    assert value is not None
    if name != "__version__":
        assert getattr(value, "__module__", "").startswith("lanner."), name


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = lanner.no_such_name  # type: ignore[attr-defined]


def test_import_lanner_is_cheap() -> None:
    """The root imports nothing but its error classes until a name is used (CLI start-up)."""
    code = "import sys, lanner; print(sorted(m for m in sys.modules if m.startswith('lanner.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['lanner.exceptions']"


def test_readme_example_detects_on_a_real_capture(tmp_path: Path) -> None:
    assert CAPTURE.is_file(), f"fixture capture missing: {CAPTURE}"
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "- rule: Curl opens a file\n"
        "  desc: t\n"
        "  condition: evt.type in (open, openat) and evt.dir = < and proc.name = curl\n"
        "  output: curl opened %fd.name\n"
        "  priority: NOTICE\n"
    )
    from lanner import Engine, Priority, read_capture, syscall_source

    engine = Engine([syscall_source()])
    outcome = engine.load_rules([rules])
    assert outcome.successful
    alerts = [a for ev in read_capture(CAPTURE) for a in engine.process(ev, "syscall")]
    assert alerts and all(a.priority is Priority.NOTICE for a in alerts)
    assert any("curl opened /etc/" in a.output for a in alerts)
    assert "Curl opens a file" in engine.summary()


def test_all_lists_exactly_the_exports() -> None:
    errors = lanner.exceptions.__all__
    assert sorted(lanner.__all__) == sorted(["__version__", *lanner._EXPORTS, *errors])
