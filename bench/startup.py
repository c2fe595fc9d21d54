"""Start-up benchmark: loading and compiling the upstream syscall rules, and a whole run.

Two measurements, each in fresh child processes so that every run pays its imports and
nothing is cached in memory between runs:

* ``load``: in a child, ``Engine.load_rules`` on falco_rules.yaml,
  falco-incubating_rules.yaml and falco-sandbox_rules.yaml (read, YAML, conditions parsed,
  macros expanded, code generated and checked); the child reports the seconds of that
  call alone (wall and CPU), after its imports.
* ``whole``: ``lanner run -e test_ipv6_client.scap -r <the three files>`` with outputs
  off, timed from outside (wall, and CPU from the child's rusage): interpreter start,
  imports, loading, compiling, the replay of 68 events and the exit.

Yardsticks run in the same call, alternating run by run with the measured commands:
``python -c pass`` (the interpreter's own start-up) and a fixed pure-Python workload in a
child (``sorted`` over 200,000 pseudo-random floats, the machine's speed right now). With
``--baseline-src DIR`` (the ``src`` directory of another checkout of Lanner, e.g. the
previous commit: ``git worktree add /tmp/base HEAD~1`` and copy this build's native
``.so`` files into it) the same runs are made against that code too and the ratios taken
pair by pair.

The runs use the bytecode caches as an installed package has them (PYTHONDONTWRITEBYTECODE
is removed and one warm-up run writes them).

Usage: python bench/startup.py [--runs 9] [--baseline-src DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT.parent / "shared" / "fixtures" / "rules"
RULE_FILES = [
    RULES / "falco_rules.yaml",
    RULES / "falco-incubating_rules.yaml",
    RULES / "falco-sandbox_rules.yaml",
]
CAPTURE = ROOT.parent / "shared" / "fixtures" / "captures" / "test_ipv6_client.scap"

LOAD_CHILD = """
import json, sys, time
from lanner.engine.engine import Engine
from lanner.sources.syscall.source import syscall_source
engine = Engine([syscall_source()])
w, c = time.perf_counter(), time.process_time()
outcome = engine.load_rules(sys.argv[1:])
w, c = time.perf_counter() - w, time.process_time() - c
assert outcome.successful and len(outcome.ruleset) > 50, "the upstream rules did not load"
print(json.dumps({"wall": w, "cpu": c, "rules": len(outcome.ruleset)}))
"""

YARDSTICK_CHILD = """
import json, random, time
rng = random.Random(7)
data = [rng.random() for _ in range(200_000)]
w, c = time.perf_counter(), time.process_time()
for _ in range(3):
    sorted(data)
print(json.dumps({"wall": time.perf_counter() - w, "cpu": time.process_time() - c}))
"""


def child_env(src: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(src))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_child_rusage(cmd: Sequence[str], env: dict[str, str]) -> tuple[float, float, bytes]:
    """Run ``cmd``: (wall seconds, CPU seconds of the child from wait4, its stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited with {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime, out


def whole_cmd() -> list[str]:
    cmd = [sys.executable, "-c", "from lanner.cli import main; main()", "run", "-e", str(CAPTURE)]
    for f in RULE_FILES:
        cmd += ["-r", str(f)]
    return [*cmd, "-o", "stdout_output.enabled=false"]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--baseline-src", type=Path, help="src directory of the code to compare")
    args = ap.parse_args()
    for path in [*RULE_FILES, CAPTURE]:
        if not path.exists():
            raise SystemExit(f"missing fixture: {path}")

    srcs = {"this": ROOT / "src"}
    if args.baseline_src is not None:
        srcs["baseline"] = args.baseline_src.resolve()
    py = sys.executable
    rules = [str(f) for f in RULE_FILES]
    results: dict[str, list[tuple[float, float]]] = {}

    def record(name: str, wall: float, cpu: float) -> None:
        results.setdefault(name, []).append((wall, cpu))

    for src in srcs.values():  # warm-up: bytecode caches, page cache
        run_child_rusage([py, "-c", LOAD_CHILD, *rules], child_env(src))
        run_child_rusage(whole_cmd(), child_env(src))
    for _ in range(args.runs):
        w, c, out = run_child_rusage([py, "-c", YARDSTICK_CHILD], child_env(ROOT / "src"))
        doc = json.loads(out)
        record("yardstick: sorted() x3 (in-process)", doc["wall"], doc["cpu"])
        w, c, _ = run_child_rusage([py, "-c", "pass"], child_env(ROOT / "src"))
        record("yardstick: python -c pass (whole process)", w, c)
        for label, src in srcs.items():
            w, c, out = run_child_rusage([py, "-c", LOAD_CHILD, *rules], child_env(src))
            doc = json.loads(out)
            record(f"{label}: load + compile, 3 files (in-process)", doc["wall"], doc["cpu"])
            w, c, _ = run_child_rusage(whole_cmd(), child_env(src))
            record(f"{label}: lanner run -e tiny.scap, whole process", w, c)

    print(f"{args.runs} runs each, alternated; medians (min-max) in seconds")
    print(f"{'what':58} {'wall':>22} {'cpu':>22}")
    for name, rows in results.items():
        walls, cpus = [r[0] for r in rows], [r[1] for r in rows]
        print(
            f"{name:58} {median(walls):7.3f} ({min(walls):.3f}-{max(walls):.3f})"
            f" {median(cpus):7.3f} ({min(cpus):.3f}-{max(cpus):.3f})"
        )
    yard = results["yardstick: sorted() x3 (in-process)"]
    for label in srcs:
        load = results[f"{label}: load + compile, 3 files (in-process)"]
        ratios = [lc / yc for (_, lc), (_, yc) in zip(load, yard, strict=True)]
        print(f"{label}: load+compile CPU / yardstick CPU, median of pairs: {median(ratios):.2f}")
    if "baseline" in srcs:
        for what in (
            "load + compile, 3 files (in-process)",
            "lanner run -e tiny.scap, whole process",
        ):
            a, b = results[f"this: {what}"], results[f"baseline: {what}"]
            ratios = [ac / bc for (_, ac), (_, bc) in zip(a, b, strict=True)]
            print(f"this / baseline, {what}, CPU, median of pairs: {median(ratios):.2f}")


if __name__ == "__main__":
    main()
