"""CPU per event of the live ring walk (``SyscallPipeline.run_ring``: native/ring.c with
the state engine and the rules' candidate filter), on ring records as the probe writes
them, without the kernel: the per-event cost of ``lanner run``'s evaluating thread, free
of the machine's scheduling noise that the whole-run bench (lanner_run_resources.py)
carries.

The batch: open+close pairs of ``--path`` (openat then close, as the probe's fast paths
write them) by this process's own thread, whose /proc snapshot is loaded first (so the
filter sees its real process name), in ring batches of 4 MiB. The rules: the three upstream
syscall files by default. Each round walks every batch once and reports CPU microseconds
per event (process CPU time, ``time.process_time``).

``--vs SRC`` runs the same rounds with the lanner package of another source tree (its
``_native`` built in place; PYTHONPATH), alternating with this tree round by round, each
in a fresh process: the paired yardstick (e.g. the previous commit).

Run: .venv/bin/python bench/ring_walk.py [--pairs N] [--rounds R] [--vs SRC]
"""

from __future__ import annotations

import argparse
import os
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT.parent / "shared" / "fixtures" / "rules"
UPSTREAM = [
    RULES / "falco_rules.yaml",
    RULES / "falco-incubating_rules.yaml",
    RULES / "falco-sandbox_rules.yaml",
]
OPENAT_X, CLOSE_X = 307, 5  # PPME_SYSCALL_OPENAT_2_X, PPME_SYSCALL_CLOSE_X


def record(ts: int, tid: int, etype: int, params: list[bytes]) -> bytes:
    """One ring record: the ring header, Lanner's 8-byte prefix, a scap event."""
    lens = b"".join(struct.pack("<H", len(p)) for p in params)
    body = b"".join(params)
    ev_len = 26 + len(lens) + len(body)
    ev = struct.pack("<QqIHI", ts, tid, ev_len, etype, len(params)) + lens + body
    data = struct.pack("<H6x", 0) + ev
    rec = struct.pack("<II", len(data), 0) + data
    return rec + b"\0" * (-len(rec) % 8)


def batches(pairs: int, path: str, tid: int) -> list[bytes]:
    """Ring batches of about 4 MiB holding ``pairs`` openat+close pairs."""
    name = path.encode() + b"\0"
    out, cur, size, ts = [], [], 0, 1_000_000_000
    for _ in range(pairs):
        fd = struct.pack("<q", 3)
        openat = [fd, struct.pack("<q", -100), name, struct.pack("<I", 1), b"\0" * 4,
                  struct.pack("<I", 0x800001), struct.pack("<Q", 12345)]  # fmt: skip
        close = [struct.pack("<q", 0), fd]
        for etype, params in ((OPENAT_X, openat), (CLOSE_X, close)):
            r = record(ts, tid, etype, params)
            ts += 1000
            cur.append(r)
            size += len(r)
        if size >= 4 << 20:
            out.append(b"".join(cur))
            cur, size = [], 0
    if cur:
        out.append(b"".join(cur))
    return out


def worker(args: argparse.Namespace) -> None:
    """Measure in this process (the lanner package on sys.path) and print one line per
    round: CPU microseconds per event."""
    from lanner.engine.candidates import derive_candidates
    from lanner.engine.engine import Engine
    from lanner.sources.syscall import syscall_source
    from lanner.sources.syscall.candidate_fields import event_filter
    from lanner.sources.syscall.pipeline import SyscallPipeline
    from lanner.sources.syscall.probe.snapshot import snapshot

    spec = syscall_source(None)
    engine = Engine([spec])
    outcome = engine.load_rules([str(r) for r in args.rules])
    if not outcome.successful:
        raise SystemExit(f"rules did not load: {[r.as_text() for r in outcome.results]}")
    filt = event_filter(derive_candidates(engine.ruleset, spec, _fields()), spec)
    types: set[str] | None = set()
    for rule in engine.ruleset:
        if rule.event_types is None:
            types = None
            break
        assert types is not None
        types |= set(rule.event_types)

    class Ring:  # what run_ring reads of a LiveCapture
        ts_offset = 0
        events_read = 0

        def poll(self) -> None:  # marks a live source
            raise NotImplementedError

    pipe = SyscallPipeline(Ring(), None, event_types=types, candidates=lambda: filt)
    for rec in snapshot():
        pipe.state.load_record(rec)
    data = batches(args.pairs, args.path, os.getpid())
    events = 2 * args.pairs
    for _ in range(args.rounds):
        out = 0
        c0 = time.process_time()
        for b in data:
            for _ev in pipe.run_ring(b):
                out += 1
        cpu = time.process_time() - c0
        print(f"{1e6 * cpu / events:.3f} {out}", flush=True)


def _fields() -> frozenset[str]:
    from lanner.sources.syscall.candidate_fields import CANDIDATE_FIELDS

    return frozenset(CANDIDATE_FIELDS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=200_000, help="open+close pairs per round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--path", default="/etc/hostname")
    ap.add_argument("--rules", action="append", type=Path, help="default: upstream syscall files")
    ap.add_argument("--vs", metavar="SRC", help="another source tree: the paired yardstick")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.rules = args.rules or UPSTREAM
    for r in args.rules:
        if not r.is_file():
            raise SystemExit(f"rules file missing: {r}")
    if args.worker:
        worker(args)
        return
    trees = {"this tree": None}
    if args.vs:
        trees[args.vs] = args.vs
    results: dict[str, list[float]] = {k: [] for k in trees}
    base = [sys.executable, __file__, "--worker", "--rounds", "1", "--pairs", str(args.pairs),
            "--path", args.path, *(a for r in args.rules for a in ("--rules", str(r)))]  # fmt: skip
    for i in range(args.rounds):
        for label, src in trees.items():
            env = dict(os.environ)
            if src:
                env["PYTHONPATH"] = src
            line = subprocess.run(base, env=env, check=True, capture_output=True, text=True)
            us, out = line.stdout.split()
            results[label].append(float(us))
            print(f"round {i + 1} {label}: {float(us):.3f} us/event, {out} handed out", flush=True)
    for label, v in results.items():
        print(f"{label}: median {statistics.median(v):.3f} us per event (min {min(v):.3f})")


if __name__ == "__main__":
    main()
