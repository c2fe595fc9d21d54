"""The state engine: threads, fds and users rebuilt from real and synthetic captures."""

from __future__ import annotations

import io

import pytest
from syscall_testutil import (
    block,
    capture,
    event,
    ipv4_tuple,
    proc_v1,
    section_header,
)

from lanner.sources.syscall import event_table as et
from lanner.sources.syscall import read_capture, syscall_source
from lanner.sources.syscall.state import StateEngine
from lanner.sources.syscall.state.containers import container_id
from lanner.sources.syscall.state.parser import resolve_path


def _get(name: str):  # type: ignore[no-untyped-def]
    f, arg = syscall_source().fields.resolve(name)  # type: ignore[misc]
    return f.bind(arg)


def _idx(name: str):  # type: ignore[no-untyped-def]
    f, _ = syscall_source().fields.resolve(name)  # type: ignore[misc]
    return lambda i: f.bind(i)


def test_curl_google_process_tree() -> None:
    state = StateEngine()
    seen = {}
    for e in read_capture(capture("curl_google.scap"), state):
        if e.num in (211, 1051):
            t = e.thread
            assert t is not None
            seen[e.num] = (t.tid, t.pid, t.ptid, t.comm, list(t.args))
    assert seen[211] == (17497, 17497, 3200, "curl", ["-6", "http://www.google.com"])
    # the thread curl cloned: same process, parent thread curl
    assert seen[1051][:4] == (17498, 17497, 17497, "curl")
    # curl exited at the end: no longer in the table; bash (its parent) still is
    assert state.threads.get(17497) is None
    assert state.threads.get(3200) is not None
    assert state.users.user(0) is not None and state.users.user(0).name == "root"


def test_curl_google_fd_lifecycle() -> None:
    names = {}
    fd3_after_close = "unset"
    state = StateEngine()
    for e in read_capture(capture("curl_google.scap"), state):
        if e.num in (219, 221, 225):
            names[e.num] = (e.fd, e.fdinfo.name if e.fdinfo else None)
        if e.num == 226:
            fd3_after_close = e.thread.fdtable.get(3)  # type: ignore[union-attr]
    assert names[219] == (3, "/etc/ld.so.cache")  # open <
    assert names[221] == (3, "/etc/ld.so.cache")  # fstat <, fd from the enter event
    assert names[225] == (3, "/etc/ld.so.cache")  # close < still sees the fd
    assert fd3_after_close is None  # ...and it is gone right after


def _synthetic() -> bytes:
    procs = block(
        0x202,
        proc_v1(1, 1, 0, "systemd", "/sbin/init", [], "/")
        + proc_v1(100, 100, 1, "bash", "/bin/bash", ["-l"], "/root/", uid=1000, gid=1000),
    )
    users = block(
        0x206,
        b"\x00"
        + (1000).to_bytes(4, "little") * 2
        + b"\x05\x00alice\x05\x00/home\x09\x00/bin/bash"
        + b"\x01"
        + (1000).to_bytes(4, "little")
        + b"\x05\x00staff",
    )
    evs = [
        event(
            et.PPME_SYSCALL_CLONE_20_X, 100, 1, res=200, exe="bash", comm="bash", uid=1000, gid=1000
        ),
        event(
            et.PPME_SYSCALL_CLONE_20_X,
            200,
            2,
            res=0,
            exe="bash",
            comm="bash",
            pid=200,
            ptid=100,
            uid=1000,
            gid=1000,
        ),
        event(et.PPME_SYSCALL_EXECVE_19_E, 200, 3, filename="/usr/bin/curl"),
        event(
            et.PPME_SYSCALL_EXECVE_19_X,
            200,
            4,
            res=0,
            exe="curl",
            args=b"-s\0http://x\0",
            comm="curl",
            pid=200,
            ptid=100,
            uid=1000,
            gid=1000,
            cgroups=b"cpu=/docker/" + b"a" * 64 + b"\0",
            vpgid=200,
        ),
        event(et.PPME_SYSCALL_OPENAT_2_X, 200, 5, fd=3, dirfd=-100, name="etc/./passwd", flags=1),
        event(et.PPME_SOCKET_SOCKET_E, 200, 6, domain=2, type=1, proto=0),
        event(et.PPME_SOCKET_SOCKET_X, 200, 7, fd=4, domain=2, type=1, proto=0),
        event(et.PPME_SOCKET_CONNECT_E, 200, 8, fd=4),
        event(
            et.PPME_SOCKET_CONNECT_X,
            200,
            9,
            res=0,
            fd=4,
            tuple=ipv4_tuple("10.0.0.1", 40000, "93.184.216.34", 443),
        ),
        event(et.PPME_SYSCALL_CLOSE_E, 200, 10, fd=3),
        event(et.PPME_SYSCALL_CLOSE_X, 200, 11, res=0, fd=3),
        event(et.PPME_SYSCALL_CHDIR_X, 200, 12, res=0, path="tmp"),
        event(et.PPME_PROCEXIT_1_E, 100, 13, reaper_tid=1),
        event(et.PPME_SYSCALL_CLOSE_E, 200, 14, fd=4),
        event(et.PPME_PROCEXIT_1_E, 200, 15),
        event(et.PPME_SYSCALL_CLOSE_E, 1, 16, fd=9),
    ]
    return section_header() + procs + users + b"".join(evs)


