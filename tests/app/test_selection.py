"""Which syscalls the probe captures, as Falco's base_syscalls, and rule selection."""

from __future__ import annotations

import pytest

from lanner.app.config import load_config
from lanner.app.inputs import syscall_capture_source
from lanner.app.selection import select_rules, syscall_event_types
from lanner.engine.engine import Engine
from lanner.engine.rules import Ruleset

from .helpers import FALCO_RULES

found = syscall_capture_source()
if found is None:
    pytest.fail(
        "the syscall source does not import (its C extension is not built): run scripts/setup.sh",
        pytrace=False,
    )


def ruleset(*overrides: str) -> Ruleset:
    engine = Engine([found[0]])  # type: ignore[index]
    assert engine.load_rules([FALCO_RULES]).successful
    select_rules(engine.ruleset, load_config(None, overrides))
    return engine.ruleset


def test_types_of_the_active_rules_plus_the_base_set() -> None:
    cfg = load_config(None)
    types, base = syscall_event_types(ruleset(), cfg)
    assert types is not None and {"execve", "openat", "connect"} <= types
    assert base is True
    # a higher priority threshold leaves fewer rules, so fewer types
    fewer, _ = syscall_event_types(ruleset("priority=critical"), cfg)
    assert fewer is not None and fewer < types


def test_custom_set_adds_removes_and_replaces_the_base_set() -> None:
    rs = ruleset()
    cfg = load_config(None, ["base_syscalls.custom_set=[mprotect, '!connect']"])
    types, base = syscall_event_types(rs, cfg)
    assert types is not None and "mprotect" in types and "connect" not in types
    assert base is False  # a custom set without repair: no state-engine base set
    cfg = load_config(None, ["base_syscalls.custom_set=[mprotect]", "base_syscalls.repair=true"])
    assert syscall_event_types(rs, cfg)[1] is True
    assert syscall_event_types(rs, load_config(None, ["base_syscalls.all=true"])) == (None, True)


def test_select_rules_flags() -> None:
    cfg = load_config(None, ["rule_matching=all", "priority=warning"])
    engine = Engine([found[0]])  # type: ignore[index]
    engine.load_rules([FALCO_RULES])
    rs = engine.ruleset
    select_rules(rs, cfg, disable_substr=["Netcat"], enable_tags=["filesystem", "process"])
    assert rs.match_all is True
    active = [r.name for r in rs if rs.is_active(r)]
    assert active and not any("Netcat" in n for n in active)
    assert all(not {"filesystem", "process"}.isdisjoint(rs.get(n).tags) for n in active)
