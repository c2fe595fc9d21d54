"""Live probe: real actions on this host come back as decoded scap events with state."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from live_testutil import Collector, run_and_collect

from lanner.sources.syscall.event import Event
from lanner.sources.syscall.params import AF_INET, SockTuple
from lanner.sources.syscall.pipeline import SyscallPipeline
from lanner.sources.syscall.probe import LiveCapture
from lanner.sources.syscall.probe.snapshot import encode_dev

OPEN_EVENTS = ("open", "openat", "openat2")
CLONE_EVENTS = ("clone", "clone3", "fork", "vfork")


def named(events: list[Event], *names: str) -> list[Event]:
    return [e for e in events if e.name in names]


def one(events: list[Event], *names: str) -> Event:
    found = named(events, *names)
    assert found, f"no {names} event among {[e.name for e in events]}"
    return found[0]


def py(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def test_cat_etc_shadow(collect: Collector) -> None:
    started = time.time_ns()
    proc, events = collect(["/bin/cat", "/etc/shadow"])
    assert proc.returncode == 0
    # timestamps: epoch nanoseconds, in order, within the run
    stamps = [e.ts for e in events]
    assert stamps == sorted(stamps)
    assert started - 1_000_000_000 < stamps[0] and stamps[-1] < time.time_ns() + 1_000_000_000
    assert all(0 <= e.cpu < (os.cpu_count() or 1) for e in events)
    ex = one(events, "execve")
    assert ex.res == 0
    assert ex.tid == proc.pid
    assert ex.arg("exe") == "/bin/cat"
    assert ex.arg("args") == b"/etc/shadow\x00"
    assert ex.arg("filename") == "/bin/cat"
    assert ex.arg("trusted_exepath") == os.path.realpath("/bin/cat")
    assert ex.arg("pid") == proc.pid
    assert ex.arg("ptid") == os.getpid()
    assert ex.arg("comm") == "cat"
    assert ex.arg("uid") == 0
    assert ex.arg("exe_ino") == os.stat("/bin/cat").st_ino
    opens = [e for e in named(events, *OPEN_EVENTS) if e.arg("name") == "/etc/shadow"]
    assert len(opens) == 1
    op = opens[0]
    fd = op.arg("fd")
    assert fd >= 0
    assert "O_RDONLY" in op.arg("flags").names
    assert op.arg("ino") == os.stat("/etc/shadow").st_ino
    st = os.stat("/etc/shadow")
    assert op.arg("dev") == encode_dev(os.major(st.st_dev), os.minor(st.st_dev))
    # state: the thread is cat's, the fd is registered under its name
    assert op.thread is not None and op.thread.comm == "cat"
    assert op.thread.exepath == os.path.realpath("/bin/cat")
    assert op.thread.args == ["/etc/shadow"]
    assert op.fdinfo is not None and op.fdinfo.name == "/etc/shadow"
    closes = [e for e in named(events, "close") if e.arg("fd") == fd and e.num > op.num]
    assert closes and closes[0].res == 0
    assert closes[0].fdinfo is not None and closes[0].fdinfo.name == "/etc/shadow"
    ex_ = one(events, "procexit")
    assert ex_.arg("status") == 0


def test_execve_true_with_args(collect: Collector, tmp_path: Path) -> None:
    proc, events = collect(["/bin/true", "first", "two words", ""], cwd=tmp_path)
    assert proc.returncode == 0
    clones = [e for e in named(events, *CLONE_EVENTS) if e.res == 0]
    assert clones, "the child side of the fork is reported"
    assert clones[0].tid == proc.pid
    assert clones[0].arg("ptid") == os.getpid()
    ex = one(events, "execve")
    assert ex.arg("exe") == "/bin/true"
    assert ex.arg("args") == b"first\x00two words\x00\x00"
    assert ex.arg("cwd").rstrip("/") == str(tmp_path)
    assert ex.arg("tid") == ex.arg("pid") == proc.pid
    assert ex.arg("vpid") is None  # execve carries no vpid; clone does
    env = ex.arg("env")
    assert isinstance(env, bytes) and b"PATH=" in env
    assert ex.arg("loginuid") is not None
    assert ex.arg("cap_effective") and ex.arg("cap_permitted")
    th = ex.thread
    assert th is not None
    assert th.exe == "/bin/true" and th.args == ["first", "two words", ""]
    assert th.ptid == os.getpid()
    assert th.cwd.rstrip("/") == str(tmp_path)
    assert th.uid == 0 and th.gid == 0


def test_failed_execve_is_reported(capture: SyscallPipeline, tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-binary")
    code = f"import os\ntry:\n    os.execv({missing!r}, ['x'])\nexcept OSError:\n    pass\n"
    _proc, events = run_and_collect(capture, py(code))
    ex = [e for e in named(events, "execve") if e.arg("filename") == missing]
    assert ex and ex[0].arg("res").name == "ENOENT"


def test_write_file_in_temp_dir(collect: Collector, tmp_path: Path) -> None:
    target = tmp_path / "written.txt"
    proc, events = collect(py(f"open({str(target)!r}, 'w').write('hello')"))
    assert proc.returncode == 0 and target.read_text() == "hello"
    opens = [e for e in named(events, *OPEN_EVENTS) if e.arg("name") == str(target)]
    assert len(opens) == 1
    op = opens[0]
    names = op.arg("flags").names
    for flag in ("O_WRONLY", "O_CREAT", "O_TRUNC", "O_CLOEXEC", "O_F_CREATED"):
        assert flag in names, (flag, names)
    assert op.arg("mode") == 0o666
    assert op.arg("ino") == target.stat().st_ino
    assert op.fdinfo is not None and op.fdinfo.name == str(target)
    writes_closed = [
        e for e in named(events, "close") if e.arg("fd") == op.arg("fd") and e.num > op.num
    ]
    assert writes_closed and writes_closed[0].fdinfo.name == str(target)


def test_connect_to_loopback_listener(collect: Collector) -> None:
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        port = srv.getsockname()[1]
        code = f"""
            import socket
            s = socket.create_connection(("127.0.0.1", {port}))
            s.sendall(b"ping")
            s.close()
        """
        proc, events = collect(py(code))
        conn, peer = srv.accept()
        conn.close()
    sock = [e for e in named(events, "socket") if e.arg("domain") == AF_INET]
    assert sock and sock[0].arg("fd") >= 0
    cons = [e for e in named(events, "connect") if e.arg("addr").port == port]
    assert len(cons) == 1
    con = cons[0]
    assert con.res == 0
    assert con.arg("fd") == sock[-1].arg("fd")
    assert con.arg("addr").addr == "127.0.0.1"
    tup = con.arg("tuple")
    assert isinstance(tup, SockTuple)
    assert (tup.family, tup.sip, tup.sport, tup.dip, tup.dport) == (
        AF_INET,
        "127.0.0.1",
        peer[1],
        "127.0.0.1",
        port,
    )
    info = con.fdinfo
    assert info is not None and info.typechar == "4"
    assert info.name == f"127.0.0.1:{peer[1]}->127.0.0.1:{port}"
    assert con.thread is not None and con.thread.pid == proc.pid


def test_udp_sendto_unconnected(collect: Collector) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        port = rx.getsockname()[1]
        code = f"""
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.sendto(b"datagram", ("127.0.0.1", {port}))
            print(s.getsockname()[1], flush=True)
        """
        proc, events = collect(py(code), stdout=subprocess.PIPE)
        assert proc.stdout is not None
        sport = int(proc.stdout.read())
        assert rx.recv(64) == b"datagram"
    sent = one(events, "sendto")
    assert sent.res == 8 and sent.arg("size") == 8
    tup = sent.arg("tuple")
    # an unconnected socket has no local address: the kernel's wildcard, as in the socket
    assert (tup.sip, tup.sport, tup.dip, tup.dport) == ("0.0.0.0", sport, "127.0.0.1", port)
    assert sent.fdinfo is not None
    assert sent.fdinfo.name.endswith(f":{sport}->127.0.0.1:{port}")


def test_accept_on_loopback(capture: SyscallPipeline) -> None:
    code = """
        import socket, sys
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        print(srv.getsockname()[1], flush=True)
        conn, peer = srv.accept()
        print(peer[1], flush=True)
        conn.close()
    """
    proc = subprocess.Popen(py(code), stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    with socket.create_connection(("127.0.0.1", port)) as c:
        client_port = c.getsockname()[1]
    proc.wait(timeout=10)
    assert int(proc.stdout.readline()) == client_port
    cap_events: list[Event] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not named(cap_events, "accept", "accept4"):
        cap_events += [e for e in capture.poll(0.2) if e.tid == proc.pid]
    acc = one(cap_events, "accept", "accept4")
    assert acc.arg("fd") >= 0
    tup = acc.arg("tuple")
    assert (tup.sip, tup.sport, tup.dip, tup.dport) == ("127.0.0.1", client_port, "127.0.0.1", port)
    assert acc.fdinfo is not None and acc.fdinfo.sport == port


def test_file_operations(collect: Collector, tmp_path: Path) -> None:
    d = tmp_path / "dir"
    code = f"""
        import os
        os.mkdir({str(d)!r}, 0o750)
        os.chmod({str(d)!r}, 0o700)
        os.symlink("/etc/shadow", {str(d / "link")!r})
        os.rename({str(d / "link")!r}, {str(d / "moved")!r})
        os.unlink({str(d / "moved")!r})
        fd = os.open({str(d / "f")!r}, os.O_CREAT | os.O_WRONLY, 0o600)
        os.dup2(fd, 42)
        os.close(42)
        os.close(fd)
        os.unlink({str(d / "f")!r})
        os.rmdir({str(d)!r})
    """
    proc, events = collect(py(code))
    assert proc.returncode == 0
    mk = one(events, "mkdir", "mkdirat")
    assert mk.arg("path") == str(d) and mk.arg("mode") == 0o750 and mk.res == 0
    ch = one(events, "chmod", "fchmodat")
    assert ch.arg("filename") == str(d) and int(ch.arg("mode")) == 0o700
    sl = one(events, "symlink", "symlinkat")
    assert sl.arg("target") == "/etc/shadow" and sl.arg("linkpath") == str(d / "link")
    rn = one(events, "rename", "renameat", "renameat2")
    assert rn.arg("oldpath") == str(d / "link") and rn.arg("newpath") == str(d / "moved")
    ul = one(events, "unlink", "unlinkat")
    assert (ul.arg("path") or ul.arg("name")) == str(d / "moved") and ul.res == 0
    dups = [e for e in named(events, "dup2", "dup3") if e.res == 42]
    assert len(dups) == 1
    dup = dups[0]
    assert dup.fdinfo is not None and dup.fdinfo.name == str(d / "f")
    closed = [e for e in named(events, "close") if e.arg("fd") == 42]
    assert closed and closed[0].fdinfo.name == str(d / "f")
    rm = one(events, "rmdir", "unlinkat")
    assert (rm.arg("path") or rm.arg("name")) == str(d) and rm.res == 0


def test_memfd_and_ptrace(collect: Collector) -> None:
    code = """
        import ctypes, os
        fd = os.memfd_create("lanner-test", 0)
        libc = ctypes.CDLL(None, use_errno=True)
        libc.ptrace(0, 0, 0, 0)  # PTRACE_TRACEME
    """
    _proc, events = collect(py(code))
    mf = one(events, "memfd_create")
    assert mf.arg("name") == "lanner-test" and mf.arg("fd") >= 0
    assert mf.fdinfo is not None and mf.fdinfo.name == "memfd:lanner-test"
    pt = one(events, "ptrace")
    assert pt.arg("request") == 1  # PPM_PTRACE_TRACEME
    assert pt.res == 0


def test_exec_from_memfd(collect: Collector) -> None:
    code = """
        import os
        fd = os.memfd_create("lanner-exe", 0)
        with open("/bin/true", "rb") as f:
            os.write(fd, f.read())
        os.execve(f"/proc/self/fd/{fd}", ["fileless", "arg"], {})
    """
    proc, events = collect(py(code))
    assert proc.returncode == 0
    ex = [e for e in named(events, "execve") if e.res == 0 and e.arg("exe") == "fileless"]
    assert len(ex) == 1
    flags = int(ex[0].arg("flags"))
    assert flags & 4, "PPM_EXE_FROM_MEMFD"
    assert ex[0].arg("trusted_exepath").startswith("/memfd:lanner-exe")
    assert ex[0].arg("args") == b"arg\x00"
    th = ex[0].thread
    assert th is not None and th.exe_from_memfd
    # a regular binary is not flagged
    proc, events = collect(["/bin/true"])
    assert not int(one(events, "execve").arg("flags")) & 4


EXERCISE = """
import ctypes, os, socket, tempfile
d = tempfile.mkdtemp()
os.chdir(d)
fd = os.open("f", os.O_CREAT | os.O_RDWR, 0o644)
os.fchmod(fd, 0o600)
os.chmod("f", 0o640)
os.chmod("f", 0o644, follow_symlinks=True)
os.dup(fd); os.dup2(fd, 50); os.dup2(fd, 51, inheritable=False)
import fcntl; fcntl.fcntl(fd, fcntl.F_DUPFD, 60); fcntl.fcntl(fd, fcntl.F_GETFL)
r, w = os.pipe(); os.pipe2(os.O_CLOEXEC)
os.link("f", "hard"); os.link("f", "hard2", src_dir_fd=os.open(".", os.O_RDONLY))
os.symlink("f", "soft"); os.symlink("f", "soft2", dir_fd=os.open(".", os.O_RDONLY))
os.rename("soft", "soft3"); os.rename("soft3", "soft4", src_dir_fd=None)
os.mkdir("sub"); os.mkdir("sub2", dir_fd=os.open(".", os.O_RDONLY)); os.rmdir("sub")
os.unlink("hard"); os.unlink("hard2", dir_fd=os.open(".", os.O_RDONLY))
dfd = os.open(".", os.O_RDONLY); os.fchdir(dfd); os.chdir("/")
os.setuid(0); os.setgid(0); os.setresuid(0, 0, 0); os.setresgid(0, 0, 0)
os.setreuid(0, 0); os.setregid(0, 0)
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
c = socket.create_connection(srv.getsockname()); a, _ = srv.accept()
c.sendall(b"x"); a.recv(1); c.sendmsg([b"y"]); a.recvmsg(1)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
u.sendto(b"z", u.getsockname()); u.recvfrom(1)
x = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    x.connect("/nonexistent.sock")
except OSError:
    pass
