"""The state tables as capture metadata records: what a capture opened mid-stream starts
with (libsinsp's dumper writes the inspector's threads, fds and users when it opens), so
a replay of it knows the processes and fds that existed before its first event."""

from __future__ import annotations

from collections.abc import Iterator

from ..scap import metadata as md
from ..scap.reader import FdList, InterfaceList, ProcList, Record, UserList
from .fds import FdInfo
from .parser import StateEngine
from .threads import ThreadInfo


def _u32(value: int | None) -> int:
    """An id as the block stores it (unknown: 0xFFFFFFFF, as -1)."""
    return 0xFFFFFFFF if value is None else value & 0xFFFFFFFF


def proc_record(t: ThreadInfo) -> md.ProcRecord:
    """One thread as a process-list entry."""
    return md.ProcRecord(
        tid=t.tid,
        pid=t.pid,
        ptid=t.ptid,
        sid=-1 if t.sid is None else t.sid,
        vpgid=-1 if t.vpgid is None else t.vpgid,
        comm=t.comm or "",
        exe=t.exe or "",
        exepath=t.exepath or "",
        args=list(t.args or ()),
        cwd=t.cwd or "",
        fdlimit=t.fdlimit or 0,
        flags=t.flags or 0,
        uid=_u32(t.uid),
        gid=_u32(t.gid),
        env=list(t.env or ()),
        vtid=-1 if t.vtid is None else t.vtid,
        vpid=-1 if t.vpid is None else t.vpid,
        cgroups=list(t.cgroups or ()),
        root=t.root or "",
        pidns_init_start_ts=t.pidns_init_start_ts or 0,
        tty=t.tty or 0,
        loginuid=_u32(t.loginuid),
        exe_writable=bool(t.exe_writable),
        cap_inheritable=t.cap_inheritable or 0,
        cap_permitted=t.cap_permitted or 0,
        cap_effective=t.cap_effective or 0,
        exe_upper_layer=bool(t.exe_upper_layer),
        exe_ino=t.exe_ino or 0,
        exe_ino_ctime=t.exe_ino_ctime or 0,
        exe_ino_mtime=t.exe_ino_mtime or 0,
        exe_from_memfd=bool(t.exe_from_memfd),
    )


def fd_record(f: FdInfo) -> md.FdRecord:
    """One fd as an fd-list entry (sockets: the client end first, as the reader expects)."""
    r = md.FdRecord(
        fd=f.fd, ino=f.ino or 0, type=f.type, name=f.name or "", open_flags=f.open_flags or 0
    )
    r.dev = f.dev or 0
    if f.type in (md.FD_IPV4_SOCK, md.FD_IPV6_SOCK):
        r.sip, r.sport, r.dip, r.dport = f.cip or "", f.cport or 0, f.sip or "", f.sport or 0
        r.l4proto = f.l4proto or md.L4_UNKNOWN
    elif f.type in (md.FD_IPV4_SERVSOCK, md.FD_IPV6_SERVSOCK):
        r.sip, r.sport = f.sip or "", f.sport or 0
        r.l4proto = f.l4proto or md.L4_UNKNOWN
    elif f.type == md.FD_UNIX_SOCK:
        r.unix_source, r.unix_dest = f.unix_source or 0, f.unix_dest or 0
    return r


def state_records(state: StateEngine) -> Iterator[Record]:
    """The machine, interfaces, users, threads and each process's fds now, as the blocks
    that start a capture (machine info only when the state has one)."""
    if state.machine is not None:
        yield state.machine
    if state.interfaces:
        yield InterfaceList(list(state.interfaces))
    users = state.users
    yield UserList(
        [md.UserRecord(u.uid, u.gid, u.name, u.homedir, u.shell) for u in users.users.values()],
        [md.GroupRecord(g.gid, g.name) for g in users.groups.values()],
    )
    threads = [t for t in state.threads.threads.values() if not t.dead]
    yield ProcList([proc_record(t) for t in threads])
    for t in threads:
        if t.tid == t.pid and t.fdtable is not None and t.fdtable.fds:
            yield FdList(t.tid, [fd_record(f) for f in t.fdtable.fds.values()])
