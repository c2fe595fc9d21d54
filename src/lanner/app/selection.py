"""Which rules run and which syscalls the kernel captures, from the config and -D/-T/-t."""

from __future__ import annotations

from collections.abc import Sequence

from lanner.app.config import Config
from lanner.engine.rules import Ruleset
from lanner.sources.syscall.probe.filters import rule_outcomes


def select_rules(
    ruleset: Ruleset,
    cfg: Config,
    disable_substr: Sequence[str] = (),
    disable_tags: Sequence[str] = (),
    enable_tags: Sequence[str] = (),
) -> None:
    """Apply rule_matching, priority and the -D/-T/-t flags to a ruleset."""
    ruleset.match_all = str(cfg.get("rule_matching", "first")) == "all"
    for sub in disable_substr:
        ruleset.set_enabled(False, substring=sub)
    if disable_tags:
        ruleset.set_enabled(False, tags=disable_tags)
    if enable_tags:
        wanted = set(enable_tags)
        for rule in ruleset:
            rule.enabled = rule.enabled and not wanted.isdisjoint(rule.tags)
    ruleset.set_min_priority(cfg.priority())


def syscall_event_types(ruleset: Ruleset, cfg: Config) -> tuple[set[str] | None, bool]:
    """What the kernel should capture: (event types or None for all, add the base set).

    As Falco's base_syscalls: the types of the active syscall rules, plus ``custom_set``
    (``!name`` removes one); the state engine's base set is added unless a custom set is
    given without ``repair``; ``all`` captures everything.
    """
    if cfg.boolean("base_syscalls.all"):
        return None, True
    types: set[str] = set()
    for rule in ruleset:
        if rule.source != "syscall" or not ruleset.is_active(rule):
            continue
        if rule.event_types is None:
            return None, True
        types |= rule.event_types
    custom = cfg.string_list("base_syscalls.custom_set")
    for name in custom:
        if name.startswith("!"):
            types.discard(name[1:])
        else:
            types.add(name)
    return types, not custom or cfg.boolean("base_syscalls.repair")


def syscall_outcomes(ruleset: Ruleset) -> dict[str, int] | None:
    """Which outcomes (success, failure) of each syscall the active rules can match, for
    the probe's kernel-side filter (``lanner.sources.syscall.probe.filters``)."""
    return rule_outcomes(
        rule.expr for rule in ruleset if rule.source == "syscall" and ruleset.is_active(rule)
    )
