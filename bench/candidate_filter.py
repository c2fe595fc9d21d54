"""How many events reach the rules with the per-type index alone vs with the candidate
conditions derived from the rules (lanner.engine.candidates), on the replay bench.

Builds the 1.07 M-event capture of bench/scap_replay.py (curl_google.scap's events
repeated), loads the rules files (default: the three upstream syscall files), derives the
candidate conditions over the fields the syscall source evaluates natively
(lanner.sources.syscall.candidate_fields), then replays the capture once with events of
types no rule matches rejected from their header (what ``lanner run -e`` does today) and
for each event that reaches the rules evaluates both the rules (every matching rule) and
the candidate condition with the Python reference evaluator. Prints the counts, the
derivation time next to the load time, the rules' own evaluation time over the events
that reach them today vs over those that pass the filter, and fails if an event some
rule matches was rejected. The per-type matchers are built on the small capture first,
so their generation is not timed.

Usage: python bench/candidate_filter.py [--repeat 700] [--rules FILE ...]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from scap_replay import DEFAULT_CAPTURE, build

from lanner.engine.candidates import ReferenceFilter, derive_candidates, size
from lanner.engine.engine import Engine
from lanner.sources.syscall import read_capture, syscall_source
from lanner.sources.syscall.candidate_fields import CANDIDATE_FIELDS

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
        reached = passed = matched = lost = 0
        t_rules_all = t_rules_passed = 0.0
        clock = time.perf_counter
        for e in read_capture(path, event_types=types):
            reached += 1
            ok = accepts(e)
            t0 = clock()
            hits = match(e, "syscall")
            dt = clock() - t0
            t_rules_all += dt
            if ok:
                passed += 1
                t_rules_passed += dt
            if hits:
                matched += 1
                lost += not ok
        print(f"events reaching the rules, per-type index only: {reached:,} ({reached / n:.2%})")
        print(
            f"events reaching the rules, with candidate conditions: {passed:,} "
            f"({passed / n:.2%}); removed {reached - passed:,} "
            f"({(reached - passed) / max(reached, 1):.1%} of those the index keeps)"
        )
        print(f"events some rule matches: {matched:,}; rejected by the filter: {lost}")
        print(
            f"rules' evaluation time: {t_rules_all:.3f} s over the index's events, "
            f"{t_rules_passed:.3f} s over the filter's"
        )
        if lost:
            raise SystemExit("the candidate filter rejected events a rule matches")
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
