"""How many events reach the rules with the per-type index alone vs with the candidate
conditions derived from the rules (lanner.engine.candidates), on the replay bench.

Builds the 1.07 M-event capture of bench/scap_replay.py (curl_google.scap's events
repeated), loads the rules files (default: the three upstream syscall files), derives the
candidate conditions over the fields the syscall source evaluates natively
(lanner.sources.syscall.candidate_fields), then replays the capture once with events of
types no rule matches rejected from their header (what ``lanner run -e`` does today) and
for each event that reaches the rules evaluates both the rules (every matching rule) and
the candidate condition with the Python reference evaluator. Prints the counts, the
derivation time next to the load time, and the CPU time the rules (the per-type
matchers) add to the replay when they see the events the index keeps vs only those that
pass the filter (three more replays: none, all, the filter's; the filter's own cost is
not included, it is to run natively); fails if an event some rule matches was rejected.
The per-type matchers are built on the small capture first, so their generation is not
timed. Last, the replay as ``lanner run -e`` runs it (app.replay_progress.ScapReplay and
Engine.process, every matching rule) without and with the native event filter
(candidate_fields.event_filter), alternated ``--runs`` times, CPU of this process; fails
if the alert counts differ.

Usage: python bench/candidate_filter.py [--repeat 700] [--rules FILE ...]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scap_replay import DEFAULT_CAPTURE, build

from lanner.app.replay_progress import ScapReplay
from lanner.engine.candidates import ReferenceFilter, derive_candidates, size
from lanner.engine.engine import Engine
from lanner.sources.syscall import read_capture, syscall_source
from lanner.sources.syscall.candidate_fields import CANDIDATE_FIELDS, event_filter

ROOT = Path(__file__).resolve().parents[1]
UPSTREAM = ROOT.parent / "shared" / "fixtures" / "rules"
DEFAULT_RULES = [
    UPSTREAM / "falco_rules.yaml",
    UPSTREAM / "falco-incubating_rules.yaml",
    UPSTREAM / "falco-sandbox_rules.yaml",
]


def main() -> int:
    """Run the measurement and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=700)
    ap.add_argument("--capture", type=Path, default=DEFAULT_CAPTURE)
    ap.add_argument("--rules", type=Path, action="append", default=[])
    ap.add_argument("--runs", type=int, default=3, help="alternated runs of the replay pair")
    args = ap.parse_args()
    rules = args.rules or DEFAULT_RULES
    for p in [args.capture, *rules]:
        if not p.exists():
            raise SystemExit(f"missing input: {p}")

    spec = syscall_source()
    engine = Engine([spec])
    t0 = time.perf_counter()
    outcome = engine.load_rules(rules)
    t_load = time.perf_counter() - t0
    if not outcome.successful:
        raise SystemExit(f"rules did not load: {[r.as_text() for r in outcome.results]}")
    engine.ruleset.match_all = True
    t0 = time.perf_counter()
    cands = derive_candidates(engine.ruleset, spec, CANDIDATE_FIELDS)
    t_derive = time.perf_counter() - t0
    ref = ReferenceFilter(cands, spec)
    types = {t for t in cands.by_type if t is not None}
    unfiltered = sorted(t for t, f in cands.by_type.items() if f is True)
    atoms = sum(size(f) for f in cands.by_type.values())
    print(f"rules: {', '.join(p.name for p in rules)}")
    print(f"load+compile {t_load:.3f} s; candidate derivation {t_derive:.3f} s")
    print(f"{len(types)} event types with rules, {atoms} atoms; unfiltered types: {unfiltered}")
    for t in unfiltered:
        print(f"  {t}: kept by {cands.unfiltered_by.get(t)}")

    tmpdir = tempfile.mkdtemp(prefix="lanner-bench-")
    try:
        path = Path(tmpdir) / "big.scap"
        n = build(args.capture, args.repeat, path)
        print(f"capture: {n:,} events (repeat {args.repeat})")
        match = engine.ruleset.match
        accepts = ref.accepts
        for e in read_capture(args.capture):  # builds the per-type matchers before timing
            match(e, "syscall")
        n_reached = matched = lost = 0
        passing: set[int] = set()
        for e in read_capture(path, event_types=types):
            n_reached += 1
            ok = accepts(e)
            if ok:
                passing.add(e.num)
            if match(e, "syscall"):
                matched += 1
                lost += not ok
        n_passed = len(passing)
        print(f"events reaching the rules, per-type index: {n_reached:,} ({n_reached / n:.2%})")
        print(
            f"events reaching the rules, with candidate conditions: {n_passed:,} "
            f"({n_passed / n:.2%}); removed {n_reached - n_passed:,} "
            f"({(n_reached - n_passed) / max(n_reached, 1):.1%} of those the index keeps)"
        )
        print(f"events some rule matches: {matched:,}; rejected by the filter: {lost}")

        def replay(to_rules: Callable[[Any], bool] | None) -> float:
            c0 = time.process_time()
            for e in read_capture(path, event_types=types):
                if to_rules is not None and to_rules(e):
                    match(e, "syscall")
            return time.process_time() - c0

        base = replay(None)
        every = replay(lambda e: True)
        only = replay(lambda e: e.num in passing)
        print(f"CPU of the replay without rules {base:.3f} s; the rules add {every - base:.3f} s")
        print(f"on the index's events, {only - base:.3f} s on the filter's (one run each)")

        # what `lanner run -e` does now (ScapReplay + Engine.process), without and with the
        # native event filter, alternated; CPU of this process
        native = event_filter(cands, spec)

        def lanner_replay(with_filter: bool) -> tuple[float, int, int]:
            engine.counts_by_rule.clear()
            scap = ScapReplay(path, types, native if with_filter else None)
            process = engine.process
            c0 = time.process_time()
            alerts = sum(len(process(e, s)) for s, e in scap)
            return time.process_time() - c0, scap.events, alerts

        runs: dict[bool, list[float]] = {False: [], True: []}
        seen: dict[bool, tuple[int, int]] = {}
        for _ in range(args.runs):
            for flag in (False, True):
                dt, evaluated, alerts = lanner_replay(flag)
                runs[flag].append(dt)
                seen[flag] = (evaluated, alerts)
        if seen[False][1] != seen[True][1]:
            raise SystemExit(f"alerts differ: {seen[False][1]} without, {seen[True][1]} with")
        for flag in (False, True):
            label = "with the native candidate filter" if flag else "per-type index only"
            cpu_times = ", ".join(f"{t:.2f}" for t in runs[flag])
            print(
                f"replay as lanner run -e, {label}: {seen[flag][0]:,} events to the rules, "
                f"{seen[flag][1]} alerts, CPU {cpu_times} s (min {min(runs[flag]):.2f} s, "
                f"{n / min(runs[flag]):,.0f} events/s)"
            )
        if lost:
            raise SystemExit("the candidate filter rejected events a rule matches")
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
