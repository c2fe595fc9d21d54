"""Falco's ``capture`` (0.41+): alerts of rules with ``capture: true`` (or every rule with
``capture.mode: all_rules``) write a .scap of the events from the alert on, which sysdig
and ``lanner dump`` read. Run as a user would: ``lanner run -e`` on a real capture, and a
live run with the probe."""

from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path

from helpers import require_tool

from .helpers import (
    FIXTURES,
    LANNER,
    ROOT,
    capturing_lanner,
    needs_probe,
    run_lanner,
    wait_until,
)

CURL = str(FIXTURES / "captures" / "curl_google.scap")
CURL_EXEC_NUM = 211  # the curl execve exit in curl_google.scap (sysdig's evt.num)
CURL_EXEC_TS = 1534527348514632619


def _rules(tmp_path: Path, extra: str = "") -> Path:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "- rule: Curl\n  desc: d\n"
        "  condition: evt.type = execve and evt.dir = < and proc.name = curl\n"
        "  output: curl ran (parent=%proc.pname)\n  priority: WARNING\n" + extra
    )
    return rules


def _sysdig(*args: str) -> list[str]:
    sysdig = require_tool("sysdig", "sysdig")
    res = subprocess.run([sysdig, *args], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return res.stdout.splitlines()


def _expected_nums(duration_ms: int) -> list[int]:
    """Event numbers of the source file a capture opened at the curl execve holds: that
    event and every later one up to and including the first at or past the deadline
    (Falco writes an event, then checks the deadline), read by sysdig itself."""
    deadline = CURL_EXEC_TS + duration_ms * 1_000_000
    nums = []
    for line in _sysdig("-r", CURL, "-p", "%evt.num %evt.rawtime"):
        num, ts = map(int, line.split())
        if num >= CURL_EXEC_NUM:
            nums.append(num)
            if ts >= deadline:
                break
    return nums


def test_rule_with_capture_writes_a_scap_sysdig_and_lanner_dump_read(tmp_path: Path) -> None:
    rules = _rules(tmp_path, "  capture: true\n  capture_duration: 40\n")
    prefix = tmp_path / "cap" / "falco"
    prefix.parent.mkdir()
    res = run_lanner(
        "-r", str(rules), "-e", CURL, "-o", "json_output=true",
        "-o", "capture.enabled=true", "-o", f"capture.path_prefix={prefix}",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    (alert,) = [json.loads(ln) for ln in res.stdout.splitlines() if ln.startswith(b"{")]
    assert alert["rule"] == "Curl" and "capture" not in json.dumps(alert)  # as Falco's JSON
    # Falco's name: prefix, the alert's event time and number, 20 digits each
    (path,) = prefix.parent.iterdir()
    assert path.name == f"falco_{CURL_EXEC_TS:020d}_{CURL_EXEC_NUM:020d}.scap"
    assert path.read_bytes()[:2] == b"\x1f\x8b"  # gzip-compressed, as Falco's dumper
    assert path.stat().st_mode & 0o077 == 0  # readable by its owner only
    assert str(path) in res.stderr.decode()  # "capture written: PATH (N events)"
    expected = _expected_nums(40)
    assert 100 < len(expected) < 1200  # the deadline fell inside the file
    lines = _sysdig("-r", str(path), "-p", "%evt.type %evt.dir %proc.name %proc.pname")
    assert len(lines) == len(expected)
    # the first event is the alert's; the processes known before it are in the file
    # (libsinsp's dumper writes its thread table on open): curl's parent is bash
    assert lines[0] == "execve < curl bash"
    ours = subprocess.run(
        [*LANNER[:-1], "dump", "-e", str(path)], capture_output=True, text=True, cwd=ROOT
    )
    assert ours.returncode == 0, ours.stderr
    assert len(ours.stdout.splitlines()) == len(expected)
    # and a replay of it raises the same alert
    again = run_lanner("-r", str(_rules(tmp_path)), "-e", str(path))
    assert b"Warning curl ran (parent=bash)" in again.stdout


def test_default_duration_and_modes(tmp_path: Path) -> None:
    prefix = tmp_path / "c"
    base = ("-e", CURL, "-o", "capture.enabled=true", "-o", f"capture.path_prefix={prefix}")
    # mode rules: a rule without capture: true opens nothing
    res = run_lanner("-r", str(_rules(tmp_path)), *base)
    assert res.returncode == 0 and b"Warning curl ran" in res.stdout, res.stderr
    assert not list(tmp_path.glob("c_*.scap"))
    # all_rules: every alert opens one, for capture.default_duration ms
    res = run_lanner(
        "-r", str(_rules(tmp_path)), *base,
        "-o", "capture.mode=all_rules", "-o", "capture.default_duration=10",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    (path,) = tmp_path.glob("c_*.scap")
    assert len(_sysdig("-r", str(path))) == len(_expected_nums(10))
    # capture.enabled false (the default): the rule key changes nothing
    path.unlink()
    rules = _rules(tmp_path, "  capture: true\n")
    res = run_lanner("-r", str(rules), "-e", CURL, "-o", f"capture.path_prefix={prefix}")
    assert res.returncode == 0 and not list(tmp_path.glob("c_*.scap"))


def test_capture_settings_and_rule_keys_are_checked(tmp_path: Path) -> None:
    res = run_lanner("--dry-run", "-o", "capture.mode=some_rules")
    assert res.returncode == 1 and res.stderr.decode().splitlines()[-1].startswith("Error: ")
    assert b"capture.mode" in res.stderr
    res = run_lanner("--dry-run", "-o", "capture.default_duration=-1")
    assert res.returncode == 1 and b"capture.default_duration" in res.stderr
    bad = _rules(tmp_path, "  capture: true\n  capture_duration: soon\n")
    res = run_lanner("-V", str(bad))
    assert res.returncode == 1
    assert b"Can't decode YAML scalar value for key 'capture_duration'" in res.stdout
    # the keys are read, overridable, and described as Falco's -L JSON shows them
    rules = _rules(tmp_path, "  capture: true\n  capture_duration: 250\n")
    over = tmp_path / "over.yaml"
    over.write_text(
        "- rule: Curl\n  capture_duration: 900\n  override:\n    capture_duration: replace\n"
    )
    res = run_lanner("-r", str(rules), "-r", str(over), "-L", "-o", "json_output=true")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)["rules"][0]["info"]
    assert (info["capture"], info["capture_duration"]) == (True, 900)


@needs_probe()
def test_live_alert_writes_a_capture_of_the_host(tmp_path: Path) -> None:
    """Live: reading a marker file alerts and opens a capture holding that open, with
    cat's process, readable by sysdig."""
    marker = tmp_path / "marker.txt"
    marker.write_text("x")
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "- rule: Marker read\n  desc: d\n  priority: WARNING\n"
        f"  condition: evt.type in (open, openat, openat2) and fd.name = {marker}\n"
        "  output: marker opened by %proc.name\n  capture: true\n  capture_duration: 300\n"
    )
    prefix = tmp_path / "live"
    proc, out, err = capturing_lanner(
        "-r", str(rules), "-o", "capture.enabled=true", "-o", f"capture.path_prefix={prefix}"
    )  # fmt: skip
    try:

        def opened() -> bool:
            subprocess.run(["cat", str(marker)], capture_output=True, check=True)
            return "marker opened by cat" in out.text()

        wait_until(opened, 60, "the alert")

        def closed() -> bool:
            # the capture ends at the first event read past its deadline: make events (an
            # idle host may have none of the captured types for a while)
            subprocess.run(["cat", "/etc/hostname"], capture_output=True, check=True)
            return "capture written" in err.text()

        wait_until(closed, 30, "the capture closed")
    finally:
        proc.terminate()
        proc.wait(30)
    files = sorted(tmp_path.glob("live_*.scap"))
    assert files, err.text()
    with gzip.open(files[0]) as fh:
        assert fh.read(4) == b"\x0a\x0d\x0d\x0a"  # a pcapng-style section header
    lines = _sysdig("-r", str(files[0]), "-p", "%evt.type %proc.name %fd.name")
    assert any(ln.startswith("open") and f"cat {marker}" in ln for ln in lines), lines[:20]


def test_max_file_size_stops_the_capture_with_falcos_internal_alert(tmp_path: Path) -> None:
    """capture.max_file_size_mb is a hard stop: 4 MiB of incompressible writes, a 1 MB
    limit: the file stops past 1 MiB on disk (approximately, as Falco's check), the
    internal alert says so, and the file still reads."""
    import os
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sources" / "syscall"))
    from syscall_testutil import block, event, proc_v1, section_header

    from lanner.sources.syscall import event_table as et

    data = section_header() + block(0x202, proc_v1(7, 7, 1, "writer", "/bin/writer", [], "/"))
    t0 = 1_700_000_000_000_000_000
    for i in range(72):
        ts = t0 + i * 1_000_000
        data += event(et.PPME_SYSCALL_WRITE_E, 7, ts, fd=3, size=60000)
        data += event(et.PPME_SYSCALL_WRITE_X, 7, ts + 1, res=60000, data=os.urandom(60000))
    cap = tmp_path / "writes.scap"
    cap.write_bytes(data)
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "- rule: First write\n  desc: d\n  condition: evt.type = write and evt.dir = <"
        " and proc.name = writer and evt.rawarg.res = 60000\n"
        "  output: wrote %evt.rawarg.res\n  priority: NOTICE\n  capture: true\n"
    )
    prefix = tmp_path / "big"
    res = run_lanner(
        "-r", str(rules), "-e", str(cap), "-o", "json_output=true",
        "-o", "capture.enabled=true", "-o", f"capture.path_prefix={prefix}",
        "-o", "capture.max_file_size_mb=1", "-o", "rule_matching=first",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    docs = [json.loads(ln) for ln in res.stdout.splitlines() if ln.startswith(b"{")]
    limits = [d for d in docs if d["rule"] == "Falco internal: capture size limit reached"]
    assert limits, res.stderr
    first = limits[0]
    assert first["output"] == "Falco internal: capture size limit reached. Configured limit: 1 MB."
    assert (first["source"], first["priority"], "tags" in first) == (
        "internal", "Informational", False,
    )  # fmt: skip
    assert first["output_fields"]["max_file_size_mb"] == 1
    assert first["output_fields"]["written_bytes"] >= 1 << 20
    files = sorted(tmp_path.glob("big_*.scap"))
    # every write alerts: each stopped capture is followed by a new one
    assert len(files) >= 2 and len(files) - 1 <= len(limits) <= len(files)
    size = files[0].stat().st_size
    assert 1 << 20 <= size < 3 << 20  # stopped past the limit, far before the 4 MiB
    n = len(_sysdig("-r", str(files[0])))
    assert 2 <= n < 128


def test_a_capture_that_cannot_be_written_never_stops_detection(tmp_path: Path) -> None:
    """No directory for the prefix, or the file's name already taken (here by a symlink
    an attacker planted): the alert still goes out, the error is logged, nothing is
    written through the link, the run ends normally."""
    rules = _rules(tmp_path, "  capture: true\n")
    missing = tmp_path / "no" / "such" / "dir" / "falco"
    res = run_lanner("-r", str(rules), "-e", CURL, "-o", "capture.enabled=true",
                     "-o", f"capture.path_prefix={missing}")  # fmt: skip
    assert res.returncode == 0 and b"Warning curl ran (parent=bash)" in res.stdout
    assert b"capture: cannot create" in res.stderr
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    prefix = tmp_path / "falco"
    link = tmp_path / f"falco_{CURL_EXEC_TS:020d}_{CURL_EXEC_NUM:020d}.scap"
    link.symlink_to(victim)
    res = run_lanner("-r", str(rules), "-e", CURL, "-o", "capture.enabled=true",
                     "-o", f"capture.path_prefix={prefix}")  # fmt: skip
    assert res.returncode == 0 and b"Warning curl ran (parent=bash)" in res.stdout
    assert b"capture: cannot create" in res.stderr and victim.read_text() == "keep me"


def test_capture_closes_at_the_first_event_past_its_deadline(tmp_path: Path) -> None:
    """The pipeline settles the events the rules do not see as it reads them, so a capture
    closes at the first event read past its deadline, as Falco checks on every event (live,
    the event after that one may come much later). The curl replay cut right after the
    first event past a 40 ms capture's deadline (not an execve, so not handed to the
    rules): the file is written by the time the pipeline has read the last event."""
    import struct

    from lanner.app.alert_capture import AlertCapture, CaptureSettings
    from lanner.sources.syscall.capture import CaptureFile
    from lanner.sources.syscall.pipeline import SyscallPipeline
    from lanner.sources.syscall.scap.blocks import EVENT_TYPES
    from lanner.sources.syscall.state import StateEngine

    expected = _expected_nums(40)
    data = gzip.decompress(Path(CURL).read_bytes())
    pos, seen = 0, 0
    while seen < expected[-1]:  # blocks up to the event past the deadline (sysdig's num)
        btype, blen = struct.unpack_from("<II", data, pos)
        seen += btype in EVENT_TYPES
        pos += blen
    cut = tmp_path / "cut.scap"
    cut.write_bytes(data[:pos])
    last = _sysdig("-r", str(cut), "-p", "%evt.num %evt.type")[-1].split()
    assert int(last[0]) == expected[-1] and last[1] != "execve", last

    class CaptureRule:
        capture, capture_duration = True, 40

    state = StateEngine()
    capture = AlertCapture(CaptureSettings(path_prefix=str(tmp_path / "c")), state, None)
    pipe = SyscallPipeline(CaptureFile(cut), state=state, event_types=["execve"], tee=capture)
    for ev in pipe:  # as Daemon.run: the rules' matches, then done
        if int(ev.num) == CURL_EXEC_NUM:
            alert = type("A", (), {"rule": "Curl"})()
            capture.matched(ev, [alert], lambda name: CaptureRule())
        capture.done(ev)
    assert capture.files and capture.errors == 0  # closed without capture.close()
    assert len(_sysdig("-r", capture.files[0], "-p", "%evt.num")) == len(expected)
