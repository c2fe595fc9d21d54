"""A ``lanner run`` replay's start-up and exit, part by part, in CPU time.

* ``marks``: ``lanner run -e CAPTURE -r <the three upstream syscall files>`` in a child
  whose wrapper takes ``time.process_time()`` at its start, after the imports (made with
  the collector off, as ``lanner`` imports a subcommand), around ``Daemon.load`` (rules
  read, compiled, candidate conditions derived) and ``Daemon.run`` (the replay), and in
  an ``atexit`` handler; the median of ``--runs`` per part.
* ``bodies``: in one process with everything ``lanner run`` imports already imported
  (collector off, as ``lanner run`` imports), each Lanner module's compiled body executed
  again in a fresh namespace, the least CPU of ``--repeat`` runs: what defining its
  classes and constants costs (a ``@dataclass`` compiles its methods with ``exec`` here),
  without its imports or reading its bytecode.
* ``exit``: ``lanner run -e CAPTURE -r <the three upstream syscall files>`` in child
  processes; an ``atexit`` handler registered before Lanner is imported (so it runs
  last) reports the child's CPU time at that moment through a pipe, and the parent takes
  the child's whole CPU time from the kernel (rusage): the difference is what the process
  spends after its last ``atexit`` handler (the interpreter's teardown, or
  :mod:`lanner.app.quick_exit`'s ``os._exit``), the median of ``--runs``.

Pass ``--python`` to measure another checkout's interpreter (its ``.venv/bin/python``).
The machine is shared: compare two checkouts in the same call, not across calls.

Usage: python bench/startup_parts.py [--python PY ...] [--capture FILE] [--runs 15]
"""

from __future__ import annotations

import argparse
import ast
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT.parent / "shared" / "fixtures" / "rules"
RULE_ARGS = [
    arg
    for name in ("falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml")
    for arg in ("-r", str(RULES / name))
]
CAPTURE = ROOT.parent / "shared" / "fixtures" / "captures" / "test_ipv6_client.scap"

MARKS_CHILD = """
import time
marks = [("start", time.process_time())]
import atexit, gc, os, sys
gc.disable()
import lanner.cli, lanner.app.run_command
from lanner.app.daemon import Daemon
gc.enable()
marks.append(("imports", time.process_time()))
load, run = Daemon.load, Daemon.run
def timed_load(self):
    marks.append(("configuration", time.process_time()))
    try:
        return load(self)
    finally:
        marks.append(("rules", time.process_time()))
def timed_run(self, *args):
    marks.append(("between", time.process_time()))
    try:
        return run(self, *args)
    finally:
        marks.append(("replay", time.process_time()))
Daemon.load, Daemon.run = timed_load, timed_run
def report():
    marks.append(("to atexit", time.process_time()))
    parts = [(name, t - marks[i - 1][1] if i else t) for i, (name, t) in enumerate(marks)]
    os.write(int(os.environ["STARTUP_PARTS_FD"]), repr(parts).encode())
atexit.register(report)
sys.argv = ["lanner", *sys.argv[1:]]
lanner.cli.main()
"""

BODIES_CHILD = """
import gc, sys, time
gc.disable()
import lanner.cli, lanner.app.run_command
repeat = int(sys.argv[1])
total = 0.0
for name in sorted(n for n in sys.modules if n == "lanner" or n.startswith("lanner.")):
    module = sys.modules[name]
    path = getattr(module, "__file__", None)
    if not path or not path.endswith(".py"):
        continue
    with open(path, encoding="utf-8") as fh:
        code = compile(fh.read(), path, "exec")
    best = float("inf")
    for _ in range(repeat):
        namespace = {"__name__": name, "__file__": path, "__package__": module.__package__}
        t0 = time.process_time()
        exec(code, namespace)
        best = min(best, time.process_time() - t0)
    total += best
    print(f"{best * 1000:8.2f} ms  {name}")
print(f"{total * 1000:8.2f} ms  all Lanner modules a replay imports")
"""

EXIT_CHILD = """
import atexit, os, sys, time
fd = int(os.environ["STARTUP_PARTS_FD"])
atexit.register(lambda: os.write(fd, repr(time.process_time()).encode()))
sys.argv = ["lanner", *sys.argv[1:]]
from lanner.cli import main
main()
"""


def marks(python: str, capture: Path) -> list[tuple[str, float]]:
    """(part, CPU seconds) of one ``lanner run -e CAPTURE`` (``start``: the interpreter's)."""
    read, write = os.pipe()
    child = subprocess.Popen(
        [python, "-c", MARKS_CHILD, "run", "-e", str(capture), *RULE_ARGS],
        pass_fds=(write,), env={**os.environ, "STARTUP_PARTS_FD": str(write)}, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        parts: list[tuple[str, float]] = ast.literal_eval(fh.read().decode())
    if child.wait() != 0:
        raise SystemExit(f"lanner run exited with {child.returncode}")
    return parts


def bodies(python: str, repeat: int) -> None:
    """Print the module bodies' costs in a child of ``python``."""
    subprocess.run([python, "-c", BODIES_CHILD, str(repeat)], check=True, cwd=ROOT)


def after_last_atexit(python: str, capture: Path) -> float:
    """Seconds of CPU one ``lanner run -e CAPTURE`` spends after its last atexit handler."""
    read, write = os.pipe()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "STARTUP_PARTS_FD": str(write)}
    child = subprocess.Popen(
        [python, "-c", EXIT_CHILD, "run", "-e", str(capture), *RULE_ARGS],
        pass_fds=(write,), env=env, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        at_handler = float(fh.read())
    if child.wait() != 0:
        raise SystemExit(f"lanner run exited with {child.returncode}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    whole = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return whole - at_handler


def main() -> int:
    """Print both parts for each interpreter, the exit runs alternating between them."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", action="append", default=[])
    ap.add_argument("--capture", type=Path, default=CAPTURE)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    pythons = args.python or [sys.executable]
    for python in pythons:
        print(f"module bodies, {python}:")
        bodies(python, args.repeat)
    figures: dict[str, list[float]] = {p: [] for p in pythons}
    parts: dict[str, dict[str, list[float]]] = {p: {} for p in pythons}
    for _ in range(args.runs):
        for python in pythons:
            figures[python].append(after_last_atexit(python, args.capture))
            for name, seconds in marks(python, args.capture):
                parts[python].setdefault(name, []).append(seconds)
    for python, by_part in parts.items():
        print(f"parts of lanner run -e {args.capture.name}, {python} (median ms):")
        for name, values in by_part.items():
            print(f"  {name:<28} {statistics.median(values) * 1000:7.1f}")
    for python, values in figures.items():
        ms = sorted(v * 1000 for v in values)
        print(
            f"after the last atexit handler, {python}: median {statistics.median(ms):.1f} ms "
            f"(min {ms[0]:.1f}, max {ms[-1]:.1f}, n={len(ms)})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
