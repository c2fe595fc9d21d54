"""Live detection end to end: ``lanner run`` with the upstream ``falco_rules.yaml`` plus a
custom rules file, watching this host through the eBPF probe, while the test does real
things: reads /etc/shadow from an unexpected program, writes below /etc and below a binary
directory, creates a symlink over a sensitive file, runs a shell on a pty, connects to a
listed IP:port on loopback, executes a binary from a memfd and mounts a tmpfs.

Each action must raise its alert (upstream rule names where upstream's stable rules have
one, the custom file's otherwise) with the right proc.* and fd.* fields. Waits are
generous; nothing asserts on timing.

Skipped, with the reason, where live capture cannot run (not root, no BTF, no probe).
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from live_requirements import live_skip_reason

from helpers import shared_fixture

ROOT = Path(__file__).resolve().parents[2]
FALCO_RULES = shared_fixture("rules", "falco_rules.yaml")
LANNER = str(Path(sys.executable).parent / "lanner")
BTF = Path("/sys/kernel/btf/vmlinux")
STARTED = "syscall capture started"
WAIT = 30.0  # seconds an alert may take (it takes well under one here)
MARK = f"lanner-e2e-{uuid.uuid4().hex[:8]}"

CUSTOM_RULES = """\
- list: lanner_e2e_listed_ips
  items: ["127.0.0.1"]

- list: lanner_e2e_listed_ports
  items: [{port}]

- macro: lanner_e2e_listed_endpoint
  condition: (fd.sip in (lanner_e2e_listed_ips) and fd.sport in (lanner_e2e_listed_ports))

- rule: Lanner e2e connect to listed endpoint
  desc: An outbound connection to an IP:port of the listed endpoints.
  condition: evt.type = connect and evt.dir = < and fd.typechar = 4 and lanner_e2e_listed_endpoint
  output: >-
    Connection to a listed endpoint (connection=%fd.name sip=%fd.sip sport=%fd.sport
    proc=%proc.name pid=%proc.pid cmdline=%proc.cmdline)
  priority: WARNING
  tags: [lanner_e2e, network]

- rule: Lanner e2e write below etc
  desc: A file below /etc opened for writing.
  condition: open_write and fd.name startswith /etc/
  output: >-
    File below /etc opened for writing (file=%fd.name dir=%fd.directory proc=%proc.name
    pid=%proc.pid cmdline=%proc.cmdline)
  priority: ERROR
  tags: [lanner_e2e, filesystem]

- rule: Lanner e2e write below binary dir
  desc: A file below a binary directory opened for writing.
  condition: open_write and fd.directory in (/bin, /sbin, /usr/bin, /usr/sbin)
  output: >-
    File below a binary directory opened for writing (file=%fd.name dir=%fd.directory
    proc=%proc.name pid=%proc.pid cmdline=%proc.cmdline)
  priority: ERROR
  tags: [lanner_e2e, filesystem]