os.memfd_create("m")
libc = ctypes.CDLL(None, use_errno=True)
libc.unshare(0)
import select
socket.socketpair(); os.eventfd(0); select.epoll(); os.pidfd_open(os.getpid())
libc.inotify_init1(0); libc.timerfd_create(1, 0)
"""


def test_every_event_is_well_formed(collect: Collector) -> None:
    """Each event's parameter count matches the table and its lengths add up."""
    from lanner.sources.syscall import event_table as et

    proc, events = collect(py(EXERCISE))
    assert proc.returncode == 0
    names = {e.name for e in events}
    for expected in (
        "fchmod",
        "chmod",
        "dup2",
        "dup3",
        "pipe2",
        "link",
        "linkat",
        "symlink",
        "symlinkat",
        "rename",
        "mkdir",
        "mkdirat",
        "rmdir",
        "unlink",
        "unlinkat",
        "fchdir",
        "chdir",
        "setuid",
        "setgid",
        "setresuid",
        "setresgid",
        "setreuid",
        "setregid",
        "socket",
        "bind",
        "listen",
        "connect",
        "accept4",
        "sendto",
        "recvfrom",
        "sendmsg",
        "recvmsg",
        "memfd_create",
        "unshare",
        "socketpair",
        "eventfd2",
        "epoll_create1",
        "pidfd_open",
        "inotify_init1",
        "timerfd_create",
        "openat",
        "close",
    ):
        assert expected in names, expected
    for ev in events:
        assert ev.nparams == len(et.EVENT_PARAMS[ev.type]), ev
        raws = ev.raw_params()
        header = 26 + 2 * ev.nparams
        assert header + sum(len(r) for r in raws) == ev._end - ev._off + 26, ev
        ev.args()  # every parameter decodes
    sp = one(events, "socketpair")
    assert sp.res == 0 and sp.arg("fd1") >= 0 and sp.arg("fd2") >= 0 and sp.arg("source")
    for name, typechar in (("eventfd2", "e"), ("epoll_create1", "l"), ("pidfd_open", "P")):
        ev = one(events, name)
        assert ev.fdinfo is not None and ev.fdinfo.typechar == typechar, (name, ev.fdinfo)
    dupfd = [e for e in named(events, "fcntl") if e.res == 60]
    assert dupfd and dupfd[0].arg("cmd") == 1  # PPM_FCNTL_F_DUPFD
    assert all(e.arg("cmd") in (1, 26) for e in named(events, "fcntl"))  # no F_GETFL
    con = [e for e in named(events, "connect") if e.arg("addr").family == 1]
    assert con and con[0].arg("addr").path == "/nonexistent.sock"
    assert con[0].arg("res").name == "ENOENT"


