"""The capture writer: metadata blocks round-trip, fixtures survive a rewrite unchanged for
both readers (sysdig 0.29.3 and Lanner's), and ``lanner dump`` prints sysdig's lines."""

from __future__ import annotations

import gzip
import io
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from syscall_testutil import ALL_CAPTURES, SYSDIG, capture

from helpers import missing, require_tool
from lanner.cli import main
from lanner.sources.syscall import read_capture
from lanner.sources.syscall.dump import default_line
from lanner.sources.syscall.scap import FdList, ProcList, ScapReader, SectionHeader, UserList
from lanner.sources.syscall.scap import metadata as md
from lanner.sources.syscall.scap.reader import InterfaceList
from lanner.sources.syscall.scap.writer import (
    ScapWriter,
    encode_event,
    host_interfaces,
    host_machine_info,
    rewrite,
)

SYSDIG_READABLE = [c for c in ALL_CAPTURES if c != "curl_google_comments.scap"]


def _records(data: bytes) -> list[object]:
    return list(ScapReader(io.BytesIO(data)))


def _write(*records: object) -> bytes:
    out = io.BytesIO()
    w = ScapWriter(out)
    for r in records:
        w.write(r)  # type: ignore[arg-type]
    w.flush()
    return out.getvalue()


def test_metadata_round_trip() -> None:
    proc = md.ProcRecord(
        tid=42, pid=41, ptid=1, sid=7, vpgid=8, comm="bash", exe="/bin/bash",
        exepath="/usr/bin/bash", args=["-c", "echo hi"], cwd="/root", fdlimit=1024, flags=3,
        uid=1000, gid=1001, vmsize_kb=10, vmrss_kb=11, vmswap_kb=12, pfmajor=13, pfminor=14,
        env=["A=1", "B=2"], vtid=2, vpid=3, cgroups=[("cpu", "/x"), ("memory", "/y")],
        root="/", pidns_init_start_ts=99, tty=34816, loginuid=1000, exe_writable=True,
        cap_inheritable=1, cap_permitted=2, cap_effective=3, exe_upper_layer=True,
        exe_ino=77, exe_ino_ctime=88, exe_ino_mtime=89, exe_from_memfd=True,
    )  # fmt: skip
    fds = [
        md.FdRecord(fd=0, ino=5, type=md.FD_FILE_V2, name="/dev/pts/0", open_flags=3, dev=0x88),
        md.FdRecord(fd=1, ino=6, type=md.FD_DIRECTORY, name="/etc"),
        md.FdRecord(
            fd=3,
            ino=7,
            type=md.FD_IPV4_SOCK,
            sip="10.0.0.1",
            dip="10.0.0.2",
            sport=5,
            dport=443,
            l4proto=md.L4_TCP,
        ),
        md.FdRecord(fd=4, ino=8, type=md.FD_IPV6_SERVSOCK, sip="::1", sport=22, l4proto=2),
        md.FdRecord(
            fd=5,
            ino=9,
            type=md.FD_IPV6_SOCK,
            sip="::1",
            dip="fe80::1",
            sport=1,
            dport=2,
            l4proto=md.L4_UDP,
        ),
        md.FdRecord(fd=6, ino=10, type=md.FD_IPV4_SERVSOCK, sip="0.0.0.0", sport=80, l4proto=2),
        md.FdRecord(fd=7, ino=11, type=md.FD_UNIX_SOCK, unix_source=1, unix_dest=2, name="/s"),
        md.FdRecord(fd=8, ino=12, type=md.FD_FIFO, name="pipe:[12]"),
        md.FdRecord(fd=9, ino=0, type=md.FD_EVENT, name="anon_inode:[eventfd]"),
    ]
    users = UserList(
        [md.UserRecord(0, 0, "root", "/root", "/bin/bash")], [md.GroupRecord(0, "root")]
    )
    ifaces = InterfaceList(
        [
            md.Interface("lo", 4, "127.0.0.1", "255.0.0.0", "127.255.255.255"),
            md.Interface("eth0", 6, "fe80::1", "ffff:ffff:ffff:ffff::", "::", 1000),
        ]
    )
    mi = md.MachineInfo(4, 1 << 30, 4194304, "host", 123, 0)
    recs = _records(_write(mi, ifaces, users, ProcList([proc]), FdList(41, fds)))
    assert recs == [
        SectionHeader(1, 2, -1, 0),
        mi,
        ifaces,
        users,
        ProcList([proc]),
        FdList(41, fds),
    ]


def test_newer_fd_types_are_written_as_unsupported_for_sysdig() -> None:
    fds = [md.FdRecord(fd=3, ino=0, type=md.FD_MEMFD, name="/memfd:x (deleted)")]
    (_, got) = _records(_write(FdList(1, fds)))
    assert got == FdList(1, [md.FdRecord(fd=3, ino=0, type=md.FD_UNSUPPORTED, name=fds[0].name)])


