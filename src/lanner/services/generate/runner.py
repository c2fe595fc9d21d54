"""Run actions and check that a running ``lanner run`` raised the matching alert."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from lanner.exceptions import ActionError, WebhookError
from lanner.services.generate.action import Action, Outcome, RunContext
from lanner.services.generate.alerts import AlertFeed

PASS, FAIL, SKIP, ERROR = "PASS", "FAIL", "SKIP", "ERROR"


@dataclass(slots=True)
class Result:
    """How one action fared: ``status`` is PASS, FAIL (no alert), SKIP or ERROR."""

    action: Action
    status: str
    detail: str = ""
    outcome: Outcome | None = None
    latency: float | None = None


def probe_event_types() -> frozenset[str] | None:
    """Event types Lanner's live probe captures, or None when the probe is not installed."""
    try:
        from lanner.sources.syscall.probe.syscalls import SUPPORTED
    except ImportError:
        return None
    return SUPPORTED


def skip_reason(
    action: Action, captured: frozenset[str] | None, ctx: RunContext | None = None
) -> str | None:
    """Why ``action`` is not run here (with ``ctx``: also when its target is not
    given), or None."""
    reason = action.unavailable()
    if reason:
        return reason
    if action.target and ctx is not None and action.target not in ctx.targets:
        from lanner.services.generate.cloud import TARGET_OPTIONS

        return f"no {TARGET_OPTIONS.get(action.target, action.target)} given"
    needs = action.needs
    if action.source == "syscall" and needs and captured and not any(n in captured for n in needs):
        return f"the live probe does not capture {'/'.join(action.needs)} events"
    return None


def perform(action: Action, ctx: RunContext) -> Result:
    """Run one action; an ERROR result when it could not do its behaviour."""
    try:
        return Result(action, PASS, outcome=action.run(ctx))
    except (ActionError, WebhookError) as exc:
        return Result(action, ERROR, str(exc))
    except Exception as exc:  # an action's bug or an unexpected host: report, go on
        return Result(action, ERROR, f"{type(exc).__name__}: {exc}")


def run_and_check(
    actions: Iterable[Action],
    feed: AlertFeed,
    ctx: RunContext,
    timeout: float = 15.0,
    captured: frozenset[str] | None = None,
    retries: int = 0,
) -> list[Result]:
    """Run every action, then wait (``timeout`` seconds after the last one at most) for
    each one's alert: rule name and the run's marker.

    ``retries``: run an action whose alert did not come again, up to this many times
    (the result says on which attempt it was detected).
    """
    results: list[Result] = []
    todo: list[int] = []
    for action in actions:
        reason = skip_reason(action, captured, ctx)
        todo.append(len(results))
        results.append(Result(action, SKIP, reason) if reason else Result(action, FAIL))
    todo = [i for i in todo if results[i].status != SKIP]
    for attempt in range(retries + 1):
        _attempt([results[i] for i in todo], feed, ctx, timeout, attempt)
        todo = [i for i in todo if results[i].status == FAIL]
        if not todo:
            break
    return results


def _attempt(
    results: list[Result], feed: AlertFeed, ctx: RunContext, timeout: float, attempt: int
) -> None:
    """Run the actions of ``results`` once and wait for their alerts; update them."""
    start = feed.mark()
    ran_at: list[float] = []
    for res in results:
        ran_at.append(time.monotonic())
        done = perform(res.action, ctx)
        res.status, res.detail, res.outcome = done.status, done.detail, done.outcome
    deadline = time.monotonic() + timeout
    for res, t0 in zip(results, ran_at, strict=True):
        if res.status != PASS or res.outcome is None:
            continue
        left = max(0.0, deadline - time.monotonic())
        alert = feed.wait_for(res.action.rule, res.outcome.marker, left, start)
        if alert is None:
            res.status = FAIL
            res.detail = f"no '{res.action.rule}' alert with {res.outcome.marker} in {timeout:g}s"
            if attempt:
                res.detail += f" (attempt {attempt + 1})"
        else:
            res.latency = time.monotonic() - t0
            res.detail = str(alert.get("priority", ""))
            if attempt:
                res.detail += f" (on attempt {attempt + 1})"


