"""The engine facade: load rules for some sources, feed events, get alerts."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from lanner.engine.alert import Alert, default_hostname
from lanner.engine.append_output import OutputAppend
from lanner.engine.container_info import PrintOption
from lanner.engine.evalerrors import OUTPUT, EvalErrors
from lanner.engine.fields import SourceSpec
from lanner.engine.formatter import to_json_value
from lanner.engine.loader import LoadOutcome, RulesLoader
from lanner.engine.priority import Priority
from lanner.engine.rules import Rule, Ruleset

TIME_FIELDS = frozenset(
    {"evt.time", "evt.time.s", "evt.time.iso8601", "evt.datetime", "evt.datetime.s"}
)
"""Fields printed as time strings whose ``output_fields`` value is the event time in ns."""


class Engine:
    """Evaluates compiled rules against events of registered sources.

    >>> engine = Engine([my_source])
    >>> outcome = engine.load_rules(["rules.yaml"])
    >>> for alert in engine.process(event, "syscall"): print(alert.output)
    """

    def __init__(
        self,
        sources: Iterable[SourceSpec],
        *,
        hostname: str | None = None,
        iso8601: bool = False,
        append_output: Iterable[OutputAppend] = (),
        print_option: PrintOption | None = None,
    ) -> None:
        self.sources = {s.name: s for s in sources}
        self.append_output = list(append_output)
        self.print_option = print_option
        self.hostname = hostname or default_hostname()
        self.iso8601 = iso8601
        self.errors = EvalErrors()
        self.ruleset = Ruleset([], self.sources.values())
        self.counts_by_rule: Counter[str] = Counter()
        self.counts_by_priority: Counter[Priority] = Counter()

    # -- rules -------------------------------------------------------------------------

    def load_rules(
        self, paths: Iterable[str | Path] = (), contents: Iterable[tuple[str, str]] = ()
    ) -> LoadOutcome:
        """Load rules files/directories and (name, text) pairs.

        The ruleset is replaced only when every file loaded without errors, so a broken
        edit keeps the previous rules running; the outcome tells what went wrong.
        """
        loader = RulesLoader(
            self.sources.values(), self.append_output, print_option=self.print_option
        )
        for p in paths:
            loader.add_path(p)
        for name, text in contents:
            loader.add_content(name, text)
        outcome = loader.compile()
        if not outcome.successful:
            return outcome
        old = self.ruleset
        outcome.ruleset.min_priority = old.min_priority
        outcome.ruleset.match_all = old.match_all
        outcome.ruleset.reindex()
        self.ruleset = outcome.ruleset
        return outcome

    @property
    def ruleset(self) -> Ruleset:
        """The rules in force; a ruleset set here counts its failures in :attr:`errors`."""
        return self._ruleset

    @ruleset.setter
    def ruleset(self, ruleset: Ruleset) -> None:
        ruleset.use_errors(self.errors)
        self._ruleset = ruleset

    # -- events ------------------------------------------------------------------------

    def event_time(self, event: Any, source: str) -> int:
        """An event's timestamp in ns, or now when the source has none."""
        spec = self.sources.get(source)
        if spec is not None and spec.event_time_of is not None:
            ts = spec.event_time_of(event)
            if ts:
                return int(ts)
        return time.time_ns()

    def make_alert(self, rule: Rule, event: Any, source: str) -> Alert:
        """Render a rule's output for an event."""

        def field_failed(name: str, exc: Exception) -> None:
            self.errors(rule.name, exc, OUTPUT)

        message, fields = rule.template.render(event, field_failed)
        for key, extract in rule.extra_fields:
            try:
                fields[key] = to_json_value(extract(event))
            except Exception as exc:  # a broken extractor must not lose the alert
                fields[key] = None
                field_failed(key, exc)
        ts = self.event_time(event, source)
        # as libsinsp's JSON formatter: the time strings are the event time in ns there
        for name in TIME_FIELDS.intersection(fields):
            fields[name] = ts
        fields["evt.time.iso8601" if self.iso8601 else "evt.time"] = ts
        return Alert(
            rule=rule.name,
            priority=rule.priority,
            source=source,
            time_ns=ts,
            message=message,
            output_fields=fields,
            tags=sorted(rule.tags),
            hostname=self.hostname,
            iso8601=self.iso8601,
        )

    def process(self, event: Any, source: str) -> list[Alert]:
        """Alerts for one event (at most one unless the ruleset matches all)."""
        alerts = []
        for rule in self.ruleset.match(event, source):
            self.counts_by_rule[rule.name] += 1
            self.counts_by_priority[rule.priority] += 1
            try:
                alerts.append(self.make_alert(rule, event, source))
            except Exception as exc:  # the alert is kept, with what could be rendered
                self.errors(rule.name, exc, OUTPUT)
                alerts.append(self.fallback_alert(rule, source, exc))
        return alerts

    def fallback_alert(self, rule: Rule, source: str, exc: BaseException) -> Alert:
        """The alert of a match whose output could not be rendered: the rule still
        alerts, its message says why the fields are missing."""
        return Alert(
            rule=rule.name,
            priority=rule.priority,
            source=source,
            time_ns=time.time_ns(),
            message=f"{rule.name} (output not rendered: {type(exc).__name__})",
            output_fields={},
            tags=sorted(rule.tags),
            hostname=self.hostname,
            iso8601=self.iso8601,
        )

    def process_all(self, events: Iterable[Any], source: str) -> Iterator[Alert]:
        """Alerts for a stream of events of one source."""
        for event in events:
            yield from self.process(event, source)

    # -- summary -----------------------------------------------------------------------

    def summary(self) -> str:
        """Falco's end-of-run summary: total, counts by severity and by rule."""
        total = sum(self.counts_by_rule.values())
        lines = [f"Events detected: {total}", "Rule counts by severity:"]
        for prio in sorted(self.counts_by_priority):
            lines.append(f"   {prio.short_label.upper()}: {self.counts_by_priority[prio]}")
        lines.append("Triggered rules by rule name:")
        for rule in self.ruleset:
            n = self.counts_by_rule.get(rule.name, 0)
            if n:
                lines.append(f"   {rule.name}: {n}")
        return "\n".join(lines) + "\n"
