"""Exceptions raised while one event is evaluated or rendered: counted, logged, survived.

A field getter, a condition or an output template that raises on one event must not stop
detection: the event loop goes on, the failure is counted per rule and stage, and it is
logged once per rule and stage (with the exception), so a hostile event cannot flood the
log either.
"""

from __future__ import annotations

import logging
from collections import Counter

log = logging.getLogger("lanner.engine")

CONDITION = "condition"
OUTPUT = "output"


class EvalErrors:
    """Counts of per-event failures by (rule, stage); the first of each is logged."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def __call__(self, rule: str, exc: BaseException, stage: str = CONDITION) -> None:
        key = (rule, stage)
        self.counts[key] += 1
        if self.counts[key] == 1:
            log.error(
                "rule %r: %s raised %s: %s (event skipped for this rule; counted in "
                "lanner_rule_errors, logged once per rule)",
                rule,
                stage,
                type(exc).__name__,
                exc,
            )

    @property
    def total(self) -> int:
        """All failures counted so far."""
        return sum(self.counts.values())