def test_snapshot_knows_earlier_processes(live_ready: None, tmp_path: Path) -> None:
    held = tmp_path / "held-open"
    held.write_text("x")
    code = f"import time\nf = open({str(held)!r})\nprint('ok', flush=True)\ntime.sleep(60)\n"
    proc = subprocess.Popen(py(code), cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ok"
        with SyscallPipeline(LiveCapture()) as cap:
            assert cap.state is not None
            th = cap.state.threads.get(proc.pid)
            assert th is not None
            assert th.exepath == os.path.realpath(sys.executable)
            assert th.args[0] == "-c"
            assert th.cwd.rstrip("/") == str(tmp_path)
            assert th.ptid == os.getpid()
            assert str(held) in {f.name for f in th.fdtable.fds.values()}
            root = cap.state.users.user(0)
            assert root is not None and root.name == "root"
            # the first event of the old process resolves against the snapshot
            proc.kill()
            proc.wait()
            deadline = time.monotonic() + 10
            seen = None
            while seen is None and time.monotonic() < deadline:
                for ev in cap.poll(0.2):
                    if ev.tid == proc.pid and ev.name == "procexit":
                        seen = ev
            assert seen is not None and seen.thread is th
            assert seen.arg("sig") == 9
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_kernel_side_selection(live_ready: None, tmp_path: Path) -> None:
    d = tmp_path / "sel"
    code = f"import os\nos.mkdir({str(d)!r})\nopen({str(tmp_path / 'x')!r}, 'w').close()\n"
    with SyscallPipeline(LiveCapture(event_types={"mkdir"}, base=False, snapshot=False)) as cap:
        _proc, events = run_and_collect(cap, py(code))
        assert {e.name for e in events} <= {"mkdir", "procexit"}
        assert one(events, "mkdir").arg("path") == str(d)
        # reselect at run time (a rules reload)
        cap.set_event_types({"openat", "open"})
        os.rmdir(d)
        _proc, events = run_and_collect(cap, py(code))
        assert not named(events, "mkdir")
        assert [e for e in named(events, *OPEN_EVENTS) if e.arg("name") == str(tmp_path / "x")]


def test_drops_are_counted_when_the_ring_is_full(live_ready: None) -> None:
    with LiveCapture(ring_size=1 << 14, snapshot=False) as cap:
        assert cap.probe is not None
        assert len(cap.drops_per_cpu) == cap.probe.ncpus
        before = cap.drops  # other processes may already have filled 16 KiB
        code = "import os\nfor _ in range(2000):\n    os.close(os.open('/etc/hostname', 0))\n"
        subprocess.run(py(code), check=True)
        # the counters only grow (other processes keep hitting the full ring)
        first = cap.drops
        assert first > before
        per_cpu = cap.drops_per_cpu
        assert sum(per_cpu) >= first
        stats = cap.stats()
        assert stats["drops_full"] >= sum(per_cpu) and stats["events"] > 0
        # the ring still works after overflowing
        got = cap.poll(1.0)
        assert got and all(isinstance(e, Event) for e in got)


def test_close_from_another_thread_ends_iteration(live_ready: None) -> None:
    cap = LiveCapture(snapshot=False).start()
    seen = []

    def reader() -> None:
        for ev in cap:
            seen.append(ev)

    t = threading.Thread(target=reader)
    t.start()
    subprocess.run(["/bin/true"], check=True)
    time.sleep(0.5)
    cap.close()
    t.join(timeout=5)
    assert not t.is_alive()
    assert seen
    assert cap.poll(0.1) == []


@pytest.mark.parametrize("event_type", ["execve", "openat", "connect", "procexit"])
def test_supported_types_listed(event_type: str) -> None:
    from lanner.sources.syscall.probe import SUPPORTED

    assert event_type in SUPPORTED


def test_mount_and_umount2(collect: Collector, tmp_path: Path) -> None:
    d = tmp_path / "mnt"
    d.mkdir()
    code = f"""
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        MS_NOSUID, MS_NODEV = 2, 4
        r = libc.mount(b"lanner-tmpfs", {str(d).encode()!r}, b"tmpfs",
                       0xC0ED0000 | MS_NOSUID | MS_NODEV, b"size=1m")
        assert r == 0, os.strerror(ctypes.get_errno())
        MNT_DETACH = 2
        assert libc.umount2({str(d).encode()!r}, MNT_DETACH) == 0
        assert libc.mount(b"none", b"/nonexistent-lanner-dir", b"tmpfs", 0, None) != 0
    """
    proc, events = collect(py(code))
    assert proc.returncode == 0
    mounts = named(events, "mount")
    assert len(mounts) == 2
    ok, bad = mounts
    assert ok.res == 0 and ok.arg("dev") == "lanner-tmpfs" and ok.arg("dir") == str(d)
    assert ok.arg("type") == "tmpfs"
    assert ok.param(4) == 2 | 4  # the MS_MGC_VAL magic is stripped
    assert bad.res == -2 and bad.arg("dir") == "/nonexistent-lanner-dir"
    um = one(events, "umount2")
    assert um.res == 0 and um.arg("name") == str(d) and um.param(2) == 2


def test_open_openat_close_fast_paths(live_ready: None, tmp_path: Path) -> None:
    """open, openat and close are built by the dispatcher's fast paths (a record for a path
    under 64 bytes, else one for a path under 256 bytes); paths of 256 bytes and more take
    the general path: all give the same parameters."""
    deep = tmp_path / ("d" * 120) / ("e" * 120)
    deep.mkdir(parents=True)
    long_file = deep / "long-file"
    long_file.write_text("x")
    assert len(str(long_file)) >= 256
    short = Path("/tmp") / f"lanner-fast-{os.getpid()}"
    medium = tmp_path / ("m" * 80)
    medium.write_text("x")
    assert 64 <= len(str(medium)) < 256 and len(str(short)) < 63
    code = f"""
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.syscall(2, {str(long_file).encode()!r}, os.O_RDONLY, 0)  # SYS_open
        os.close(fd)
        fd = os.open({str(short)!r}, os.O_CREAT | os.O_WRONLY, 0o640)
        os.close(fd)
        fd = os.open({str(long_file)!r}, os.O_RDONLY)
        os.close(fd)
        libc.syscall(2, {str(short).encode()!r}, os.O_RDONLY, 0)
        os.close(os.open({str(medium)!r}, os.O_RDONLY))
        os.close(libc.syscall(2, {str(medium).encode()!r}, os.O_RDONLY, 0))
        try:
            os.open({str(deep / "missing")!r}, os.O_RDONLY)
        except OSError:
            pass
        try:
            os.close(987)
        except OSError:
            pass
    """
    try:
        ring = LiveCapture(event_types={"open", "openat", "close"}, base=False, snapshot=False)
        with SyscallPipeline(ring) as cap:
            _proc, events = run_and_collect(cap, py(code))
        st_long, st_short, st_medium = os.stat(long_file), os.stat(short), os.stat(medium)
    finally:
        short.unlink(missing_ok=True)
    mine = (str(tmp_path), str(short))
    opens = [e for e in named(events, *OPEN_EVENTS) if e.arg("name").startswith(mine)]
    assert [(e.name, e.arg("name")) for e in opens] == [
        ("open", str(long_file)),
        ("openat", str(short)),
        ("openat", str(long_file)),
        ("open", str(short)),
        ("openat", str(medium)),
        ("open", str(medium)),
        ("openat", str(deep / "missing")),
    ]
    stats = (st_long, st_short, st_long, st_short, st_medium, st_medium)
    for e, st in zip(opens[:6], stats, strict=True):
        assert e.res >= 3
        assert e.arg("ino") == st.st_ino
        assert e.arg("dev") == encode_dev(os.major(st.st_dev), os.minor(st.st_dev))
    created = opens[1]
    assert created.arg("dirfd") == -100
    assert created.arg("mode") == 0o640
    assert int(created.arg("flags")) & (1 << 14)  # O_F_CREATED
    assert int(created.arg("flags")) & (1 << 2)  # O_CREAT
    assert not int(opens[2].arg("flags")) & (1 << 14)
    missing = opens[6]
    assert missing.res == -errno.ENOENT
    assert missing.arg("dev") == 0 and missing.arg("ino") == 0
    closes = [e for e in named(events, "close") if e.ts > opens[0].ts]
    assert [(e.arg("fd"), e.res) for e in closes[:3]] == [(e.res, 0) for e in opens[:3]]
    assert [(e.arg("fd"), e.res) for e in closes[3:5]] == [(e.res, 0) for e in opens[4:6]]
    bad = [e for e in closes if e.arg("fd") == 987]
    assert bad and bad[0].res == -errno.EBADF


def test_sys_exit_program_attached_only_while_selected(live_ready: None) -> None:
    with LiveCapture(event_types=set(), base=False, snapshot=False) as cap:
        probe = cap.probe
        assert probe is not None
        assert "lanner_sys_exit" not in probe.attached_programs
        assert "lanner_sched_exit" in probe.attached_programs
        cap.set_event_types({"mkdir"})
        assert "lanner_sys_exit" in probe.attached_programs
        probe.detach()
        assert probe.attached_programs == [] and not probe.attached
        probe.attach()
        assert "lanner_sys_exit" in probe.attached_programs
        cap.set_event_types(set())
        assert "lanner_sys_exit" not in probe.attached_programs