def test_host_records_encode() -> None:
    mi = host_machine_info()
    assert mi.num_cpus >= 1 and mi.hostname and mi.boot_ts_epoch > 0
    ifaces = host_interfaces()
    recs = _records(_write(mi, ifaces))
    assert recs[1:] == [mi, ifaces]


@pytest.mark.parametrize("name", ALL_CAPTURES)
@pytest.mark.parametrize("compressed", [False, True])
def test_fixture_rewrite_is_read_the_same(name: str, compressed: bool, tmp_path: Path) -> None:
    out = tmp_path / (name + (".gz" if compressed else ""))
    n = rewrite(capture(name), out)
    data = out.read_bytes()
    assert (data[:2] == b"\x1f\x8b") == compressed
    orig = list(read_capture(capture(name)))
    again = list(read_capture(out))
    assert n == len(orig) == len(again)
    assert [default_line(e) for e in again] == [default_line(e) for e in orig]
    for a, b in zip(orig, again, strict=True):
        assert (a.ts, a.tid, a.type, a.cpu, a.dump_flags) == (
            b.ts,
            b.tid,
            b.type,
            b.cpu,
            b.dump_flags,
        )
        assert a.raw_params() == b.raw_params()
    # writing a second time is byte-stable
    out2 = tmp_path / ("2" + out.name)
    rewrite(out, out2)
    raw = gzip.decompress if compressed else (lambda d: d)
    assert raw(out2.read_bytes()) == raw(data)


@pytest.mark.parametrize("name", SYSDIG_READABLE)
def test_sysdig_reads_the_rewrite_identically(name: str, tmp_path: Path) -> None:
    require_tool("sysdig", "sysdig")
    out = tmp_path / (name + ".gz")
    rewrite(capture(name), out)

    def run(path: Path) -> str:
        r = subprocess.run([SYSDIG, "-r", str(path)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout

    want = run(capture(name))
    assert want.count("\n") > 20
    assert run(out) == want


def test_sysdig_reads_a_capture_it_could_not_read_before(tmp_path: Path) -> None:
    """curl_google_comments.scap has section-header options sysdig 0.29 refuses; the
    rewrite drops them and gives the same lines as its twin without comments."""
    if SYSDIG is None:
        missing("sysdig", "sysdig")
    out = tmp_path / "c.scap"
    rewrite(capture("curl_google_comments.scap"), out)
    r = subprocess.run([SYSDIG, "-r", str(out)], capture_output=True, text=True, timeout=60)
    twin = subprocess.run(
        [SYSDIG, "-r", str(capture("curl_google.scap"))], capture_output=True, text=True
    )
    assert r.returncode == 0 and r.stdout == twin.stdout


def test_event_flags_pick_the_block_type() -> None:
    ev = next(read_capture(capture("sample.scap")))
    plain = encode_event(ev, 0)
    flagged = encode_event(ev, 5)
    assert int.from_bytes(plain[:4], "little") in (0x216, 0x221)
    assert int.from_bytes(flagged[:4], "little") in (0x217, 0x222)
    data = io.BytesIO()
    w = ScapWriter(data)
    w.event(ev, 5)
    w.flush()
    back = [r for r in ScapReader(io.BytesIO(data.getvalue())) if not isinstance(r, SectionHeader)]
    assert back[0].dump_flags == 5 and back[0].raw_params() == ev.raw_params()


# -- lanner dump --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flt", [None, "evt.type=open and fd.name contains etc", "proc.name=curl and evt.dir=<"]
)
def test_dump_prints_sysdig_lines(flt: str | None) -> None:
    require_tool("sysdig", "sysdig")
    path = str(capture("curl_google.scap"))
    args = ["dump", "-e", path] + ([flt] if flt else [])
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    sd = subprocess.run(
        [SYSDIG, "-r", path] + ([flt] if flt else []), capture_output=True, text=True, timeout=60
    )
    assert res.output == sd.stdout and res.output.count("\n") > 2


def test_dump_filter_words_are_joined_and_errors_reported() -> None:
    path = str(capture("curl_google.scap"))
    res = CliRunner().invoke(main, ["dump", "-e", path, "evt.type", "=", "connect"])
    assert (
        res.exit_code == 0
        and res.output
        and all(" connect " in ln for ln in res.output.splitlines())
    )
    bad = CliRunner().invoke(main, ["dump", "-e", path, "evt.type = open and"])
    assert bad.exit_code == 2 and "FILTER" in bad.output
    unknown = CliRunner().invoke(main, ["dump", "-e", path, "no.such.field = 1"])
    assert unknown.exit_code == 2 and "no.such.field" in unknown.output


def test_dump_reports_a_damaged_file(tmp_path: Path) -> None:
    data = capture("curl_google.scap").read_bytes()
    bad = tmp_path / "cut.scap"
    bad.write_bytes(data[: len(data) // 2])
    res = CliRunner().invoke(main, ["dump", "-e", str(bad)])
    assert res.exit_code == 1 and "cut.scap: cannot decompress" in res.output
    assert res.output.count("\n") > 10  # what came before the damage is printed
