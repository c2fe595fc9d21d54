"""Cost of the live probe on a syscall-heavy program: an open/close loop's rate without the
probe, with the probe attached but nothing selected (the sys_exit program is then
detached), with only mkdir selected (the sys_exit dispatcher runs for every syscall and
returns at once for the loop's), capturing open+close with a reader that only drains the
ring, and capturing with ``LiveCapture`` decoding and applying state in this process. The
probe's kernel run time (bpf_stats) is read in a separate, untimed run: the kernel's
accounting slows the programs down.

The loop is a small C program (built with clang into build/bench/) so the figure is the
kernel's cost, not Python's; without a compiler it falls back to a Python loop. It reports
its rate per wall-clock second and per CPU second: the probe runs in the traced process's
context, so the CPU-time rate measures its cost even on a busy machine, where wall-clock
rates mostly measure the neighbours (and our own reader, on a 2-core machine).

With ``--vs OBJECT`` a second probe build (e.g. the previous commit's, built with
``scripts/build_probe.sh`` into another directory) is loaded too and one more condition,
"capturing open+close with OBJECT, reader drains", runs in every round, paired with the
others: an A/B of two probe builds in the same run. ``--probe OBJECT`` picks the first one.

Run (root): .venv/bin/python bench/probe_overhead.py [--iterations N] [--rounds R]
    [--probe OBJECT] [--vs OBJECT]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from lanner.sources.syscall.probe import LiveCapture
from lanner.sources.syscall.probe.syscalls import OK

ROOT = Path(__file__).resolve().parents[1]
LOOP_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 500000;
    const char *path = argc > 2 ? argv[2] : "/etc/hostname";
    struct timespec a, b, ca, cb;
    clock_gettime(CLOCK_MONOTONIC, &a);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ca);
    for (long i = 0; i < n; i++) {
        int fd = open(path, O_RDONLY);
        if (fd >= 0) close(fd);
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cb);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
    double c = (cb.tv_sec - ca.tv_sec) + (cb.tv_nsec - ca.tv_nsec) / 1e9;
    printf("%.0f %.0f\n", n / s, n / c);
    return 0;
}
"""
PY_LOOP = (
    "import os,sys,time\nn=int(sys.argv[1])\np=sys.argv[2]\nt=time.perf_counter()\n"
    "c=time.process_time()\nfor _ in range(n):\n    try:\n        os.close(os.open(p, 0))\n"
    "    except OSError:\n        pass\n"
    "print(round(n/(time.perf_counter()-t)), round(n/(time.process_time()-c)))\n"
)


def loop_command() -> tuple[list[str], str]:
    """The open/close loop to run, and what it is."""
    out = ROOT / "build" / "bench"
    binary = out / f"openclose-{hashlib.sha1(LOOP_C.encode()).hexdigest()[:8]}"
    if not binary.exists() and shutil.which("clang"):
        out.mkdir(parents=True, exist_ok=True)
        src = out / "openclose.c"
        src.write_text(LOOP_C)
        subprocess.run(["clang", "-O2", "-o", str(binary), str(src)], check=True)
    if binary.exists():
        return [str(binary)], "C loop (clang -O2)"
    return [sys.executable, "-c", PY_LOOP], "Python loop"


def bpf_stats(enable: bool) -> None:
    """Turn the kernel's per-program run-time accounting on or off."""
    Path("/proc/sys/kernel/bpf_stats_enabled").write_text("1" if enable else "0")


def other_probes() -> int:
    """How many programs others attached to the sys_exit tracepoint (any of them, lanner's
    or not, puts every syscall on the kernel's slow path)."""
    bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
    out = subprocess.run(
        [bpftool, "-j", "link", "show"], capture_output=True, text=True, check=False
    ).stdout
    try:
        links = json.loads(out) if out.strip() else []
    except json.JSONDecodeError:
        return 0
    return sum(1 for link in links if link.get("tp_name") == "sys_exit")


