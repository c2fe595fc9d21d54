"""State-table memory: RSS with 100,000 threads and 1,000,000 fds tracked.

Writes a capture (to a temporary file) whose process list holds ``--threads`` threads
(100 processes of ``--threads / 100`` threads each, shared fd tables) and whose events
open ``--fds`` files spread over those processes (openat exits, at most 10,000 per
process: the per-process cap is 65,536), replays it through the state engine
(``read_capture``), and reports the process's RSS before and after, per thread and per
fd. Yardstick in the same run: the RSS of the same interpreter with lanner imported and
nothing tracked, and the RSS of the same threads and fds as bare Python tuples.

Then times 1,000 process exits (procexit of 1,000 single-threaded processes added for it)
on that state, against the same exits on a state of 1,000 threads: an exit must not cost
more with 100,000 threads tracked.

Usage: python bench/state_rss.py [--threads 100000] [--fds 1000000]
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lanner.sources.syscall import event_table as et
from lanner.sources.syscall import read_capture
from lanner.sources.syscall.state import StateEngine

PROCS = 100


def rss_kb() -> int:
    """Current resident set size in KiB (/proc/self/status VmRSS)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise SystemExit("no VmRSS in /proc/self/status")


def block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def proc_entry(tid: int, pid: int, ptid: int, comm: bytes) -> bytes:
    """A process-list v1 entry (tid, pid, ptid, comm, exe, args, cwd, limits, ids)."""

    def s16(b: bytes) -> bytes:
        return struct.pack("<H", len(b)) + b

    return (
        struct.pack("<qqq", tid, pid, ptid)
        + s16(comm)
        + s16(b"/usr/bin/" + comm)
        + s16(b"--serve\0")
        + s16(b"/srv/")
        + struct.pack("<QIII", 1024, 0, 1000, 1000)
    )


def openat_exit(tid: int, ts: int, fd: int, name: bytes) -> bytes:
    """An openat exit (PPME_SYSCALL_OPENAT_2_X): fd, dirfd, name, flags, mode, dev, ino."""
    raws = [
        struct.pack("<q", fd),
        struct.pack("<q", -100),
        name + b"\0",
        struct.pack("<I", 1),
        struct.pack("<I", 0),
        struct.pack("<I", 0),
        struct.pack("<Q", fd),
    ]
    body = b"".join(struct.pack("<H", len(r)) for r in raws) + b"".join(raws)
    hdr = struct.pack("<QqIHI", ts, tid, 26 + len(body), et.PPME_SYSCALL_OPENAT_2_X, len(raws))
    return block(0x216, struct.pack("<H", 0) + hdr + body)


SHB = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 2, -1))


def exits_capture(first_tid: int, n: int) -> tuple[bytes, bytes]:
    """n single-threaded processes from first_tid (a capture), and a procexit of each."""
    procs = block(
        0x202, b"".join(proc_entry(first_tid + i, first_tid + i, 1, b"x") for i in range(n))
    )
    evs = []
    for i in range(n):
        hdr = struct.pack("<QqIHI", i + 1, first_tid + i, 26, et.PPME_PROCEXIT_1_E, 0)
        evs.append(block(0x216, struct.pack("<H", 0) + hdr))
    return SHB + procs, b"".join(evs)


def time_exits(state: StateEngine, n: int = 1000) -> float:
    """CPU seconds of n process exits on ``state`` (their processes' loading subtracted)."""
    import io

    first = 10_000_000
    load, exits = exits_capture(first, n)
    t0 = time.process_time()
    for _ in read_capture(io.BytesIO(load + exits), state):
        pass
    with_exits = time.process_time() - t0
    probe = StateEngine(max_threads=state.threads.max_threads)
    t0 = time.process_time()
    for _ in read_capture(io.BytesIO(load), probe):
        pass
    return with_exits - (time.process_time() - t0)


