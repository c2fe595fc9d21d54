"""Runs rule test specs and compares the alerts with what each test expects."""

from __future__ import annotations

import importlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lanner.app.ruletest.mirror import mirror_source
from lanner.app.ruletest.spec import DEFAULT_RULES, Expectation, Spec, TestCase
from lanner.engine.alert import Alert
from lanner.engine.engine import Engine
from lanner.engine.fields import SourceSpec
from lanner.rules import default_rules_files

# source name -> (module, factory) of the real sources whose fields specs mirror
REAL_SOURCES = {
    "syscall": ("lanner.sources.syscall", "syscall_source"),
    "k8s_audit": ("lanner.sources.k8s_audit", "k8s_audit_source"),
    "aws_cloudtrail": ("lanner.sources.cloudtrail", "cloudtrail_source"),
    "json": ("lanner.sources.json_source", "json_source"),
}


def real_sources() -> list[SourceSpec]:
    """The sources this installation provides."""
    out = []
    for module, factory in REAL_SOURCES.values():
        try:
            out.append(getattr(importlib.import_module(module), factory)())
        except (ImportError, AttributeError):
            continue
    return out


@dataclass(slots=True)
class CaseResult:
    """The outcome of one test case."""

    spec: Path
    case: TestCase
    passed: bool
    problems: list[str] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    seconds: float = 0.0

    def diff(self) -> str:
        """What was expected and what fired, for a failed case."""
        lines = [f"  {p}" for p in self.problems]
        lines.append("  alerts raised:" if self.alerts else "  alerts raised: none")
        lines.extend(f"    - {a.rule} ({a.priority.label}): {a.message}" for a in self.alerts)
        return "\n".join(lines)


def _check(exp: Expectation, alerts: list[Alert]) -> str | None:
    hits = [
        a
        for a in alerts
        if a.rule == exp.rule
        and (exp.priority is None or a.priority.label.lower() == str(exp.priority).lower())
        and all(s in a.output for s in exp.output)
    ]
    if exp.count is not None and len(hits) != exp.count:
        return f"expected {exp.count} alert(s) of '{exp.rule}', got {len(hits)}"
    if exp.count is None and not hits:
        detail = ""
        if exp.priority:
            detail += f" with priority {exp.priority}"
        if exp.output:
            detail += f" with output containing {exp.output}"
        return f"expected an alert of '{exp.rule}'{detail}, got none"
    return None


class SpecRunner:
    """Loads each distinct rules set once and runs cases against it."""

    def __init__(self, sources: Iterable[SourceSpec] | None = None) -> None:
        self.sources = list(sources) if sources is not None else real_sources()
        self._engines: dict[tuple[tuple[str, ...], bool, bool], Engine] = {}
        self.load_errors: list[str] = []

    def _rules(self, spec: Spec) -> list[str]:
        out: list[str] = []
        for r in spec.rules:
            out.extend(str(p) for p in default_rules_files()) if r == DEFAULT_RULES else out.append(
                r
            )
        return out

    def engine(self, spec: Spec, mirrored: bool) -> Engine | None:
        """A loaded engine for the spec's rules (mirror sources for inline events)."""
        rules = tuple(self._rules(spec))
        key = (rules, mirrored, spec.match_all)
        if key not in self._engines:
            sources = [mirror_source(s) for s in self.sources] if mirrored else self.sources
            engine = Engine(sources, hostname="lanner-test")
            outcome = engine.load_rules(rules)
            if not outcome.successful:
                for result in outcome.results:
                    if not result.successful:
                        self.load_errors.append(result.as_text())
                return None
            engine.ruleset.match_all = spec.match_all
            self._engines[key] = engine
        return self._engines[key]

    def run_case(self, spec: Spec, case: TestCase) -> CaseResult:
        """Run one case."""
        start = time.perf_counter()
        engine = self.engine(spec, mirrored=case.capture is None)
        if engine is None:
            return CaseResult(spec.path, case, False, ["the rules did not load (see above)"])
        alerts: list[Alert] = []
        if case.capture is not None:
            from lanner.app.inputs import open_replay

            replay = open_replay(case.capture)
            events = replay.events
            if replay.capture_path is not None:  # a .scap file: read by the syscall pipeline
                from lanner.app.replay_progress import ScapReplay

                events = iter(ScapReplay(replay.capture_path, None))
            assert events is not None
            for source, event in events:
                alerts.extend(engine.process(event, source))
        else:
            for event in case.events:
                alerts.extend(engine.process(event, case.source))
        problems: list[str] = []
        if case.expect_none and alerts:
            problems.append(f"expected no alert, got {len(alerts)}")
        for exp in case.expect:
            problem = _check(exp, alerts)
            if problem:
                problems.append(problem)
        return CaseResult(
            spec.path, case, not problems, problems, alerts, time.perf_counter() - start
        )

    def run(self, specs: Iterable[Spec]) -> list[CaseResult]:
        """Run every case of every spec."""
        return [self.run_case(spec, case) for spec in specs for case in spec.tests]
