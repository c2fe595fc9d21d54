"""The .scap reader against the real fixtures and against damaged input."""

from __future__ import annotations

import collections
import gzip
import io

import pytest
from syscall_testutil import capture, raw_bytes, sysdig_lines, sysdig_numbering

from lanner.exceptions import ScapError
from lanner.sources.syscall import event_table as et
from lanner.sources.syscall.event import Event
from lanner.sources.syscall.scap import FdList, ProcList, ScapReader, UserList
from lanner.sources.syscall.scap.metadata import MachineInfo

EXPECTED_BLOCKS = {
    "curl_google.scap": (1536, 54),
    "curl_google_comments.scap": (1536, 54),
    "sample.scap": (572, 94),
    "single_ipv6_conn.scap": (1728, 154),
    "test_ipv6_client.scap": (326, 58),
}


def test_event_table_is_complete() -> None:
    assert et.EVENT_COUNT == 454
    assert et.EVENT_NAMES[et.PPME_SYSCALL_OPEN_E] == "open"
    assert et.EVENT_DIRS[et.PPME_SYSCALL_OPEN_X] == "<"
    assert et.EVENT_PARAMS[et.PPME_SYSCALL_OPEN_E][0] == ("name", et.PT_FSPATH, et.PF_NA)
    assert et.EVENT_FLAGS[et.PPME_SYSCALL_OPEN_E] & et.EF_CREATES_FD
    assert et.SYSCALL_CODE_NAMES[75] == "mprotect"


def test_generated_table_is_up_to_date() -> None:
    import importlib.util
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    spec = importlib.util.spec_from_file_location("gen", root / "scripts" / "gen_event_table.py")
    gen = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(gen)  # type: ignore[union-attr]
    table = json.loads(gen.DEFAULT_JSON.read_text())
    rendered = gen.render(table)
    module = root / "src" / "lanner" / "sources" / "syscall" / "event_table.py"
    # the checked-in module is the generator's output, formatted by ruff
    ns: dict[str, object] = {}
    exec(compile(rendered, "rendered", "exec"), ns)
    assert ns["EVENT_PARAMS"] == et.EVENT_PARAMS
    assert ns["EVENT_NAMES"] == et.EVENT_NAMES
    assert ns["SYSCALL_CODE_NAMES"] == et.SYSCALL_CODE_NAMES
    assert ns["EVENT_FLAGS"] == et.EVENT_FLAGS
    assert module.is_file()


def test_counts_per_fixture(capture_name: str) -> None:
    reader = ScapReader(capture(capture_name))
    kinds = collections.Counter(type(r).__name__ for r in reader)
    n_events, n_fdlists = EXPECTED_BLOCKS[capture_name]
    assert kinds["Event"] == n_events
    assert kinds["FdList"] == n_fdlists
    assert kinds["ProcList"] == 1
    assert kinds["MachineInfo"] == 1
    assert kinds["UserList"] == 1
    assert reader.skipped_blocks == []


def test_plain_and_gzip_give_the_same_events() -> None:
    plain = raw_bytes("curl_google.scap")
    a = [(e.num, e.type, e.tid, e.ts) for e in ScapReader(io.BytesIO(plain)).events()]
    b = [(e.num, e.type, e.tid, e.ts) for e in ScapReader(capture("curl_google.scap")).events()]
    assert a == b and len(a) == 1536


def test_section_header_options_are_skipped() -> None:
    recs = list(ScapReader(capture("curl_google_comments.scap")))
    assert recs[0].options_len > 0  # type: ignore[union-attr]
    a = [(e.type, e.tid, e.raw_params()) for e in recs if isinstance(e, Event)]
    b = [(e.type, e.tid, e.raw_params()) for e in ScapReader(capture("curl_google.scap")).events()]
    assert a == b


def test_metadata_decoded() -> None:
    recs = list(ScapReader(capture("sample.scap")))
    mi = next(r for r in recs if isinstance(r, MachineInfo))
    assert mi.hostname == "ubuntu2204.localdomain"
    procs = next(r for r in recs if isinstance(r, ProcList)).threads
    by_tid = {p.tid: p for p in procs}
    assert by_tid[1].pid == 1 and by_tid[1].comm == "systemd"
    users = next(r for r in recs if isinstance(r, UserList)).users
    assert any(u.uid == 0 and u.name == "root" for u in users)
    fdl = [r for r in recs if isinstance(r, FdList)]
    assert any(f.name.startswith("/") for r in fdl for f in r.fds)


def test_types_and_directions_match_sysdig(capture_name: str) -> None:
    if capture_name == "curl_google_comments.scap":
        pytest.skip("sysdig 0.29 cannot read section-header options")
    lines = sysdig_lines(capture_name, "%evt.num %evt.type %evt.dir")
    ours = sysdig_numbering(list(ScapReader(capture(capture_name)).events()))
    assert len(lines) > 20
    for line in lines:
        num, etype, edir = line.split(" ")
        e = ours[int(num)]
        assert (e.name, e.dir) == (etype, edir), line


