"""One exceptions module: every error Lanner raises on purpose is a ``LannerError``, all of
them import from ``lanner.exceptions`` and from the root, and the errors a user meets first
(a bad rules file, a bad condition, a file that is not a capture, a bad config value) are
caught by ``except LannerError`` and say where."""

from __future__ import annotations

from pathlib import Path

import pytest

import lanner
from lanner import exceptions
from lanner.engine.collector import Collector
from lanner.engine.parser import parse_condition
from lanner.engine.reader import RulesReader


@pytest.mark.parametrize("name", [n for n in exceptions.__all__ if n != "ErrorLocation"])
def test_every_error_derives_from_lanner_error_and_is_exported_at_the_root(name: str) -> None:
    cls = getattr(exceptions, name)
    assert issubclass(cls, exceptions.LannerError)
    assert getattr(lanner, name) is cls
    assert cls.__module__ == "lanner.exceptions"


def test_a_rules_file_that_is_not_yaml_is_a_load_error_with_its_location() -> None:
    with pytest.raises(lanner.LannerError) as info:
        RulesReader(Collector(), {"syscall"}, lambda diag: None).read(
            "rules.yaml", "- rule: r\n  condition: [unclosed\n"
        )
    err = info.value
    assert isinstance(err, lanner.LoadError)
    assert err.location is not None
    assert err.location.file == "rules.yaml" and err.location.line == 3
    assert str(err.location) == f"rules.yaml:3:{err.location.column}"


def test_a_condition_that_does_not_parse_says_where() -> None:
    with pytest.raises(lanner.LannerError) as info:
        parse_condition("proc.name = bash and (")
    assert isinstance(info.value, lanner.ConditionSyntaxError)
    assert info.value.pos.col > 1


def test_a_file_that_is_not_a_capture_is_a_scap_error(tmp_path: Path) -> None:
    bogus = tmp_path / "not.scap"
    bogus.write_bytes(b"this is not a capture file at all" * 4)
    with pytest.raises(lanner.LannerError) as info:
        list(lanner.read_capture(bogus))
    assert isinstance(info.value, lanner.ScapError)


def test_config_errors_are_also_value_errors_and_name_their_key() -> None:
    err = lanner.ConfigError("outputs.rate", "expected a number, got 'x'")
    assert isinstance(err, ValueError)
    assert str(err) == "outputs.rate: expected a number, got 'x'"
    assert err.path == "outputs.rate"
