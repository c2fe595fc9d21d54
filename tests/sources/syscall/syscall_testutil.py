"""Helpers for the syscall source tests: the real captures and a sysdig oracle."""

from __future__ import annotations

import gzip
import shutil
import struct
import subprocess
from pathlib import Path

from hypothesis import strategies as st

from helpers import missing, shared_fixture

CAPTURES = shared_fixture("captures")
ALL_CAPTURES = sorted(p.name for p in CAPTURES.glob("*.scap"))
SYSDIG = shutil.which("sysdig")


def capture(name: str) -> Path:
    """Path of a shared fixture capture."""
    return CAPTURES / name


def raw_bytes(name: str) -> bytes:
    """The decompressed bytes of a fixture capture."""
    data = capture(name).read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def sysdig_lines(name: str, fmt: str, flt: str | None = None) -> list[str]:
    """Run ``sysdig -r`` on a fixture and return its output lines (skips without sysdig)."""
    if SYSDIG is None:
        missing("sysdig", "sysdig")
    cmd = [SYSDIG, "-r", str(capture(name)), "-p", fmt]
    if flt:
        cmd.append(flt)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    return [line for line in out.stdout.split("\n") if line]


SYSDIG_UNKNOWN_FROM = 354
"""sysdig 0.29.3 predates event ids from 354 on (useradded, groupadded in sample.scap): it
skips them without numbering them, so its evt.num is ours minus the skipped ones."""


def sysdig_numbering(events: list) -> dict[int, object]:  # type: ignore[type-arg]
    """Map sysdig 0.29's evt.num to our events (ours skip nothing)."""
    out = {}
    n = 0
    for e in events:
        if e.type >= SYSDIG_UNKNOWN_FROM:
            continue
        n += 1
        out[n] = e
    return out


# -- a tiny capture writer for synthetic scenarios ----------------------------------------

_SIZES = {1: "b", 2: "h", 4: "i", 8: "q"}


def _param_bytes(ptype: int, value: object) -> bytes:
    from lanner.sources.syscall import event_table as et

    if isinstance(value, bytes):
        return value
    if ptype in (et.PT_CHARBUF, et.PT_FSPATH, et.PT_FSRELPATH):
        return str(value).encode() + b"\0"
    size = {
        et.PT_INT8: 1,
        et.PT_UINT8: 1,
        et.PT_SIGTYPE: 1,
        et.PT_L4PROTO: 1,
        et.PT_SOCKFAMILY: 1,
        et.PT_FLAGS8: 1,
        et.PT_ENUMFLAGS8: 1,
        et.PT_INT16: 2,
        et.PT_UINT16: 2,
        et.PT_SYSCALLID: 2,
        et.PT_PORT: 2,
        et.PT_FLAGS16: 2,
        et.PT_ENUMFLAGS16: 2,
        et.PT_INT32: 4,
        et.PT_UINT32: 4,
        et.PT_FLAGS32: 4,
        et.PT_ENUMFLAGS32: 4,
        et.PT_UID: 4,
        et.PT_GID: 4,
        et.PT_MODE: 4,
        et.PT_SIGSET: 4,
        et.PT_BOOL: 4,
        et.PT_FD32: 4,
        et.PT_PID32: 4,
    }.get(ptype, 8)
    v = int(value)  # type: ignore[call-overload]
    fmt = "<" + (_SIZES[size] if v < 0 else _SIZES[size].upper())
    return struct.pack(fmt, v)


def block(btype: int, body: bytes) -> bytes:
    """One block: type, length, body padded to 4 bytes, length."""
    body += b"\0" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def section_header() -> bytes:
    """A section header block (version 1.2)."""
    return block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 2, -1))


def proc_v1(tid: int, pid: int, ptid: int, comm: str, exe: str, args: list[str], cwd: str,
            uid: int = 0, gid: int = 0) -> bytes:  # fmt: skip
    """One process-list (v1) entry."""

    def s16(b: bytes) -> bytes:
        return struct.pack("<H", len(b)) + b

    argb = b"".join(a.encode() + b"\0" for a in args)
    return (
        struct.pack("<qqq", tid, pid, ptid)
        + s16(comm.encode())
        + s16(exe.encode())
        + s16(argb)
        + s16(cwd.encode())
        + struct.pack("<QIII", 1024, 0, uid, gid)
    )


def event(etype: int, tid: int, ts: int, **values: object) -> bytes:
    """An EV_V2 event block; parameters not given are zero/empty, all are written."""
    from lanner.sources.syscall import event_table as et

    params = et.EVENT_PARAMS[etype]
    raws = []
    for name, ptype, _fmt in params:
        v = values.pop(name, None)
        if v is None:
            v = "" if ptype in (et.PT_CHARBUF, et.PT_FSPATH, et.PT_FSRELPATH) else 0
            if ptype in (et.PT_BYTEBUF, et.PT_SOCKTUPLE, et.PT_SOCKADDR, et.PT_DYN):
                v = b""
        raws.append(_param_bytes(ptype, v))
    if values:
        raise ValueError(f"unknown params {sorted(values)} for {et.EVENT_NAMES[etype]}")
    large = bool(et.EVENT_FLAGS[etype] & et.EF_LARGE_PAYLOAD)
    lens = b"".join(struct.pack("<I" if large else "<H", len(r)) for r in raws)
    body = lens + b"".join(raws)
    hdr = struct.pack("<QqIHI", ts, tid, 26 + len(body), etype, len(raws))
    return block(0x216, struct.pack("<H", 0) + hdr + body)


def ipv4_tuple(sip: str, sport: int, dip: str, dport: int) -> bytes:
    """A PT_SOCKTUPLE for AF_INET."""
    import socket

    return (
        b"\x02"
        + socket.inet_aton(sip)
        + struct.pack("<H", sport)
        + socket.inet_aton(dip)
        + struct.pack("<H", dport)
    )


def byte_flips(data: bytes) -> st.SearchStrategy[list[tuple[int, int]]]:
    """1 to 12 (offset, new byte value) changes to make in ``data`` (fuzzing)."""
    return st.lists(
        st.tuples(st.integers(min_value=0, max_value=len(data) - 1), st.integers(0, 255)),
        min_size=1,
        max_size=12,
    )