def write_capture(path: Path, threads: int, fds: int) -> None:
    per_proc = threads // PROCS
    with open(path, "wb") as f:
        f.write(SHB)
        entries = []
        for p in range(PROCS):
            pid = 1000 + p * per_proc
            for t in range(per_proc):
                entries.append(proc_entry(pid + t, pid, 1, b"worker%d" % p))
        f.write(block(0x202, b"".join(entries)))
        ts = 1
        for i in range(fds):
            p = i % PROCS
            pid = 1000 + p * per_proc
            f.write(openat_exit(pid, ts, 3 + i // PROCS, b"/srv/data/file-%07d" % i))
            ts += 1


def bare(nthreads: int, nfds: int) -> str:
    """RSS growth of bare tuples for the threads and fds (the yardstick)."""
    b0 = rss_kb()
    threads = {i: (i, i, 1, "worker", "/usr/bin/worker", "/srv/") for i in range(nthreads)}
    fds = {i: (i, 16, f"/srv/data/file-{i:07d}", 1) for i in range(nfds)}
    grown = rss_kb() - b0
    return f"+{grown / 1024:.0f} MiB ({len(threads) + len(fds):,} entries)"


def capped(path: str, threads: int, max_fds: int) -> str:
    """Replay the capture with the live pipeline's global fd cap enforced every 50,000
    events (in a fresh process: its RSS growth is the figure)."""
    from lanner.sources.syscall.state.fd_cap import FdCap

    b0 = rss_kb()
    state = StateEngine(max_threads=threads + 1000)
    cap = FdCap(state.threads, max_fds)
    for i, _ in enumerate(read_capture(path, state)):
        if not i % 50_000:
            cap.enforce()
    cap.enforce()
    grown = rss_kb() - b0
    return (
        f"+{grown / 1024:.0f} MiB with {len(state.threads):,} threads and {cap.tracked:,} fds "
        f"tracked, {cap.evicted:,} evicted at the cap of {max_fds:,}"
    )


def main() -> int:
    if sys.argv[1:2] == ["--bare"]:
        print(bare(int(sys.argv[2]), int(sys.argv[3])))
        return 0
    if sys.argv[1:2] == ["--capped"]:
        print(capped(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=100_000)
    ap.add_argument("--fds", type=int, default=1_000_000)
    ap.add_argument(
        "--fd-cap",
        type=int,
        default=0,
        help="also replay in a fresh process with the global fd cap (state/fd_cap.py) "
        "enforced every 50,000 events; 0: not",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lanner-rss-") as tmp:
        path = Path(tmp) / "state.scap"
        write_capture(path, args.threads, args.fds)
        size = os.path.getsize(path)
        base = rss_kb()
        t0 = time.process_time()
        state = StateEngine(max_threads=args.threads + 1000)
        n = sum(1 for _ in read_capture(path, state))
        cpu = time.process_time() - t0
        after = rss_kb()
        nthreads = len(state.threads)
        tables = {id(t.fdtable): t.fdtable for t in state.threads.threads.values()}
        nfds = sum(len(tab) for tab in tables.values())
        print(f"capture: {size / 1e6:.1f} MB, {n:,} events; python {sys.version.split()[0]}")
        print(f"tracked: {nthreads:,} threads, {nfds:,} fds in {len(tables):,} fd tables")
        print(f"replay cpu {cpu:.2f} s")
        grown = after - base
        print(
            f"RSS before {base / 1024:.0f} MiB, after {after / 1024:.0f} MiB: "
            f"+{grown / 1024:.0f} MiB, {grown * 1024 / max(nthreads + nfds, 1):.0f} bytes "
            "per tracked thread or fd"
        )
        big = time_exits(state)
        small = time_exits(StateEngine())
        print(
            f"1,000 process exits: {big * 1e3:.0f} ms CPU with {nthreads:,} threads tracked, "
            f"{small * 1e3:.0f} ms with none (yardstick)"
        )
        # yardstick, in a fresh process: the same numbers of threads and fds as tuples
        out = subprocess.run(
            [sys.executable, __file__, "--bare", str(nthreads), str(nfds)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        print(f"yardstick, bare tuples in dicts (fresh process): {out}")
        if args.fd_cap:
            out = subprocess.run(
                [sys.executable, __file__, "--capped", str(path), str(args.threads),
                 str(args.fd_cap)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()  # fmt: skip
            print(f"with the global fd cap (fresh process): RSS {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
