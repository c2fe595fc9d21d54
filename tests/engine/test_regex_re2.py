"""The ``regex`` operator runs on RE2 in POSIX mode, as libsinsp's does."""

from __future__ import annotations

import pytest

from lanner.engine.values import regex_matcher
from lanner.exceptions import FieldValueError


def test_whole_string_match() -> None:
    m = regex_matcher(r"/etc/[a-z]+\.conf")
    assert m("/etc/resolv.conf")
    assert not m("/etc/resolv.conf.bak")
    assert not m("x/etc/resolv.conf")


def test_catastrophic_pattern_is_linear() -> None:
    # with a backtracking engine this would not finish; RE2 answers at once
    m = regex_matcher(r"(a+)+$")
    assert not m("a" * 5000 + "b")
    assert m("a" * 5000)


@pytest.mark.parametrize("pattern", [r"\d+", r"(?<=a)b", "(unclosed"])
def test_patterns_outside_posix_re2_are_load_errors(pattern: str) -> None:
    with pytest.raises(FieldValueError, match="invalid regular expression"):
        regex_matcher(pattern)