FIELDS = [
    "proc.name",
    "proc.pname",
    "proc.exepath",
    "proc.cmdline",
    "proc.ppid",
    "user.name",
    "user.uid",
    "group.name",
    "container.id",
    "fd.name",
    "fd.typechar",
    "fd.sip",
    "fd.sport",
    "fd.cip",
    "fd.cport",
    "fd.ip",
    "fd.port",
    "fd.l4proto",
    "proc.cwd",
    "evt.is_open_read",
    "fd.directory",
    "fd.filename",
    "proc.vpgid",
]


def test_synthetic_fork_exec_open_connect_exit() -> None:
    state = StateEngine()
    getters = {n: _get(n) for n in FIELDS}
    aname = _idx("proc.aname")
    snaps = []
    # Fields are read while the event is current, as the rule engine does.
    for e in read_capture(io.BytesIO(_synthetic()), state):
        snap = {n: g(e) for n, g in getters.items()}
        snap["aname2"] = aname(2)(e)
        snap["aname"] = aname(None)(e)
        snaps.append(snap)
    assert len(snaps) == 16
    execve_x, openat_x, connect_x, close_x = snaps[3], snaps[4], snaps[8], snaps[10]
    assert execve_x["proc.name"] == "curl"
    assert execve_x["proc.pname"] == "bash"
    assert execve_x["proc.exepath"] == "/usr/bin/curl"
    assert execve_x["proc.cmdline"] == "curl -s http://x"
    assert execve_x["proc.ppid"] == 100
    assert execve_x["aname2"] == "systemd"
    assert list(execve_x["aname"]) == ["bash", "systemd"]  # without an index: every ancestor
    assert execve_x["user.name"] == "alice" and execve_x["user.uid"] == 1000
    assert execve_x["group.name"] == "staff"
    assert execve_x["container.id"] == "aaaaaaaaaaaa"
    # as libsinsp, the exec takes its process group from the event (a new group leader)
    assert execve_x["proc.vpgid"] == 200
    assert openat_x["fd.name"] == "/root/etc/passwd"
    assert openat_x["fd.directory"] == "/root/etc"
    assert openat_x["fd.filename"] == "passwd"
    assert openat_x["evt.is_open_read"] is True
    assert connect_x["fd.name"] == "10.0.0.1:40000->93.184.216.34:443"
    assert str(connect_x["fd.sip"]) == "93.184.216.34" and connect_x["fd.sport"] == 443
    assert str(connect_x["fd.cip"]) == "10.0.0.1" and connect_x["fd.cport"] == 40000
    assert [str(ip) for ip in connect_x["fd.ip"]] == ["10.0.0.1", "93.184.216.34"]
    assert list(connect_x["fd.port"]) == [40000, 443]
    assert connect_x["fd.l4proto"] == "tcp"
    assert close_x["fd.name"] == "/root/etc/passwd"
    assert snaps[11]["proc.cwd"] == "/root/tmp/"
    # bash exited with reaper 1: curl now hangs off systemd
    assert snaps[13]["proc.pname"] == "systemd"
    # both exited: removed before the next event
    assert state.threads.get(200) is None
    assert state.threads.get(100) is None


