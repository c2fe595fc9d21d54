"""``lanner capture`` on this host: the file is read by sysdig 0.29.3 and by ``lanner dump``
with the same events, line by line (root, kernel BTF and the built probe, else skipped)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest
from capture_testutil import LANNER, capture_while, live_skip_reason
from sysdig_compare import SYSDIG, compare

from helpers import missing, shared_fixture
from lanner.sources.syscall import read_capture
from lanner.sources.syscall.scap import FdList, ProcList, ScapReader, UserList


@pytest.fixture(scope="module")
def live() -> None:
    reason = live_skip_reason()
    if reason:
        pytest.skip(reason)


def _actions(tmp: Path) -> None:
    subprocess.run(["cat", "/etc/shadow"], stdout=subprocess.DEVNULL, check=True)
    subprocess.run(["ls", "/etc"], stdout=subprocess.DEVNULL, check=True)
    f = tmp / "written.txt"
    subprocess.run(["sh", "-c", f"echo hi > {f} && rm {f}"], check=True)
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        subprocess.run(
            ["python3", "-c", f"import socket; socket.create_connection(('127.0.0.1', {port}))"],
            check=True,
        )
        conn, _ = srv.accept()
        conn.close()


def _dump(path: Path, *flt: str) -> list[str]:
    r = subprocess.run(
        [*LANNER, "dump", "-e", str(path), *flt], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


@pytest.mark.parametrize("name", ["live.scap", "live.scap.gz"])
def test_capture_is_read_alike_by_sysdig_and_lanner(live: None, tmp_path: Path, name: str) -> None:
    """Our own process tree (this test and what it runs), every line strictly compared;
    the filter keeps the comparison independent of what else runs on the host."""
    path = tmp_path / name
    me = os.getpid()
    res = capture_while(path, lambda: _actions(tmp_path), f"proc.pid = {me} or proc.apid = {me}")
    assert res.returncode == 0, res.stderr
    assert "wrote" in res.stderr
    data = path.read_bytes()
    assert (data[:2] == b"\x1f\x8b") == name.endswith(".gz")

    kinds = [type(r) for r in ScapReader(path) if not hasattr(r, "raw_params")]
    assert UserList in kinds and ProcList in kinds and kinds.count(FdList) > 3

    lines = _dump(path)
    assert any(" cat " in ln and "/etc/shadow" in ln and " openat " in ln for ln in lines)
    assert any(" connect " in ln and "127.0.0.1" in ln for ln in lines)
    if SYSDIG is None:
        missing("sysdig", "sysdig")
    c = compare(path)
    assert c.ok, (c.sysdig_lines, c.lanner_lines, c.mismatches[:5])
    assert c.sysdig_lines > 50 and c.identical + c.prefix + c.table > 0.9 * c.sysdig_lines


def test_whole_host_capture_is_read_alike(live: None, tmp_path: Path) -> None:
    """Everything the host does for a few seconds: every line is the same event for both
    readers; arguments differ beyond the known table differences on under 1 % of lines
    (other processes may do things no normalization covers yet: they are printed)."""
    if SYSDIG is None:
        missing("sysdig", "sysdig")
    path = tmp_path / "host.scap.gz"
    res = capture_while(path, lambda: _actions(tmp_path))
    assert res.returncode == 0, res.stderr
    c = compare(path)
    assert c.sysdig_lines == c.lanner_lines > 50
    assert c.other_events == 0, c.mismatches[:5]
    assert len(c.mismatches) <= 0.01 * c.sysdig_lines, c.mismatches[:5]
    for s, mine in c.mismatches:
        print(f"sysdig: {s}\nlanner: {mine}")


def test_capture_filter_and_dump_filter(live: None, tmp_path: Path) -> None:
    path = tmp_path / "shadow.scap"
    flt = "evt.type in (open, openat, openat2) and fd.name = /etc/shadow"
    res = capture_while(path, lambda: _actions(tmp_path), flt)
    assert res.returncode == 0, res.stderr
    events = list(read_capture(path))
    assert events and all(e.fdinfo is not None for e in events)
    assert {e.fdinfo.name for e in events} == {"/etc/shadow"}  # type: ignore[union-attr]
    # like `sysdig -w FILE FILTER`, only matching events are written: the cat process
    # began after the snapshot and its exec was filtered out, so it is not named
    lines = _dump(path, "fd.name = /etc/shadow")
    assert len(lines) == len(events) and all("/etc/shadow" in ln for ln in lines)
    assert _dump(path, "fd.name = /etc/passwd") == []


def test_capture_duration_and_bad_filter(live: None, tmp_path: Path) -> None:
    path = tmp_path / "short.scap"
    r = subprocess.run(
        [*LANNER, "capture", "-q", "-w", str(path), "-M", "0.5"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0 and r.stderr == ""
    assert len(list(ScapReader(path))) > 3
    bad = subprocess.run(
        [*LANNER, "capture", "-w", str(tmp_path / "x.scap"), "evt.type = ("],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2 and "FILTER" in bad.stderr
    assert not (tmp_path / "x.scap").exists()


def test_capture_needs_root(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *LANNER]
    else:
        cmd = list(LANNER)
    r = subprocess.run(
        [*cmd, "capture", "-w", "/tmp/never-written.scap", "-M", "1"],
        capture_output=True, text=True, timeout=60, cwd="/",
    )  # fmt: skip
    assert r.returncode == 1 and "root" in r.stderr.lower(), r.stderr


def test_replayed_capture_raises_the_live_alerts(live: None, tmp_path: Path) -> None:
    """A capture written by Lanner replays through ``lanner run -e`` with upstream rules."""
    rules = shared_fixture("rules", "falco_rules.yaml").parent
    peeker = tmp_path / "peeker"
    peeker.write_bytes(Path("/usr/bin/cat").read_bytes())
    peeker.chmod(0o755)
    path = tmp_path / "peek.scap.gz"

    def act() -> None:
        subprocess.run([str(peeker), "/etc/shadow"], stdout=subprocess.DEVNULL, check=True)

    assert capture_while(path, act).returncode == 0
    r = subprocess.run(
        [*LANNER, "run", "-e", str(path), "-r", str(rules / "falco_rules.yaml"),
         "-o", "json_output=true"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    alerts = [json.loads(ln) for ln in r.stdout.splitlines() if ln.startswith("{")]
    mine = [a for a in alerts if a["output_fields"].get("proc.name") == "peeker"]
    assert [a["rule"] for a in mine] == ["Read sensitive file untrusted"], r.stderr[-2000:]
    of = mine[0]["output_fields"]
    assert of["fd.name"] == "/etc/shadow" and of["proc.exepath"] == str(peeker)
    assert of["proc.cmdline"] == "peeker /etc/shadow"
