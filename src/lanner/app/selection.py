"""Which rules run and which syscalls the kernel captures, from the config and -D/-T/-t."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence

from lanner.app.config import Config
from lanner.engine.rules import Ruleset

log = logging.getLogger("lanner")


def wildcard(pattern: str) -> re.Pattern[str]:
    """Falco's rule-name wildcard: ``*`` stands for any text, nothing else is special."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def apply_selectors(ruleset: Ruleset, selectors: Iterable[dict[str, dict[str, str]]]) -> None:
    """Falco's ``rules:`` list, in order: each item enables or disables the rules whose
    name matches ``rule`` (``*`` wildcards) and then those having the tag ``tag`` (exact).

    It overrides the ``enabled`` of the rules files, as in Falco.
    """
    for item in selectors:
        ((op, sel),) = item.items()
        enable = op == "enable"
        if "rule" in sel:
            log.info("%s rules with name: %s", "Enabling" if enable else "Disabling", sel["rule"])
            name = wildcard(sel["rule"])
            for rule in ruleset:
                if name.fullmatch(rule.name):
                    rule.enabled = enable
        if "tag" in sel:
            log.info("%s rules with tag: %s", "Enabling" if enable else "Disabling", sel["tag"])
            for rule in ruleset:
                if sel["tag"] in rule.tags:
                    rule.enabled = enable


def select_rules(
    ruleset: Ruleset,
    cfg: Config,
    disable_substr: Sequence[str] = (),
    disable_tags: Sequence[str] = (),
    enable_tags: Sequence[str] = (),
) -> None:
    """Apply rule_matching, the ``rules:`` selectors, then the -D/-T/-t flags and priority."""
    ruleset.match_all = str(cfg.get("rule_matching", "first")) == "all"
    apply_selectors(ruleset, cfg.get("rules") or [])
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
    # imported here: a replay never loads the probe's package
    from lanner.sources.syscall.probe.filters import rule_outcomes

    return rule_outcomes(
        rule.expr for rule in ruleset if rule.source == "syscall" and ruleset.is_active(rule)
    )