def test_placeholder_thread_for_unknown_tid() -> None:
    data = section_header() + event(et.PPME_SYSCALL_CLOSE_E, 4242, 1, fd=1)
    (e,) = list(read_capture(io.BytesIO(data)))
    assert _get("proc.name")(e) == "<NA>"
    assert _get("user.uid")(e) == 0xFFFFFFFF
    assert _get("thread.tid")(e) == 4242


def test_container_ids_from_cgroups() -> None:
    cid = "0123456789ab" + "c" * 52
    cases = {
        f"/docker/{cid}": "0123456789ab",
        f"/system.slice/docker-{cid}.scope": "0123456789ab",
        f"/kubepods/besteffort/pod1234/{cid}": "0123456789ab",
        f"/kubepods.slice/kubepods-pod1.slice/cri-containerd-{cid}.scope": "0123456789ab",
        f"/kubepods.slice/crio-{cid}.scope": "0123456789ab",
        f"/machine.slice/libpod-{cid}.scope": "0123456789ab",
        "/user.slice/user-1000.slice": "host",
    }
    for path, want in cases.items():
        assert container_id([("cpu", path)]) == want, path
    # cached per path: the same answers a second time, and across a full cache
    from lanner.sources.syscall.state import containers

    for _ in range(2):
        for path, want in cases.items():
            assert container_id([("cpu", "/"), ("memory", path)]) == want, path
    for i in range(containers._MAX_CACHED + 10):
        assert container_id([("cpu", f"/user.slice/{i}")]) == "host"
    assert len(containers._PATH_IDS) <= containers._MAX_CACHED
    for path, want in cases.items():
        assert container_id([("cpu", path)]) == want, path


def test_resolve_path() -> None:
    assert resolve_path("/root/", "a/../b/./c") == "/root/b/c"
    assert resolve_path("/root", "/etc//passwd") == "/etc/passwd"
    assert resolve_path("", "rel") == "rel"
    assert resolve_path("/", "..") == "/"


@pytest.mark.parametrize(
    "types",
    [
        ["open", "openat", "connect", "execve"],
        ["read", "write", "close", "sendto", "recvfrom"],
        ["mprotect", "clock_gettime", "poll", "procexit"],
    ],
)
@pytest.mark.parametrize("name", ["curl_google.scap", "single_ipv6_conn.scap", "sample.scap"])
def test_early_rejection_keeps_state_exact(name: str, types: list[str]) -> None:
    getters = [_get(n) for n in [*FIELDS, "evt.num", "evt.type", "fd.num", "evt.args"]]
    full = [[g(e) for g in getters] for e in read_capture(capture(name)) if e.name in types]
    filtered = [[g(e) for g in getters] for e in read_capture(capture(name), event_types=types)]
    assert filtered == full


def test_pending_enter_events_do_not_pin_read_chunks() -> None:
    state = StateEngine()
    for _ in read_capture(capture("sample.scap"), state):
        pass
    pending = [t.last_enter for t in state.threads.threads.values() if t.last_enter]
    assert pending
    assert all(len(e._buf) < 4096 for e in pending)  # their own bytes, not a 1 MiB chunk
    assert all(e.args() is not None for e in pending)


def test_credentials_and_capabilities_follow_syscalls() -> None:
    procs = block(0x202, proc_v1(50, 50, 1, "app", "/app", [], "/srv/", uid=0, gid=0))
    data = (
        section_header()
        + procs
        + event(et.PPME_SYSCALL_SETRESUID_X, 50, 1, res=0, ruid=1000, euid=1001, suid=1000)
        + event(et.PPME_SYSCALL_SETGID_X, 50, 2, res=0, gid=2000)
        + event(et.PPME_SYSCALL_SETUID_X, 50, 3, res=-1, uid=0)  # failed: no change
        + event(et.PPME_SYSCALL_CAPSET_X, 50, 4, res=0, cap_permitted=1 << 21, cap_effective=0)
        + event(et.PPME_SYSCALL_CHROOT_X, 50, 5, res=0, path="jail")
        + event(et.PPME_SYSCALL_CLOSE_E, 50, 6, fd=1)
    )
    get = {n: _get(n) for n in ("user.uid", "group.gid", "thread.cap_permitted")}
    rows = [{n: g(e) for n, g in get.items()} for e in read_capture(io.BytesIO(data))]
    assert rows[0]["user.uid"] == 1001  # the effective uid
    assert rows[1]["group.gid"] == 2000
    assert rows[2]["user.uid"] == 1001
    assert rows[3]["thread.cap_permitted"] == "CAP_SYS_ADMIN"
    state = StateEngine()
    list(read_capture(io.BytesIO(data), state))
    assert state.threads.get(50).root == "/srv/jail"  # type: ignore[union-attr]


