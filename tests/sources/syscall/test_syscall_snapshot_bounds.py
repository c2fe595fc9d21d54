"""The /proc snapshot of a process that reserves more address space than a process list's
32-bit kB fields hold (an AddressSanitizer build does) is written, the sizes capped."""

from __future__ import annotations

import io
import subprocess
import sys

from lanner.sources.syscall.probe import snapshot
from lanner.sources.syscall.scap import ScapReader
from lanner.sources.syscall.scap.reader import ProcList
from lanner.sources.syscall.scap.writer import ScapWriter

RESERVE = """
import mmap, sys, time
m = mmap.mmap(-1, 5 << 40, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | 0x4000)  # NORESERVE
print("ok", flush=True)
time.sleep(60)
"""


def test_huge_address_space_is_capped_not_fatal() -> None:
    proc = subprocess.Popen([sys.executable, "-c", RESERVE], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ok"
        with open(f"/proc/{proc.pid}/status") as fh:
            vmsize = next(int(ln.split()[1]) for ln in fh if ln.startswith("VmSize:"))
        assert vmsize > 0xFFFFFFFF  # 5 TiB in kB
        buf = io.BytesIO()
        with ScapWriter(buf) as w:
            for rec in snapshot.snapshot():
                w.write(rec)
        data = buf.getvalue()
        mine = [
            t
            for rec in ScapReader(io.BytesIO(data))
            if isinstance(rec, ProcList)
            for t in rec.threads
            if t.tid == proc.pid
        ]
        assert mine and mine[0].vmsize_kb == 0xFFFFFFFF
    finally:
        proc.kill()
        proc.wait()
