"""The state oracle: a digest of every event's visible state after the state engine ran.

For each event of a capture, one line holds the event's header, its fd, the thread and fd
attributes the field getters read (thread, main thread, parent, ancestors, fdinfo) and the
value of every syscall field that reads no external store (container metadata and k8s
fields do). The lines of a capture are hashed; after the last event the whole thread and
fd tables are hashed too. ``tests/sources/syscall/data/state_hashes.json`` holds the
digests the engine gave when they were recorded; the state engine must keep giving them.

Record again (only when a change of behaviour is intended and understood):
``.venv/bin/python tests/sources/syscall/state_oracle.py --record``
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from syscall_testutil import (
    ALL_CAPTURES,
    block,
    capture,
    event,
    ipv4_tuple,
    proc_v1,
    section_header,
)

HASHES = Path(__file__).resolve().parent / "data" / "state_hashes.json"

THREAD_ATTRS = (
    "tid",
    "pid",
    "ptid",
    "sid",
    "vpgid",
    "comm",
    "exe",
    "exepath",
    "args",
    "env",
    "cwd",
    "fdlimit",
    "flags",
    "uid",
    "gid",
    "loginuid",
    "vtid",
    "vpid",
    "cgroups",
    "container_id",
    "root",
    "tty",
    "cap_inheritable",
    "cap_permitted",
    "cap_effective",
    "exe_writable",
    "exe_upper_layer",
    "exe_from_memfd",
    "exe_ino",
    "exe_ino_ctime",
    "exe_ino_mtime",
    "clone_ts",
    "pidns_init_start_ts",
    "is_main",
)
FD_ATTRS = (
    "fd",
    "type",
    "name",
    "open_flags",
    "dev",
    "ino",
    "cip",
    "cport",
    "sip",
    "sport",
    "l4proto",
    "role",
    "name_changed_at",
    "unix_source",
    "unix_dest",
    "typechar",
    "typename",
    "is_socket",
    "is_server_socket",
)
_EXTERNAL = ("container.", "k8s.", "k8smeta.")  # read from metadata stores, not the engine


def _canon(v: Any) -> str:
    """A stable text for a value (containers in order, objects by their repr)."""
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_canon(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{k}:{_canon(x)}" for k, x in sorted(v.items())) + "}"
    if isinstance(v, bytes):
        return v.hex()
    return repr(v)


def thread_text(t: Any) -> str:
    """The thread attributes the getters read, as text (``-`` for no thread)."""
    if t is None:
        return "-"
    return "|".join(_canon(getattr(t, a)) for a in THREAD_ATTRS) + f"|nfds={len(t.fdtable)}"


def fd_text(f: Any) -> str:
    """The fd attributes the getters read, as text (``-`` for no fd)."""
    if f is None:
        return "-"
    return "|".join(_canon(getattr(f, a)) for a in FD_ATTRS)


def _extractors() -> list[tuple[str, Callable[[Any], Any]]]:
    from lanner.sources.syscall import syscall_source

    out: list[tuple[str, Callable[[Any], Any]]] = []
    for f in syscall_source().fields:
        if f.name.startswith(_EXTERNAL) or f.name == "fd.containername":
            continue
        if not f.arg_required:
            out.append((f.name, f.bind(None)))
    fields = syscall_source().fields
    for name in ("proc.aname", "proc.apid", "proc.aexe", "proc.acmdline"):
        f = fields.resolve(name)[0]  # type: ignore[index]
        for depth in (1, 2, 3, 5):
            out.append((f"{name}[{depth}]", f.bind(depth)))
    return out


def _value(get: Callable[[Any], Any], evt: Any) -> str:
    try:
        return _canon(get(evt))
    except Exception as exc:  # a getter that fails is part of the behaviour too
        return f"!{type(exc).__name__}"


def event_line(evt: Any, extractors: list[tuple[str, Callable[[Any], Any]]]) -> str:
    """One event's visible state."""
    th = evt.thread
    parts = [f"{evt.num}:{evt.type}:{evt.tid}:fd={evt.fd}", "T=" + thread_text(th)]
    if th is not None and th.table is not None:
        tab = th.table
        parts.append("M=" + thread_text(tab.main_thread(th)))
        parts.append("P=" + thread_text(tab.parent(th)))
        parts.append("A=" + ",".join(str(a.tid) for a in tab.ancestors(th)))
    parts.append("F=" + fd_text(evt.fdinfo))
    parts.extend(f"{name}={_value(get, evt)}" for name, get in extractors)
    return "\n".join(parts)


