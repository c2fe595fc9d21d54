"""Capture replay benchmark: events/s for reading, decoding and state on a big capture.

Builds the workload of ../shared/reference/performance-notes.md: curl_google.scap's header
blocks once, then its event blocks repeated N times (700 -> 1,075,200 events, ~64 MB
uncompressed), written uncompressed to a temporary file. Then times, each on a fresh pass:

* read: walk the blocks and build the events (headers only);
* read+state: the same plus the state engine (threads, fds, users) - what a replay does
  before rules;
* read+state+decode: plus decoding every parameter of every event into Python values;
* with ``--rules``: the replay through those rules files, all events to the rules; with
  events of types no rule matches rejected from their header; and the replay path of
  ``lanner run -e`` (``ScapReplay`` with the rules' candidate conditions applied in the
  native walk, then the engine);
* with ``--rules``, whole process: ``lanner run -e FILE -r ...`` as a subprocess, start-up
  (imports, loading and compiling the rules) included, CPU seconds of the child;
* sysdig: ``sysdig -r FILE "evt.type=open and fd.name contains /etc"`` for reference, and
  the ratios of Lanner's replay rates to it.

The event-block walk runs in the C extension when it is built; ``--python-walk`` times the
pure Python loop instead.

Usage: python bench/scap_replay.py [--repeat 700] [--capture PATH] [--keep FILE]
       [--rules FILE ...] [--python-walk]
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lanner.sources.syscall import read_capture
from lanner.sources.syscall.scap import ScapReader
from lanner.sources.syscall.scap import blocks as B
from lanner.sources.syscall.scap import reader as scap_reader

ROOT = Path(__file__).resolve().parents[1]
FILTER = "evt.type=open and fd.name contains /etc"
DEFAULT_CAPTURE = ROOT.parent / "shared" / "fixtures" / "captures" / "curl_google.scap"


def build(capture: Path, repeat: int, out: Path) -> int:
    """Write the repeated capture to ``out``; returns the number of events."""
    data = capture.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    header: list[bytes] = []
    events: list[bytes] = []
    pos = 0
    while pos + 8 <= len(data):
        btype, blen = struct.unpack_from("<II", data, pos)
        (events if btype in B.EVENT_TYPES else header).append(data[pos : pos + blen])
        pos += blen
    body = b"".join(events)
    with open(out, "wb") as f:
        f.write(b"".join(header))
        for _ in range(repeat):
            f.write(body)
    return len(events) * repeat


def timed(label: str, fn, n_expected: int) -> float:  # type: ignore[no-untyped-def]
    """Run ``fn`` once; print wall and CPU time and the rate (by CPU time)."""
    t0, c0 = time.perf_counter(), time.process_time()
    n = fn()
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    if n != n_expected:
        raise SystemExit(f"{label}: saw {n} events, expected {n_expected}")
    rate = n / cpu
    print(
        f"{label:<20} {n:>10,} events  wall {dt:6.2f} s  cpu {cpu:6.2f} s  "
        f"{rate:>10,.0f} events/s (cpu)"
    )
    return rate


def child_times(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd`` (output discarded); its wall time and CPU seconds (user + sys)."""
    t0 = time.perf_counter()
    before = os.times()
    r = subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    after = os.times()
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({r.returncode}): {r.stderr.decode()[-2000:]}")
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return dt, cpu


def whole_process(path: Path, rules: list[Path], n: int) -> float:
    """``lanner run -e path -r ...`` as a child process; prints and returns its rate."""
    lanner = Path(sys.executable).parent / "lanner"
    cmd = [str(lanner), "run", "-e", str(path)]
    for r in rules:
        cmd += ["-r", str(r)]
    dt, cpu = child_times(cmd)
    rate = n / max(cpu, 1e-9)
    print(
        f"{'lanner run -e':<20} {n:>10,} events  wall {dt:6.2f} s  cpu {cpu:6.2f} s  "
        f"{rate:>10,.0f} events/s (cpu, whole process)"
    )
    return rate