def test_params_decoded() -> None:
    evs = list(ScapReader(capture("curl_google.scap")).events())
    op = evs[218]
    assert (op.name, op.dir) == ("open", "<")
    assert op.arg("name") == "/etc/ld.so.cache"
    assert op.arg("fd") == 3
    assert op.arg("flags").names == ("O_RDONLY", "O_CLOEXEC")
    acc = evs[214]
    assert acc.res == -2 and acc.arg("res").name == "ENOENT"
    connects = [e for e in evs if e.name == "connect" and e.dir == "<"]
    tuples = [e.arg("tuple") for e in connects if e.arg("tuple") is not None]
    assert any(t.dport == 80 for t in tuples if t.dport is not None)


# -- hostile input -------------------------------------------------------------------


def _read_all(data: bytes) -> tuple[list[object], ScapError | None]:
    out: list[object] = []
    try:
        for rec in ScapReader(io.BytesIO(data)):
            out.append(rec)
    except ScapError as exc:
        return out, exc
    return out, None


def test_empty_file_is_an_error() -> None:
    out, err = _read_all(b"")
    # An empty stream holds no section header: nothing yielded, no crash.
    assert (out == [] and err is None) or err is not None


def test_garbage_is_an_error_with_offset() -> None:
    out, err = _read_all(b"this is not a capture file at all, no sir")
    assert out == []
    assert err is not None and err.offset == 0


def test_truncated_file_yields_events_before_the_damage() -> None:
    data = raw_bytes("curl_google.scap")
    full = [e.num for e in ScapReader(io.BytesIO(data)).events()]
    cut = len(data) - 5000
    out, err = _read_all(data[:cut])
    assert err is not None
    assert "truncated" in str(err) and err.offset <= cut
    events = [r for r in out if isinstance(r, Event)]
    assert 0 < len(events) < len(full)
    assert [e.num for e in events] == full[: len(events)]


def test_truncated_gzip_is_an_error() -> None:
    data = capture("curl_google.scap").read_bytes()
    out, err = _read_all(data[: len(data) // 2])
    assert err is not None
    assert any(isinstance(r, Event) for r in out)


def test_bad_trailer_is_an_error() -> None:
    data = bytearray(raw_bytes("curl_google.scap"))
    # Corrupt the trailer of the first block (the section header).
    length = int.from_bytes(data[4:8], "little")
    data[length - 4 : length] = (length + 4).to_bytes(4, "little")
    out, err = _read_all(bytes(data))
    assert out == [] and err is not None and err.offset == 0


def test_unknown_block_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    data = raw_bytes("curl_google.scap")
    shb_len = int.from_bytes(data[4:8], "little")
    body = b"\x00" * 8
    block = (0x7777).to_bytes(4, "little") + (20).to_bytes(4, "little") + body
    block += (20).to_bytes(4, "little")
    patched = data[:shb_len] + block + data[shb_len:]
    reader = ScapReader(io.BytesIO(patched))
    n = sum(1 for _ in reader.events())
    assert n == 1536
    assert reader.skipped_blocks == [(shb_len, 0x7777)]
    assert "unknown block type 0x7777" in caplog.text


def test_gzip_of_plain_reads_the_same() -> None:
    data = raw_bytes("test_ipv6_client.scap")
    a = sum(1 for _ in ScapReader(io.BytesIO(gzip.compress(data))).events())
    assert a == 326


def test_progress_is_reported(tmp_path: object) -> None:
    from pathlib import Path

    from lanner.sources.syscall.pipeline import CaptureFile, SyscallPipeline

    big = Path(str(tmp_path)) / "big.scap"
    data = raw_bytes("sample.scap")
    shb = int.from_bytes(data[4:8], "little")
    # headers once, then the event blocks many times
    body = data[shb:]
    evblocks = b""
    pos = 0
    while pos < len(body):
        btype = int.from_bytes(body[pos : pos + 4], "little")
        blen = int.from_bytes(body[pos + 4 : pos + 8], "little")
        if btype == 0x216:
            evblocks += body[pos : pos + blen]
        pos += blen
    big.write_bytes(data + evblocks * 80)  # about 3.3 MB: several 1 MiB reads
    replay = SyscallPipeline(CaptureFile(big))
    seen = []
    for i, _e in enumerate(replay):
        if i % 1000 == 0:
            seen.append(replay.progress())
    assert replay.progress() == 1.0
    assert all(p is not None and 0 < p <= 1 for p in seen)
    assert seen == sorted(seen) and seen[0] < 1.0