- rule: Lanner e2e filesystem mounted
  desc: A filesystem mounted (the probe's mount events).
  condition: evt.type = mount and evt.dir = < and evt.rawres = 0
  output: >-
    Filesystem mounted (dev=%evt.arg.dev dir=%evt.arg.dir type=%evt.arg.type
    proc=%proc.name pid=%proc.pid)
  priority: NOTICE
  tags: [lanner_e2e, filesystem]

- rule: Lanner e2e shell on a terminal
  desc: A shell started with a controlling terminal (an interactive shell on a pty).
  condition: spawned_process and shell_procs and proc.tty != 0
  output: >-
    Shell on a terminal (proc=%proc.name pid=%proc.pid tty=%proc.tty cmdline=%proc.cmdline
    parent=%proc.pname)
  priority: NOTICE
  tags: [lanner_e2e, process]
"""

MEMFD_EXEC = """\
import os, sys
fd = os.memfd_create(sys.argv[1], 0)
with open("/bin/true", "rb") as f:
    os.write(fd, f.read())
os.execve(f"/proc/self/fd/{fd}", ["fileless", sys.argv[1]], {})
"""


def _skip_reason() -> str | None:
    reason = live_skip_reason()
    if reason is None and not FALCO_RULES.is_file():
        return f"the upstream Falco rules are not at {FALCO_RULES}"
    return reason


@dataclass
class Live:
    proc: subprocess.Popen[bytes]
    alerts: Path
    log: Path
    port: int
    listener: socket.socket

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def alert_list(self) -> list[dict[str, Any]]:
        if not self.alerts.exists():
            return []
        out = []
        for line in self.alerts.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    out.append(json.loads(line))
        return out

    def wait_alert(self, rule: str, **fields: Any) -> dict[str, Any]:
        """The first alert of ``rule`` whose output fields include ``fields``."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            for a in self.alert_list():
                of = a.get("output_fields") or {}
                if a.get("rule") == rule and all(
                    v(of.get(k)) if callable(v) else of.get(k) == v for k, v in fields.items()
                ):
                    return a
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        seen = [(a.get("rule"), a.get("output_fields")) for a in self.alert_list()][-10:]
        raise AssertionError(
            f"no {rule!r} alert with {fields} within {WAIT} s; last alerts: {seen}\n"
            f"lanner log tail:\n{self.log_text()[-3000:]}"
        )


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("live-detection")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    custom = tmp / "lanner_e2e_rules.yaml"
    custom.write_text(CUSTOM_RULES.format(port=port))
    alerts = tmp / "alerts.json"
    log = tmp / "lanner.log"
    argv = [
        LANNER, "run", "-r", str(FALCO_RULES), "-r", str(custom),
        "-o", "json_output=true",
        "-o", "json_include_output_fields_property=true",
        "-o", "file_output.enabled=true",
        "-o", "file_output.keep_alive=true",
        "-o", f"file_output.filename={alerts}",
        "-o", "stdout_output.enabled=false",
        "-o", "syslog_output.enabled=false",
        "-o", "rule_matching=all",
        "-o", "log_stderr=true",
        "-o", "log_syslog=false",
        "-o", "log_level=info",
    ]  # fmt: skip
    with open(log, "wb") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, cwd=tmp)
    run = Live(proc, alerts, log, port, listener)
    try:
        deadline = time.monotonic() + 60
        while STARTED not in run.log_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"lanner run did not start capturing:\n{run.log_text()[-3000:]}")
            time.sleep(0.1)
        time.sleep(0.5)  # the /proc snapshot is loaded right after the message
        yield run
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        listener.close()


def test_read_shadow_from_unexpected_program(live: Live, tmp_path: Path) -> None:
    reader = tmp_path / "shadowpeek"
    shutil.copy("/usr/bin/cat", reader)
    p = subprocess.run([str(reader), "/etc/shadow"], stdout=subprocess.DEVNULL, check=True)
    assert p.returncode == 0
    a = live.wait_alert("Read sensitive file untrusted", **{"proc.name": "shadowpeek"})
    of = a["output_fields"]
    assert of["fd.name"] == "/etc/shadow"
    assert of["proc.exepath"] == str(reader)
    assert of["proc.cmdline"] == "shadowpeek /etc/shadow"
    assert of["evt.type"] in ("open", "openat", "openat2")
    assert of["user.name"] == "root" and of["user.uid"] == 0
    assert a["priority"] == "Warning" and a["source"] == "syscall"
    assert "maturity_stable" in a["tags"]


def test_write_below_etc(live: Live) -> None:
    path = Path("/etc") / MARK
    try:
        p = subprocess.Popen(["touch", str(path)])
        assert p.wait(30) == 0
        a = live.wait_alert("Lanner e2e write below etc", **{"fd.name": str(path)})
    finally:
        path.unlink(missing_ok=True)
    of = a["output_fields"]
    assert of["fd.directory"] == "/etc"
    assert of["proc.name"] == "touch" and of["proc.pid"] == p.pid
    assert of["proc.cmdline"] == f"touch {path}"
    assert a["priority"] == "Error"


def test_write_below_binary_dir(live: Live) -> None:
    path = Path("/usr/bin") / MARK
    try:
        p = subprocess.Popen(["sh", "-c", f"echo '#!/bin/sh' > {path}"])
        assert p.wait(30) == 0
        a = live.wait_alert("Lanner e2e write below binary dir", **{"fd.name": str(path)})
    finally:
        path.unlink(missing_ok=True)
    of = a["output_fields"]
    assert of["fd.directory"] == "/usr/bin"
    assert of["proc.name"] == "sh" and of["proc.pid"] == p.pid
    assert of["proc.cmdline"] == f"sh -c echo '#!/bin/sh' > {path}"


def test_symlink_over_sensitive_file(live: Live, tmp_path: Path) -> None:
    link = tmp_path / f"{MARK}-link"
    p = subprocess.run(["ln", "-s", "/etc/shadow", str(link)], check=True)
    assert p.returncode == 0 and link.is_symlink()
    a = live.wait_alert("Create Symlink Over Sensitive Files", **{"evt.arg.linkpath": str(link)})
    of = a["output_fields"]
    assert of["evt.arg.target"] == "/etc/shadow"
    assert of["evt.type"] in ("symlink", "symlinkat")
    assert of["proc.name"] == "ln"
    assert of["proc.cmdline"] == f"ln -s /etc/shadow {link}"
    link.unlink()