def test_resolve_path_matches_normpath() -> None:
    import posixpath
    import random

    def reference(base: str, name: str) -> str:
        if not name:
            return name
        path = name if name.startswith("/") or not base else f"{base.rstrip('/')}/{name}"
        if not path.startswith("/"):
            return path
        norm = posixpath.normpath(path)
        return "/" + norm.lstrip("/") if norm.startswith("//") else norm

    rnd = random.Random(7)
    parts = ["", ".", "..", "a", "etc", ".x", "..y", "...", "b."]
    for _ in range(5000):
        name = "/".join(rnd.choice(parts) for _ in range(rnd.randint(1, 5)))
        if rnd.random() < 0.5:
            name = "/" + name
        base = rnd.choice(["", "/", "/root/", "/srv", "rel/", "//x/"])
        assert resolve_path(base, name) == reference(base, name), (base, name)


def test_bounds_refuse_and_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the caps, threads and fds are refused and counted (StateEngine.counters)."""
    import io

    from state_oracle import scenario_capture

    from lanner.sources.syscall.state import StateEngine
    from lanner.sources.syscall.state.fds import FdTable

    unbounded = StateEngine()
    for _ in read_capture(io.BytesIO(scenario_capture()), unbounded):
        pass
    assert unbounded.counters()["threads_dropped"] == 0
    assert unbounded.counters()["fds_dropped"] == 0

    monkeypatch.setattr(FdTable, "MAX_FDS", 3)
    state = StateEngine(max_threads=6)
    for _ in read_capture(io.BytesIO(scenario_capture()), state):
        pass
    c = state.counters()
    assert c["threads"] <= 6 and c["threads_dropped"] > 0
    assert c["fds_dropped"] > 0
    assert all(len(t.fdtable) <= 3 for t in state.threads.threads.values())


@pytest.mark.parametrize(
    ("domain", "stype", "proto", "fd_type", "l4proto"),
    [
        (2, 3, 1, 3, "icmp"),  # AF_INET SOCK_RAW IPPROTO_ICMP
        (10, 3, 58, 4, "icmp"),  # AF_INET6 SOCK_RAW IPPROTO_ICMPV6
        (2, 3, 255, 3, "raw"),
        (2, 0x80801, 6, 3, "tcp"),  # SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC
        (17, 3, 0, 10, None),  # AF_PACKET: an unsupported socket
        (16, 3, 0, 15, None),  # AF_NETLINK
        (1, 1, 0, 8, None),  # AF_UNIX
    ],
)
def test_socket_exit_kinds(
    domain: int, stype: int, proto: int, fd_type: int, l4proto: str | None
) -> None:
    """The native socket handler (libsinsp's parse_socket_exit): the fd's kind from the
    domain, an inet socket's protocol from its type (and ICMP from the protocol)."""
    procs = block(0x202, proc_v1(7, 7, 1, "pinger", "/bin/ping", [], "/"))
    args = {"domain": domain, "type": stype, "proto": proto}
    data = (
        section_header()
        + procs
        + event(et.PPME_SOCKET_SOCKET_E, 7, 10, **args)
        + event(et.PPME_SOCKET_SOCKET_X, 7, 11, fd=5, **args)
        + event(et.PPME_SOCKET_SOCKET_E, 7, 12, **args)
        + event(et.PPME_SOCKET_SOCKET_X, 7, 13, fd=-13, **args)  # failed: no fd
    )
    state = StateEngine()
    events = list(read_capture(io.BytesIO(data), state))
    info = state.threads.get(7).fdtable.fds[5]
    assert info.type == fd_type
    assert events[1].fdinfo is info
    assert set(state.threads.get(7).fdtable.fds) == {5}
    if l4proto is not None:
        # reported by fd.l4proto once the socket has an address; the kind is kept
        assert {2: "tcp", 3: "udp", 4: "icmp", 5: "raw"}[info.sock_l4] == l4proto
    else:
        assert info.sock_l4 == 0