def tables_text(state: Any) -> str:
    """Every thread and every fd of the tables, sorted."""
    threads = state.threads
    lines = []
    for tid in sorted(threads.threads):
        t = threads.threads[tid]
        lines.append(thread_text(t))
        for fd in sorted(t.fdtable.fds):
            lines.append("  " + fd_text(t.fdtable.fds[fd]))
    users = state.users
    for uid in sorted(users.users):
        u = users.users[uid]
        lines.append(f"user {u.uid} {u.gid} {u.name!r} {u.homedir!r} {u.shell!r}")
    for gid in sorted(users.groups):
        lines.append(f"group {gid} {users.groups[gid].name!r}")
    return "\n".join(lines)


def digest(source: str | Path | bytes) -> dict[str, Any]:
    """Replay ``source`` (a path or capture bytes) and digest every event's state."""
    import io

    from lanner.sources.syscall import read_capture
    from lanner.sources.syscall.state import StateEngine

    src: Any = io.BytesIO(source) if isinstance(source, bytes) else source
    state = StateEngine()
    extractors = _extractors()
    h = hashlib.sha256()
    n = 0
    for evt in read_capture(src, state):
        h.update(event_line(evt, extractors).encode("utf-8", "surrogateescape"))
        h.update(b"\n\0")
        n += 1
    tables = hashlib.sha256(tables_text(state).encode("utf-8", "surrogateescape")).hexdigest()
    return {"events": n, "events_sha256": h.hexdigest(), "tables_sha256": tables}


# -- Lanner-written captures: every state handler in a few made-up processes -------------


def _sockaddr_in(ip: str, port: int) -> bytes:
    import socket

    return b"\x02" + socket.inet_aton(ip) + struct.pack("<H", port)


def _unix_tuple(src: int, dst: int, path: str) -> bytes:
    return b"\x01" + struct.pack("<QQ", src, dst) + path.encode() + b"\0"


def _fdlist(tid: int, entries: Iterable[tuple[int, int, str]]) -> bytes:
    """An fd-list block (v1, FDL 0x203) of file entries (fd, scap type, name)."""
    body = struct.pack("<q", tid)
    for fd, ftype, name in entries:
        raw = name.encode()
        body += struct.pack("<qQB", fd, 0, ftype) + struct.pack("<H", len(raw)) + raw
    return block(0x203, body)