def main() -> int:
    """Run the benchmark and print one line per measurement."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=700)
    ap.add_argument("--capture", type=Path, default=DEFAULT_CAPTURE)
    ap.add_argument("--keep", type=Path, help="write the big capture here and keep it")
    ap.add_argument(
        "--rules",
        type=Path,
        action="append",
        default=[],
        help="also time the replay through these rules files (repeatable)",
    )
    ap.add_argument(
        "--python-walk", action="store_true", help="use the Python block walk, not the C one"
    )
    args = ap.parse_args()
    if args.python_walk:
        scap_reader.USE_C_WALK = False
    walk = "C" if scap_reader.USE_C_WALK and scap_reader._c_walk is not None else "Python"

    tmpdir = tempfile.mkdtemp(prefix="lanner-bench-")
    path = args.keep or Path(tmpdir) / "big.scap"
    try:
        n = build(args.capture, args.repeat, path)
        size = os.path.getsize(path)
        print(f"capture: {path} ({n:,} events, {size / 1e6:.1f} MB, repeat {args.repeat})")
        print(f"python: {sys.version.split()[0]}; event-block walk: {walk}")

        def read_only() -> int:
            return sum(1 for _ in ScapReader(path).events())

        def read_state() -> int:
            return sum(1 for _ in read_capture(path))

        def read_state_decode() -> int:
            count = 0
            for e in read_capture(path):
                for i in range(e.nparams):
                    e.param(i)
                count += 1
            return count

        print("rates are events per CPU-second of this process (the machine is shared)")
        timed("read", read_only, n)
        timed("read+state", read_state, n)
        timed("read+state+decode", read_state_decode, n)

        if args.rules:
            from lanner.app.replay_progress import ScapReplay
            from lanner.engine.candidates import derive_candidates
            from lanner.engine.engine import Engine
            from lanner.sources.syscall import syscall_source
            from lanner.sources.syscall.candidate_fields import CANDIDATE_FIELDS, event_filter

            engine = Engine([syscall_source()])
            outcome = engine.load_rules(args.rules)
            if not outcome.successful:
                raise SystemExit(f"rules did not load: {outcome}")

            def read_state_rules() -> int:
                count = 0
                process = engine.process
                for e in read_capture(path):
                    process(e, "syscall")
                    count += 1
                return count

            timed(f"+rules ({len(args.rules)} files)", read_state_rules, n)
            print(f"alerts by rule: {dict(engine.counts_by_rule)}")

            # The types the active rules can match: events of other types are rejected
            # from their header unless the state engine needs them.
            types: set[str] = set()
            for rule in engine.ruleset:
                if rule.source == "syscall" and engine.ruleset.is_active(rule):
                    types |= rule.event_types or syscall_source().event_types
            n_wanted = sum(1 for _ in read_capture(path, event_types=types))

            def read_state_rules_early() -> int:
                count = 0
                process = engine.process
                for e in read_capture(path, event_types=types):
                    process(e, "syscall")
                    count += 1
                # every event of the file was replayed, only these reached the rules
                return n if count == n_wanted else count

            # what lanner run -e does: the candidate conditions applied in the walk
            spec = engine.sources["syscall"]
            cands = event_filter(derive_candidates(engine.ruleset, spec, CANDIDATE_FIELDS), spec)

            def replay_path() -> int:
                replay = ScapReplay(path, types, cands)
                process = engine.process
                for source, e in replay:
                    process(e, source)
                return replay.pipeline.events_read

            print(f"rules match {len(types)} event types; {n_wanted:,} events of those types")
            timed("+rules, early reject", read_state_rules_early, n)
            replay_rate = timed("+rules, replay path", replay_path, n)
            whole_rate = whole_process(path, args.rules, n)

        sysdig = shutil.which("sysdig")
        if sysdig:
            dt, cpu = child_times([sysdig, "-r", str(path), FILTER])
            print(
                f"{'sysdig 0.29 filter':<20} {n:>10,} events  wall {dt:6.2f} s  cpu {cpu:6.2f} s  "
                f"{n / max(cpu, 1e-9):>10,.0f} events/s (cpu)"
            )
            if args.rules:
                ratio = replay_rate / (n / max(cpu, 1e-9))
                print(f"replay with rules / sysdig filter: {100 * ratio:.1f} %")
                ratio = whole_rate / (n / max(cpu, 1e-9))
                print(f"whole-process lanner run -e / sysdig filter: {100 * ratio:.1f} %")
    finally:
        if not args.keep:
            shutil.rmtree(tmpdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