LOOP_PATH = ["/etc/hostname"]  # what the loop opens (--path)


def rate(cmd: list[str], n: int) -> tuple[float, float]:
    """open/close pairs per second of one run: per wall-clock second, per CPU second."""
    out = subprocess.run(
        [*cmd, str(n), LOOP_PATH[0]], capture_output=True, text=True, check=True
    ).stdout
    wall, cpu = out.split()
    return float(wall), float(cpu)


CONDITIONS = (
    ("bare", "bare (probe detached)"),
    ("idle", "probe attached, nothing selected"),
    ("dispatch", "probe attached, only mkdir selected"),
    ("drain", "capturing open+close, reader drains"),
    ("full", "capturing open+close, decode + state"),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--iterations", type=int, default=300_000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--probe", type=Path, default=None, help="probe object (default: the build)")
    ap.add_argument("--vs", type=Path, default=None, help="a second probe object to pair with")
    ap.add_argument(
        "--path",
        default=None,
        help="what the loop opens (default /etc/hostname); adds a condition capturing only "
        "successful calls, as the kernel-side filter does when no rule looks at failures "
        "(give a missing file to measure what that filter saves)",
    )
    args = ap.parse_args()
    conditions = list(CONDITIONS)
    if args.path is not None:
        LOOP_PATH[0] = args.path
        conditions.append(("ok_only", "capturing open+close, successes only, drains"))
    if args.vs is not None:
        conditions.append(("vs", f"capturing open+close with {args.vs.name}, reader drains"))
    cmd, what = loop_command()
    n, rounds = args.iterations, args.rounds
    print(
        f"workload: {what} on {LOOP_PATH[0]}, {n} open+close pairs per run "
        f"({n // 4} with decode + state); "
        f"{rounds} rounds of the {len(conditions)} conditions, interleaved; medians"
    )
    others = other_probes()
    if others:
        print(
            f"WARNING: {others} other sys_exit program(s) attached on this host: every "
            "condition, 'bare' included, pays for them"
        )
    results: dict[str, list[tuple[float, float]]] = {key: [] for key, _ in conditions}
    wanted = {"open", "openat", "close"}
    other = None
    if args.vs is not None:
        other = LiveCapture(event_types=wanted, base=False, snapshot=False, probe_path=args.vs)
        other.start()
        assert other.probe is not None
        other.probe.detach()
    with LiveCapture(event_types=wanted, base=False, probe_path=args.probe) as cap:
        probe = cap.probe
        assert probe is not None
        stop = threading.Event()
        mode = ["off"]
        counts = {"drain": 0, "full": 0, "vs": 0}
        busy = {"drain": 0.0, "full": 0.0, "vs": 0.0}
        prog_ns = prog_cnt = 0
        vs_ns = vs_cnt = 0
        ok_ns = ok_cnt = 0

        def consume() -> None:
            while not stop.is_set():
                m = mode[0]
                if m == "drain":
                    if probe.wait(0.1):
                        counts["drain"] += len(probe.read()[1])
                elif m == "vs" and other is not None and other.probe is not None:
                    if other.probe.wait(0.1):
                        counts["vs"] += len(other.probe.read()[1])
                elif m == "full":
                    counts["full"] += len(cap.poll(0.1))
                else:
                    time.sleep(0.02)

        t = threading.Thread(target=consume, daemon=True)
        t.start()
        for _ in range(rounds):
            probe.detach()
            results["bare"].append(rate(cmd, n))
            probe.attach()
            cap.set_event_types(set())  # nothing selected (base off): no sys_exit program
            results["idle"].append(rate(cmd, n))
            # the sys_exit dispatcher attached, returning at once for the loop's syscalls
            cap.set_event_types({"mkdir"})
            results["dispatch"].append(rate(cmd, n))
            cap.set_event_types(wanted)
            for key, iters in (("drain", n), ("full", n // 4)):
                mode[0] = key
                t0 = time.monotonic()
                results[key].append(rate(cmd, iters))
                if key == "drain":
                    # the probe's own run time, in a separate untimed run: the kernel's
                    # accounting (two clock reads per program run) slows the loop down
                    bpf_stats(True)
                    _, ns0, cnt0 = probe.run_stats()
                    rate(cmd, n // 4)
                    _, ns1, cnt1 = probe.run_stats()
                    bpf_stats(False)
                    prog_ns += ns1 - ns0
                    prog_cnt += cnt1 - cnt0
                busy[key] += time.monotonic() - t0
                time.sleep(0.3)
                mode[0] = "off"
                time.sleep(0.1)
                while probe.pending():  # drop the backlog before the next condition
                    probe.read()
            if args.path is not None:
                # the rules' outcome filter: only successful calls are emitted
                cap.outcomes = dict.fromkeys(wanted, OK)
                cap.set_event_types(wanted)
                mode[0] = "drain"
                results["ok_only"].append(rate(cmd, n))
                bpf_stats(True)
                _, ns0, cnt0 = probe.run_stats()
                rate(cmd, n // 4)
                _, ns1, cnt1 = probe.run_stats()
                bpf_stats(False)
                ok_ns += ns1 - ns0
                ok_cnt += cnt1 - cnt0
                time.sleep(0.3)
                mode[0] = "off"
                time.sleep(0.1)
                while probe.pending():
                    probe.read()
                cap.outcomes = None
                cap.set_event_types(wanted)
            if other is not None and other.probe is not None:
                # the same loop with the other build attached instead
                probe.detach()
                other.probe.attach()
                mode[0] = "vs"
                t0 = time.monotonic()
                results["vs"].append(rate(cmd, n))
                bpf_stats(True)
                _, ns0, cnt0 = other.probe.run_stats()
                rate(cmd, n // 4)
                _, ns1, cnt1 = other.probe.run_stats()
                bpf_stats(False)
                vs_ns += ns1 - ns0
                vs_cnt += cnt1 - cnt0
                busy["vs"] += time.monotonic() - t0
                time.sleep(0.3)
                mode[0] = "off"
                time.sleep(0.1)
                while other.probe.pending():
                    other.probe.read()
                other.probe.detach()
                probe.attach()
        stop.set()
        t.join()
        stats = cap.stats()
        if other is not None:
            other.close()
    bare_wall = statistics.median(w for w, _ in results["bare"])
    bare_cpu = statistics.median(c for _, c in results["bare"])
    print(f"{'':38s} {'per CPU second of the loop':>34s}   {'per wall-clock second':>30s}")
    for key, label in conditions:
        wall = statistics.median(w for w, _ in results[key])
        cpu = statistics.median(c for _, c in results[key])
        print(
            f"{label:38s} {cpu / 1e3:8.1f} k pairs/s ({(1 - cpu / bare_cpu) * 100:5.1f} % slower)"
            f"   {wall / 1e3:8.1f} k pairs/s ({(1 - wall / bare_wall) * 100:5.1f} % slower)"
        )
    if prog_cnt:
        print(
            f"probe run time (kernel bpf_stats) while capturing: {prog_ns / prog_cnt:.0f} ns "
            f"per syscall exit ({prog_cnt:,} runs); the bare loop spends "
            f"{1e9 / bare_cpu / 2:.0f} ns of CPU per syscall"
        )
    if ok_cnt:
        print(f"probe run time, successes only: {ok_ns / ok_cnt:.0f} ns per syscall exit")
    if vs_cnt:
        print(f"probe run time of {args.vs.name}: {vs_ns / vs_cnt:.0f} ns per syscall exit")
    print(
        f"kernel emitted {stats['events']:,} events, ring-full drops {stats['drops_full']:,}; "
        f"reader rates while the loop ran: drain {counts['drain'] / busy['drain'] / 1e3:.0f} k "
        f"events/s, decode + state {counts['full'] / busy['full'] / 1e3:.0f} k events/s"
    )


if __name__ == "__main__":
    main()
