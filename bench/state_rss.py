"""State-table memory: RSS with 100,000 threads and 1,000,000 fds tracked.

Writes a capture (to a temporary file) whose process list holds ``--threads`` threads
(100 processes of ``--threads / 100`` threads each, shared fd tables) and whose events
open ``--fds`` files spread over those processes (openat exits, at most 10,000 per
process: the per-process cap is 65,536), replays it through the state engine
(``read_capture``), and reports the process's RSS before and after, per thread and per
fd. Yardstick in the same run: the RSS of the same interpreter with lanner imported and
nothing tracked, and the RSS of the same threads and fds as bare Python tuples.

Usage: python bench/state_rss.py [--threads 100000] [--fds 1000000]
"""

from __future__ import annotations

import argparse
import os
import struct
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


def write_capture(path: Path, threads: int, fds: int) -> None:
    per_proc = threads // PROCS
    with open(path, "wb") as f:
        f.write(block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 2, -1)))
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=100_000)
    ap.add_argument("--fds", type=int, default=1_000_000)
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
        # yardstick: the same numbers of threads and fds as bare tuples
        del state, tables
        b0 = rss_kb()
        bare_t = {i: (i, i, 1, "worker", "/usr/bin/worker", "/srv/") for i in range(nthreads)}
        bare_f = {i: (i, 16, f"/srv/data/file-{i:07d}", 1) for i in range(nfds)}
        b1 = rss_kb()
        print(
            f"yardstick, bare tuples in dicts: +{(b1 - b0) / 1024:.0f} MiB "
            f"({len(bare_t) + len(bare_f):,} entries)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
