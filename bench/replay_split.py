"""Where a ``lanner run -e`` replay spends its CPU, in one process, part by part.

Loads the rules files (default: the three upstream syscall files), derives their candidate
conditions, then replays CAPTURE (e.g. the 1.07 M-event file ``bench/scap_replay.py
--keep`` writes) through ``ScapReplay`` as ``lanner run -e`` does, best of ``--repeat``
passes each:

* walk only: the C block walk, no event built;
* walk, state types built: every event the state engine needs made a record, no state;
* state only: those events applied to the state engine, nothing handed out;
* wanted, no filter: plus the events of the rules' types handed to Python;
* wanted + filter: the candidate conditions applied in the walk (what ``lanner run -e``
  does);
* + rules: those events evaluated by the engine;

Every state handler is native, so there is no Python handler left to time. Rates are
per CPU-second of this process; the machine is shared, so compare parts of one run, not
runs.

Usage: python bench/replay_split.py CAPTURE [--rules FILE ...] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lanner.app.replay_progress import ScapReplay
from lanner.engine.candidates import derive_candidates
from lanner.engine.engine import Engine
from lanner.sources.syscall import syscall_source
from lanner.sources.syscall.candidate_fields import CANDIDATE_FIELDS, event_filter
from lanner.sources.syscall.pipeline import STATE_TYPES
from lanner.sources.syscall.scap import ScapReader

RULES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "rules"
UPSTREAM = [RULES / n for n in ("falco_rules.yaml", "falco-incubating_rules.yaml",
                                "falco-sandbox_rules.yaml")]  # fmt: skip


def best(label: str, fn: Callable[[], int], repeat: int) -> None:
    """Run ``fn`` ``repeat`` times; print the least CPU time and what it returned."""
    cpu = float("inf")
    n = 0
    for _ in range(repeat):
        c0 = time.process_time()
        n = fn()
        cpu = min(cpu, time.process_time() - c0)
    print(f"{label:<32} {cpu:7.3f} s  ({n:,})")


def main() -> int:
    """Print one line per part."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("capture", type=Path)
    ap.add_argument("--rules", type=Path, action="append", default=[])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    path = args.capture
    c0 = time.process_time()
    engine = Engine([syscall_source()])
    if not engine.load_rules(args.rules or UPSTREAM).successful:
        raise SystemExit("the rules did not load")
    print(f"{'load + compile the rules':<32} {time.process_time() - c0:7.3f} s")
    spec = engine.sources["syscall"]
    c0 = time.process_time()
    cands = event_filter(derive_candidates(engine.ruleset, spec, CANDIDATE_FIELDS), spec)
    print(f"{'derive the candidate conditions':<32} {time.process_time() - c0:7.3f} s")
    types: set[str] = set()
    for rule in engine.ruleset:
        if rule.source == "syscall" and engine.ruleset.is_active(rule):
            types |= rule.event_types or spec.event_types
    process = engine.process
    r = args.repeat
    best("walk only", lambda: sum(1 for _ in ScapReader(path, frozenset()).events()), r)
    best(
        "walk, state types built", lambda: sum(1 for _ in ScapReader(path, STATE_TYPES).events()), r
    )
    best("state only", lambda: sum(1 for _ in ScapReplay(path, [])), r)
    best("wanted, no filter", lambda: sum(1 for _ in ScapReplay(path, types)), r)
    best("wanted + filter", lambda: sum(1 for _ in ScapReplay(path, types, cands)), r)
    best(
        "wanted + filter + rules",
        lambda: sum(len(process(e, s)) + 1 for s, e in ScapReplay(path, types, cands)),
        r,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
