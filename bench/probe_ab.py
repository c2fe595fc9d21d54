"""A/B of probe builds on the open/close loop: each build's kernel run time per sys_exit
(bpf_stats) and the loop's rate per CPU second, all builds and the bare loop interleaved
round by round in one run.

Every build is loaded at start and attached in turn (the others detached), capturing
open/openat/close with a reader that only drains the ring. Use it for measurement builds
with one piece of work removed (compile a copy of lanner_probe.bpf.c with clang as
scripts/build_probe.sh does, with ``-I build/probe`` for vmlinux.h).

Run (root): .venv/bin/python bench/probe_ab.py OBJECT [OBJECT ...] [--rounds R]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from pathlib import Path

from probe_overhead import bpf_stats, loop_command, rate

from lanner.sources.syscall.probe import LiveCapture


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("objects", nargs="+", type=Path)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=200_000)
    args = ap.parse_args()
    cmd, what = loop_command()
    n = args.iterations
    wanted = {"open", "openat", "close"}
    caps = []
    for obj in args.objects:
        cap = LiveCapture(event_types=wanted, base=False, snapshot=False, probe_path=obj)
        cap.start()
        assert cap.probe is not None
        cap.probe.detach()
        caps.append(cap)
    bare: list[float] = []
    cpu: dict[Path, list[float]] = {o: [] for o in args.objects}
    ns: dict[Path, list[float]] = {o: [] for o in args.objects}
    stop = threading.Event()
    current: list[LiveCapture | None] = [None]

    def drain() -> None:
        while not stop.is_set():
            cap = current[0]
            if cap is None or cap.probe is None:
                time.sleep(0.01)
            elif cap.probe.wait(0.05):
                cap.probe.read()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        for _ in range(args.rounds):
            bare.append(rate(cmd, n)[1])
            for obj, cap in zip(args.objects, caps, strict=True):
                probe = cap.probe
                assert probe is not None
                probe.attach()
                current[0] = cap
                cpu[obj].append(rate(cmd, n)[1])
                bpf_stats(True)
                _, ns0, cnt0 = probe.run_stats()
                rate(cmd, n // 2)
                _, ns1, cnt1 = probe.run_stats()
                bpf_stats(False)
                ns[obj].append((ns1 - ns0) / max(1, cnt1 - cnt0))
                time.sleep(0.2)
                current[0] = None
                probe.detach()
                while probe.pending():
                    probe.read()
    finally:
        stop.set()
        reader.join()
        for cap in caps:
            cap.close()
    base = statistics.median(bare)
    print(f"workload: {what}, {n} open+close pairs per run, {args.rounds} rounds; medians")
    print(f"bare loop: {base / 1e3:.1f} k pairs per CPU second ({1e9 / base / 2:.0f} ns/syscall)")
    print("| build | probe ns per sys_exit (runs) | loop per CPU second | slower |")
    print("|---|---|---|---|")
    for obj in args.objects:
        m = statistics.median(cpu[obj])
        runs = ", ".join(f"{x:.0f}" for x in ns[obj])
        print(
            f"| {obj.name} | {statistics.median(ns[obj]):.0f} ({runs}) | {m / 1e3:.1f} k | "
            f"{(1 - m / base) * 100:.1f} % |"
        )


if __name__ == "__main__":
    main()
