"""Highest steady event rate ``LiveCapture`` (decode + thread/fd state) handles with 0 drops.

A paced C program (built with clang into build/bench/) opens and closes a file at a fixed
rate for a few seconds while this process reads the live capture of open/openat/close;
the rate doubles until the probe counts ring-full drops, then a bisection narrows it down.
Events of every other process on the host that make these syscalls count too.

Run (root): .venv/bin/python bench/probe_steady_rate.py [--seconds S] [--ring-mib M]
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

from paced_load import OPEN_CLOSE_C, build

from lanner.sources.syscall.probe import LiveCapture

ROOT = Path(__file__).resolve().parents[1]


def paced_binary() -> Path:
    """Build (once) the paced open/close program."""
    return build("paced", OPEN_CLOSE_C)


def trial(
    cap: LiveCapture, binary: Path, pairs_per_s: float, seconds: float
) -> tuple[int, int, float]:
    """Run the load at ``pairs_per_s``: (events read, drops, seconds of backlog left)."""
    while cap.probe is not None and cap.probe.pending():
        cap.poll(0)
    drops0 = cap.drops
    proc = subprocess.Popen([str(binary), str(pairs_per_s), str(seconds)])
    n = 0
    while proc.poll() is None:
        n += len(cap.poll(0.05))
    t0 = time.monotonic()
    while cap.probe is not None and cap.probe.pending() and time.monotonic() - t0 < 20:
        n += len(cap.poll(0))
    return n, cap.drops - drops0, time.monotonic() - t0


def steady(drops: int, lag: float) -> bool:
    """No drops, and the reader was keeping up (little backlog when the load stopped)."""
    return drops == 0 and lag < 0.25


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--ring-mib", type=int, default=8)
    ap.add_argument("--start", type=float, default=5000.0, help="first rate, pairs/s")
    args = ap.parse_args()
    binary = paced_binary()
    ok, bad = 0.0, None
    rate = args.start
    with LiveCapture(
        event_types={"open", "openat", "close"}, base=False, ring_size=args.ring_mib << 20
    ) as cap:
        while bad is None and rate < 2e6:
            n, drops, lag = trial(cap, binary, rate, args.seconds)
            print(
                f"{2 * rate / 1e3:8.1f} k events/s offered: read {n:,}, drops {drops:,}, "
                f"backlog {lag:.2f} s"
            )
            if not steady(drops, lag):
                bad = rate
            else:
                ok, rate = rate, rate * 2
        for _ in range(4):
            if bad is None:
                break
            mid = (ok + bad) / 2
            n, drops, lag = trial(cap, binary, mid, args.seconds)
            print(
                f"{2 * mid / 1e3:8.1f} k events/s offered: read {n:,}, drops {drops:,}, "
                f"backlog {lag:.2f} s"
            )
            if not steady(drops, lag):
                bad = mid
            else:
                ok = mid
    print(
        f"highest steady rate (0 drops, reader keeping up): {2 * ok / 1e3:.1f} k events/s "
        f"({ok / 1e3:.1f} k open+close pairs/s, {args.seconds:g} s each, "
        f"{args.ring_mib} MiB ring, decode + state in Python)"
    )


if __name__ == "__main__":
    main()