def test_shell_on_a_pty(live: Live) -> None:
    pid, master = pty.fork()
    if pid == 0:  # child: a new session whose controlling terminal is the pty
        try:
            os.execv("/bin/sh", ["sh", "-c", f"echo {MARK}-pty"])
        finally:
            os._exit(127)
    out = b""
    with contextlib.suppress(OSError):
        while chunk := os.read(master, 1024):
            out += chunk
    os.close(master)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and f"{MARK}-pty".encode() in out
    a = live.wait_alert("Lanner e2e shell on a terminal", **{"proc.pid": pid})
    of = a["output_fields"]
    assert of["proc.name"] == "sh"
    assert of["proc.cmdline"] == f"sh -c echo {MARK}-pty"
    assert of["proc.tty"] != 0
    # the parent is the forked test process, whose name is the test runner's (pytest, python)
    assert of["proc.pname"] == Path("/proc/self/comm").read_text().strip()


def test_connect_to_listed_endpoint(live: Live) -> None:
    code = f"import socket; socket.create_connection(('127.0.0.1', {live.port})).close()"
    p = subprocess.Popen([sys.executable, "-c", code])
    conn, _ = live.listener.accept()
    conn.close()
    assert p.wait(30) == 0
    a = live.wait_alert("Lanner e2e connect to listed endpoint", **{"proc.pid": p.pid})
    of = a["output_fields"]
    assert of["fd.sip"] == "127.0.0.1" and of["fd.sport"] == live.port
    assert of["fd.name"].startswith("127.0.0.1:")
    assert of["fd.name"].endswith(f"->127.0.0.1:{live.port}")
    assert of["proc.cmdline"].endswith(code)
    # an unlisted port on the same address raises nothing
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        q = subprocess.Popen(
            [sys.executable, "-c", code.replace(str(live.port), str(other.getsockname()[1]))]
        )
        other.accept()[0].close()
        assert q.wait(30) == 0
    time.sleep(1.5)  # well past the time the listed connection's alert took
    rules = [
        a for a in live.alert_list() if (a.get("output_fields") or {}).get("proc.pid") == q.pid
    ]
    assert rules == []


def test_execute_from_memfd(live: Live) -> None:
    name = f"{MARK}-memfd"
    p = subprocess.Popen([sys.executable, "-c", MEMFD_EXEC, name])
    assert p.wait(30) == 0
    a = live.wait_alert(
        "Fileless execution via memfd_create", **{"proc.cmdline": lambda c: name in str(c)}
    )
    of = a["output_fields"]
    assert of["proc.exepath"].startswith(f"/memfd:{name}")
    assert of["evt.type"] in ("execve", "execveat")
    assert "EXE_FROM_MEMFD" in of["evt.arg.flags"]
    assert of["evt.res"] == "SUCCESS"
    assert a["priority"] == "Critical"


def test_mount(live: Live, tmp_path: Path) -> None:
    target = tmp_path / "mnt"
    target.mkdir()
    p = subprocess.Popen(["mount", "-t", "tmpfs", "-o", "size=1m", MARK, str(target)])
    assert p.wait(30) == 0
    try:
        a = live.wait_alert("Lanner e2e filesystem mounted", **{"evt.arg.dir": str(target)})
    finally:
        subprocess.run(["umount", str(target)], check=False)
    of = a["output_fields"]
    assert of["evt.arg.dev"] == MARK and of["evt.arg.type"] == "tmpfs"
    assert of["proc.name"] == "mount" and of["proc.pid"] == p.pid


def test_directory_traversal_read_of_a_monitored_file(live: Live, tmp_path: Path) -> None:
    """Upstream's "Directory traversal monitored file read": fd.nameraw is the path as the
    process passed it (``../`` kept), fd.name the resolved one."""
    raw = "/tmp/../etc/../etc/passwd"
    reader = tmp_path / "traverser"
    shutil.copy("/usr/bin/cat", reader)
    p = subprocess.run([str(reader), raw], stdout=subprocess.DEVNULL, check=True)
    assert p.returncode == 0
    a = live.wait_alert("Directory traversal monitored file read", **{"proc.name": "traverser"})
    of = a["output_fields"]
    assert of["fd.nameraw"] == raw
    assert of["fd.name"] == "/etc/passwd"
