"""``lanner generate suite``: YAML scenarios of steps (actions) with the alerts each
scenario must raise, as the upstream event-generator's suites, runnable in CI.

```yaml
- scenario: training lab
  steps: [container_terminal_shell, container_netcat_rce]
  expect:
    - rule: Terminal shell in container
    - rule: Netcat Remote Code Execution in Container
  forbid: [Write below etc]          # optional: rules that must not fire for these steps
```

An expected alert must carry the marker of one of the scenario's steps, so other activity
never counts; a forbidden one fails the scenario if it carries one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lanner.services.generate.action import Action, Outcome, RunContext
from lanner.services.generate.alerts import AlertFeed, alert_matches
from lanner.services.generate.runner import PASS, perform, skip_reason


class SuiteError(ValueError):
    """A suite file that is not a list of scenarios; names the file and item."""


@dataclass(slots=True)
class Scenario:
    """One scenario: its steps (action names), the rules it expects and forbids."""

    name: str
    steps: list[str]
    expect: list[str]
    forbid: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ScenarioResult:
    """PASS, FAIL (an expected alert missing or a forbidden one seen), SKIP or ERROR."""

    scenario: Scenario
    status: str
    detail: str = ""


def load_suite(path: str | Path, actions: dict[str, Action]) -> list[Scenario]:
    """The scenarios of a file; an unknown action or a malformed item is a SuiteError."""
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SuiteError(f"{path}: {exc}") from None
    if not isinstance(doc, list):
        raise SuiteError(f"{path}: expected a list of scenarios")
    out = []
    for i, item in enumerate(doc, 1):
        where = f"{path}: scenario {i}"
        if not isinstance(item, dict) or not item.get("scenario") or not item.get("steps"):
            raise SuiteError(f"{where}: needs scenario (a name) and steps")
        unknown = sorted(set(item) - {"scenario", "steps", "expect", "forbid"})
        if unknown:
            raise SuiteError(f"{where}: unknown key(s) {unknown}")
        steps = [str(s) for s in item["steps"]]
        missing = [s for s in steps if s not in actions]
        if missing:
            raise SuiteError(f"{where}: no action named {missing} (lanner generate list)")
        expect = [
            str(e["rule"]) if isinstance(e, dict) else str(e) for e in item.get("expect") or []
        ]
        out.append(
            Scenario(
                str(item["scenario"]), steps, expect, [str(f) for f in item.get("forbid") or []]
            )
        )
    return out


def run_suite(
    scenarios: list[Scenario],
    actions: dict[str, Action],
    feed: AlertFeed,
    ctx: RunContext,
    timeout: float = 15.0,
    captured: frozenset[str] | None = None,
) -> list[ScenarioResult]:
    """Run each scenario's steps, then check its expected and forbidden alerts."""
    results = []
    for sc in scenarios:
        reasons = [r for s in sc.steps if (r := skip_reason(actions[s], captured, ctx))]
        if reasons:
            results.append(ScenarioResult(sc, "SKIP", "; ".join(reasons)))
            continue
        start = feed.mark()
        outcomes: list[Outcome] = []
        error = ""
        for step in sc.steps:
            done = perform(actions[step], ctx)
            if done.status != PASS or done.outcome is None:
                error = f"{step}: {done.detail}"
                break
            outcomes.append(done.outcome)
        if error:
            results.append(ScenarioResult(sc, "ERROR", error))
            continue
        deadline = time.monotonic() + timeout
        missing = []
        for rule in sc.expect:
            found = None
            for out in outcomes:
                found = feed.wait_for(
                    rule, out.marker, max(0.0, deadline - time.monotonic()), start
                )
                if found is not None:
                    break
            if found is None:
                missing.append(rule)
        markers = [o.marker for o in outcomes]
        seen = sorted(
            {
                a["rule"]
                for a in feed.alerts[start:]
                if a.get("rule") in sc.forbid
                and any(alert_matches(a, a["rule"], m) for m in markers)
            }
        )
        if missing or seen:
            parts = [f"missing {missing}"] if missing else []
            parts += [f"forbidden {seen}"] if seen else []
            results.append(ScenarioResult(sc, "FAIL", "; ".join(parts)))
        else:
            results.append(ScenarioResult(sc, "PASS", f"{len(sc.expect)} alert(s)"))
    return results