def scenario_capture() -> bytes:
    """A capture exercising every state handler (made up, written by this helper)."""
    from lanner.sources.syscall import event_table as et
    from lanner.sources.syscall.flags import PPM_CL_CLONE_FILES, PPM_CL_CLONE_THREAD

    procs = block(
        0x202,
        proc_v1(1, 1, 0, "systemd", "/sbin/init", [], "/")
        + proc_v1(50, 50, 1, "sshd", "/usr/sbin/sshd", ["-D"], "/")
        + proc_v1(100, 100, 50, "bash", "/bin/bash", ["-l"], "/root", uid=1000, gid=1000)
        + proc_v1(101, 100, 50, "bash", "/bin/bash", ["-l"], "/root", uid=1000, gid=1000),
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
    ts = iter(range(1000, 100000, 7))

    def ev(etype: int, tid: int, **kw: object) -> bytes:
        return event(etype, tid, next(ts), **kw)

    cg = b"cpu=/docker/" + b"b" * 64 + b"\0"
    clone = et.PPME_SYSCALL_CLONE_20_X
    evs = [
        # bash (100) starts a thread 102 and a child 200
        ev(clone, 100, res=102, exe="bash", comm="bash", flags=PPM_CL_CLONE_THREAD, uid=1000),
        ev(clone, 102, res=0, exe="bash", comm="bash", pid=100, ptid=50, flags=PPM_CL_CLONE_THREAD),
        ev(clone, 100, res=200, exe="bash", comm="bash", uid=1000, gid=1000, cwd="/root"),
        ev(clone, 200, res=0, exe="bash", comm="bash", pid=200, ptid=100, vtid=1, vpid=1),
        ev(et.PPME_SYSCALL_OPENAT_2_X, 200, fd=3, dirfd=-100, name="a/../b.txt", flags=1 << 12),
        ev(et.PPME_SYSCALL_OPEN_X, 200, fd=5, name="/etc/hosts", flags=1, dev=7, ino=99),
        ev(et.PPME_SYSCALL_OPENAT_2_X, 200, fd=6, dirfd=-100, name="/tmp/", flags=1 << 10),
        ev(et.PPME_SYSCALL_OPENAT_2_X, 200, fd=7, dirfd=6, name="x/y", flags=2),
        ev(et.PPME_SYSCALL_OPENAT_2_X, 200, fd=-2, dirfd=-100, name="/nope", flags=1),
        ev(et.PPME_SYSCALL_DUP2_E, 200, fd=5),
        ev(et.PPME_SYSCALL_DUP2_X, 200, res=9, oldfd=5, newfd=9),
        ev(et.PPME_SYSCALL_DUP_1_E, 200, fd=7),
        ev(et.PPME_SYSCALL_DUP_1_X, 200, res=10, oldfd=7),
        ev(et.PPME_SYSCALL_FCNTL_E, 200, fd=9, cmd=1),
        ev(et.PPME_SYSCALL_FCNTL_X, 200, res=11, fd=9, cmd=1),
        ev(et.PPME_SYSCALL_PIPE2_X, 200, res=0, fd1=12, fd2=13, ino=4242),
        ev(
            et.PPME_SOCKET_SOCKETPAIR_X,
            200,
            res=0,
            fd1=14,
            fd2=15,
            source=0xAA,
            peer=0xBB,
            domain=1,
            type=1,
        ),
        ev(et.PPME_SYSCALL_EVENTFD2_X, 200, res=16),
        ev(et.PPME_SYSCALL_MEMFD_CREATE_X, 200, fd=17, name="blob"),
        ev(et.PPME_SYSCALL_CHDIR_X, 200, res=0, path="/var/tmp"),
        ev(et.PPME_SYSCALL_CHDIR_X, 200, res=0, path="../log"),
        ev(et.PPME_SYSCALL_FCHDIR_E, 200, fd=6),
        ev(et.PPME_SYSCALL_FCHDIR_X, 200, res=0, fd=6),
        ev(et.PPME_SYSCALL_SETUID_X, 200, res=0, uid=0),
        ev(et.PPME_SYSCALL_SETGID_X, 200, res=0, gid=0),
        ev(et.PPME_SYSCALL_SETRESUID_X, 200, res=0, ruid=5, euid=6, suid=7),
        ev(
            et.PPME_SYSCALL_CAPSET_X,
            200,
            res=0,
            cap_inheritable=1,
            cap_permitted=3,
            cap_effective=2,
        ),
        ev(et.PPME_SYSCALL_SETSID_X, 200, res=200),
        ev(et.PPME_SYSCALL_CHROOT_X, 200, res=0, path="jail"),
        # a TCP client, a UDP sender, a server accepting
        ev(et.PPME_SOCKET_SOCKET_X, 200, fd=20, domain=2, type=1, proto=0),
        ev(et.PPME_SOCKET_CONNECT_E, 200, fd=20),
        ev(
            et.PPME_SOCKET_CONNECT_X,
            200,
            res=-115,
            fd=20,
            tuple=ipv4_tuple("10.0.0.2", 41000, "1.2.3.4", 80),
        ),
        ev(et.PPME_SOCKET_SOCKET_X, 200, fd=21, domain=2, type=2, proto=0),
        ev(et.PPME_SOCKET_SENDTO_E, 200, fd=21, size=4),
        ev(
            et.PPME_SOCKET_SENDTO_X,
            200,
            res=4,
            fd=21,
            size=4,
            tuple=ipv4_tuple("0.0.0.0", 5353, "8.8.8.8", 53),
        ),
        ev(et.PPME_SOCKET_SOCKET_X, 200, fd=22, domain=2, type=1, proto=6),
        ev(et.PPME_SOCKET_BIND_E, 200, fd=22),
        ev(et.PPME_SOCKET_BIND_X, 200, res=0, addr=_sockaddr_in("0.0.0.0", 8080), fd=22),
        ev(et.PPME_SOCKET_ACCEPT4_6_E, 200),
        ev(
            et.PPME_SOCKET_ACCEPT4_6_X,
            200,
            fd=23,
            tuple=ipv4_tuple("5.6.7.8", 50000, "10.0.0.2", 8080),
        ),
        ev(et.PPME_SOCKET_SOCKET_X, 200, fd=24, domain=1, type=1),
        ev(et.PPME_SOCKET_CONNECT_E, 200, fd=24),
        ev(et.PPME_SOCKET_CONNECT_X, 200, res=0, fd=24, tuple=_unix_tuple(1, 2, "/run/s.sock")),
        ev(et.PPME_SOCKET_SOCKET_X, 200, fd=25, domain=16, type=3),
        ev(et.PPME_SYSCALL_WRITE_E, 200, fd=20, size=3),
        ev(et.PPME_SYSCALL_WRITE_X, 200, res=3, data=b"abc", fd=20, size=3),
        ev(et.PPME_SYSCALL_CLOSE_E, 200, fd=5),
        ev(et.PPME_SYSCALL_CLOSE_X, 200, res=0),
        ev(et.PPME_SYSCALL_CLOSE_E, 200, fd=99),
        ev(et.PPME_SYSCALL_CLOSE_X, 200, res=-9),
        # a fork sharing files, a vfork, then exec with close-on-exec
        ev(clone, 200, res=300, exe="bash", comm="bash", flags=PPM_CL_CLONE_FILES),
        ev(et.PPME_SYSCALL_VFORK_20_X, 200, res=301, exe="bash", comm="bash"),
        ev(et.PPME_SYSCALL_VFORK_20_X, 301, res=0, exe="bash", comm="bash", pid=301, ptid=200),
        ev(et.PPME_SYSCALL_EXECVE_19_E, 200, filename="/usr/bin/nc"),
        ev(
            et.PPME_SYSCALL_EXECVE_19_X,
            200,
            res=0,
            exe="/usr/bin/nc",
            args=b"-l\x008080\x00",
            comm="nc",
            pid=200,
            ptid=100,
            cwd="/var/log",
            env=b"HOME=/root\x00TERM=xterm\x00",
            cgroups=cg,
            tty=34816,
            loginuid=1000,
            cap_permitted=0xFF,
            cap_effective=0x0F,
            uid=0,
            gid=0,
            exe_ino=77,
            trusted_exepath="/usr/bin/nc.traditional",
            filename="/usr/bin/nc",
        ),
        ev(et.PPME_SYSCALL_READ_X, 200, res=0, data=b"", fd=3, size=0),
        ev(et.PPME_USER_ADDED_E, 0, uid=1001, gid=1001, name="bob", home="/home/bob", shell="sh"),
        ev(et.PPME_GROUP_ADDED_E, 0, gid=1001, name="bobs"),
        ev(et.PPME_USER_DELETED_E, 0, uid=1000, gid=1000, name="alice"),
        ev(et.PPME_SYSCALL_OPEN_X, 999, fd=3, name="/x", flags=1),  # unknown thread
        # exits: a thread, a process with live threads, then its last thread
        ev(et.PPME_PROCEXIT_1_E, 301),
        ev(et.PPME_SYSCALL_CLOSE_E, 301, fd=3),
        ev(et.PPME_PROCEXIT_1_E, 100),
        ev(et.PPME_SYSCALL_CLOSE_E, 101, fd=3),
        ev(et.PPME_PROCEXIT_1_E, 101),
        ev(et.PPME_SYSCALL_CLOSE_E, 102, fd=3),
        ev(et.PPME_PROCEXIT_1_E, 102),
        ev(et.PPME_SYSCALL_CLOSE_E, 200, fd=3),
        ev(et.PPME_PROCEXIT_1_E, 200),
        ev(et.PPME_SYSCALL_CLOSE_E, 300, fd=3),
    ]
    fdl = _fdlist(100, [(0, 1, "/dev/pts/0"), (1, 1, "/dev/pts/0"), (3, 1, "/root/.bashrc")])
    return section_header() + procs + fdl + users + b"".join(evs)


def _state_test_captures() -> dict[str, bytes]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import test_syscall_fields
    import test_syscall_state

    return {
        "lanner:scenario": scenario_capture(),
        "lanner:test_syscall_state._synthetic": test_syscall_state._synthetic(),
        "lanner:test_syscall_fields._anyof_capture": test_syscall_fields._anyof_capture(),
    }


def all_sources() -> dict[str, str | Path | bytes]:
    """Every capture the oracle covers, by name."""
    out: dict[str, str | Path | bytes] = {name: capture(name) for name in ALL_CAPTURES}
    out.update(_state_test_captures())
    return out


def recorded() -> dict[str, dict[str, Any]]:
    """The recorded digests."""
    return json.loads(HASHES.read_text())  # type: ignore[no-any-return]


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: state_oracle.py --record")
    data = {name: digest(src) for name, src in all_sources().items()}
    HASHES.parent.mkdir(exist_ok=True)
    HASHES.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(json.dumps(data, indent=2))