def table(results: list[Result]) -> str:
    """The pass/fail table, one line per action, and a totals line."""
    rows = [("ACTION", "RULE", "RESULT", "DETAIL")]
    for r in results:
        rows.append((r.action.name, r.action.rule, r.status, r.detail))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}".rstrip() for a, b, c, d in rows
    ]
    counts = {s: sum(r.status == s for r in results) for s in (PASS, FAIL, ERROR, SKIP)}
    lines.append(", ".join(f"{n} {s.lower()}" for s, n in counts.items()))
    return "\n".join(lines)


def failed(results: list[Result]) -> bool:
    """True when an action that ran was not detected, or could not run."""
    return any(r.status in (FAIL, ERROR) for r in results)


PROVED, NOT_TRIGGERED, NO_ACTION, CANNOT_RUN = (
    "proved",
    "not triggered",
    "no action",
    "cannot run here",
)


@dataclass(slots=True)
class RuleResult:
    """How one loaded rule fared: proved, not triggered, no action, cannot run here."""

    rule: str
    status: str
    detail: str = ""
    action: str = ""


def prove_rules(
    rules: list[str],
    actions: list[Action],
    rule_map: dict[str, list[str]],
    feed: AlertFeed,
    ctx: RunContext,
    timeout: float = 15.0,
    captured: frozenset[str] | None = None,
) -> list[RuleResult]:
    """Run every action that proves one of ``rules`` once, then report per rule."""
    from lanner.services.generate.registry import UNCOVERED, UNCOVERED_FALCO
    from lanner.services.generate.rule_map import proves

    uncovered = {u.rule: u.reason for u in [*UNCOVERED, *UNCOVERED_FALCO]}
    wanted = set(rules)
    chosen = [a for a in actions if wanted & set(proves(a, rule_map))]
    start = feed.mark()
    ran: list[tuple[Action, Outcome, float]] = []
    skipped: dict[str, str] = {}
    errors: dict[str, str] = {}
    for action in chosen:
        reason = skip_reason(action, captured, ctx)
        if reason:
            skipped[action.name] = reason
            continue
        done = perform(action, ctx)
        if done.status == PASS and done.outcome is not None:
            ran.append((action, done.outcome, time.monotonic()))
        else:
            errors[action.name] = done.detail
    deadline = time.monotonic() + timeout
    out = []
    for rule in rules:
        mine = [a for a in chosen if rule in proves(a, rule_map)]
        if not mine:
            why = uncovered.get(rule)
            out.append(RuleResult(rule, CANNOT_RUN, why) if why else RuleResult(rule, NO_ACTION))
            continue
        runs = [(a, o) for a, o, _ in ran if rule in proves(a, rule_map)]
        if not runs:
            why = "; ".join(f"{a.name}: {skipped.get(a.name) or errors.get(a.name)}" for a in mine)
            out.append(RuleResult(rule, CANNOT_RUN, why, mine[0].name))
            continue
        result = RuleResult(rule, NOT_TRIGGERED, "", runs[0][0].name)
        for action, outcome in runs:
            left = max(0.0, deadline - time.monotonic())
            alert = feed.wait_for(rule, outcome.marker, left, start)
            if alert is not None:
                fields = alert.get("output_fields") or {}
                name = fields.get("container.name")
                extra = f", container {name}" if name else ""
                if outcome.effects.get("simulated_container"):
                    extra += " (simulated)"
                result = RuleResult(
                    rule, PROVED, f"{alert.get('priority', '')}{extra}", action.name
                )
                break
        else:
            result.detail = f"no alert with {runs[0][1].marker} in {timeout:g}s"
        out.append(result)
    return out


def rule_table(results: list[RuleResult]) -> str:
    """The per-rule report and a totals line."""
    rows = [("RULE", "RESULT", "ACTION", "DETAIL")]
    rows += [(r.rule, r.status, r.action, r.detail) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}".rstrip() for a, b, c, d in rows
    ]
    counts = {
        s: sum(r.status == s for r in results)
        for s in (PROVED, NOT_TRIGGERED, NO_ACTION, CANNOT_RUN)
    }
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()))
    return "\n".join(lines)
