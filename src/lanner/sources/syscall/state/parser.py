"""Apply events to the thread, fd and user tables, the way libsinsp's parsers.cpp does.

``StateEngine.process(event)`` attaches ``event.thread``, ``event.fd`` and ``event.fdinfo``
(as they were when the event happened) and then updates the tables. Exited threads and
closed fds are removed before the next event, so the exit/close event itself still sees
them.
"""

from __future__ import annotations

import ipaddress
import posixpath
import struct
from collections.abc import Callable

from .. import event_table as et
from .._native import StateCore
from .._native import resolve_path as _native_resolve_path
from ..event import HAS_RES, PARAM_INDEX, Event
from ..flags import (
    PPM_CL_CLONE_FILES,
    PPM_CL_CLONE_THREAD,
    PPM_FCNTL_F_DUPFD,
    PPM_FCNTL_F_DUPFD_CLOEXEC,
)
from ..params import AF_INET, AF_INET6, AF_UNIX, SockAddr, SockTuple
from ..scap import FdList, ProcList, UserList
from ..scap import metadata as md
from .containers import container_id
from .fds import ROLE_CLIENT, ROLE_SERVER, FdInfo, FdTable, fdinfo_from_record
from .threads import NA, ThreadInfo, ThreadTable, thread_from_record, with_slash
from .users import Group, User, UserTable

AT_FDCWD = -100
EINPROGRESS = 115
CLONE_PARENT = 1 << 8

Handler = Callable[["StateEngine", Event, "ThreadInfo | None"], None]

_IS_ENTER = tuple(d == ">" for d in et.EVENT_DIRS)
# Enter events that start a syscall (and so pair with an exit); scheduler switches,
# tracepoints and meta events do not.
_PAIRS = tuple(
    d == ">" and not c & (et.EC_SCHEDULER | et.EC_TRACEPOINT | et.EC_METAEVENT)
    for d, c in zip(et.EVENT_DIRS, et.EVENT_CATEGORIES, strict=True)
)
_USES_FD = tuple(bool(f & et.EF_USES_FD) for f in et.EVENT_FLAGS)
_FD_INDEX = tuple(idx.get("fd") for idx in PARAM_INDEX)
_CREATES_FD = tuple(bool(f & et.EF_CREATES_FD) for f in et.EVENT_FLAGS)
_SKIP_RESET = tuple(bool(f & et.EF_SKIPPARSERESET) for f in et.EVENT_FLAGS)
# exit events whose first parameter is a 64-bit return value (res/fd/pid)
_RES_FIRST = tuple(
    bool(p) and p[0][1] in (et.PT_ERRNO, et.PT_FD, et.PT_PID, et.PT_INT64) for p in et.EVENT_PARAMS
)


_IDS_BY_NAME: dict[tuple[str, str], list[int]] = {}
for _i, _key in enumerate(zip(et.EVENT_NAMES, et.EVENT_DIRS, strict=True)):
    _IDS_BY_NAME.setdefault(_key, []).append(_i)


def _names(*names: str, exit_: bool = True) -> list[int]:
    d = "<" if exit_ else ">"
    return sorted(i for n in names for i in _IDS_BY_NAME.get((n, d), ()))


def _arg(evt: Event, name: str) -> object:
    """A parameter from the event, falling back to its enter event."""
    idx = PARAM_INDEX[evt.type].get(name)
    if idx is not None and idx < evt.nparams:
        return evt.param(idx)
    enter = evt.enter
    if enter is not None:
        return enter.arg(name)
    return None


def _int_arg(evt: Event, name: str) -> int | None:
    """An integer parameter (flags as their number), falling back to the enter event."""
    return evt.eint(name)


def _addr_in(ip: str | None, addrs: set[ipaddress.IPv4Address | ipaddress.IPv6Address]) -> bool:
    if not ip or not addrs:
        return False
    try:
        return ipaddress.ip_address(ip) in addrs
    except ValueError:
        return False


resolve_path = _native_resolve_path
"""``resolve_path(base, name)``: ``name`` joined to ``base`` when relative, normalized like
posixpath.normpath with one leading slash (sinsp's path handling); native/paths.c."""


class StateEngine(StateCore):
    """The thread, fd and user tables, updated event by event (``process(evt)``)."""

    def __init__(self, max_threads: int = 131072) -> None:
        self.threads = ThreadTable(max_threads)
        self._bind(
            self.threads.threads,
            self.threads,
            _SPEC_BYTES,
            _HANDLERS,
            FdInfo,
            _arg,
            _OPEN_PARAMS,
            FdTable.MAX_FDS,
        )
        self.users: UserTable = self.threads.users
        self.machine = None
        self.interfaces: list[md.Interface] = []
        self._remove_tid: int | None = None
        self._remove_fd: tuple[ThreadInfo, int] | None = None
        self._pending = False  # whether _remove_fd or _remove_tid is set

    def counters(self) -> dict[str, int]:
        """Table sizes and what the bounds refused, for metrics: threads tracked, threads
        refused at the table's cap, fds refused at a process's cap."""
        return {
            "threads": len(self.threads),
            "threads_dropped": self.threads.dropped,
            "fds_dropped": self.fds_dropped,
        }

    @staticmethod
    def has_handler(etype: int) -> bool:
        """Whether events of type ``etype`` have a state handler."""
        return 0 <= etype < len(_SPEC) and (_SPEC[etype][7] is not None or etype in _NATIVE)

    # -- metadata blocks --------------------------------------------------------------
    def load_record(self, rec: object) -> None:
        """Apply a metadata record (process list, fd list, user list, machine info...)."""
        if isinstance(rec, ProcList):
            for r in rec.threads:
                t = thread_from_record(r)
                if t.tid != t.pid:
                    mt = self.threads.get(t.pid)
                    if mt is not None:
                        t.fdtable = mt.fdtable
                self.threads.add(t)
        elif isinstance(rec, FdList):
            owner = self.threads.get(rec.tid)
            if owner is not None:
                mt = self.threads.main_thread(owner)
                local = self.threads.local_ips
                for fd_rec in rec.fds:
                    info = fdinfo_from_record(fd_rec)
                    if info.type in (md.FD_IPV4_SOCK, md.FD_IPV6_SOCK):
                        # like libsinsp's update_fd: the local end tells the role
                        if _addr_in(info.cip, local):
                            info.role = ROLE_CLIENT
                        elif _addr_in(info.sip, local):
                            info.role = ROLE_SERVER
                    if not mt.fdtable.add(info):
                        self.fds_dropped += 1
        elif isinstance(rec, UserList):
            for u in rec.users:
                self.users.add_user(User(u.uid, u.gid, u.name, u.homedir, u.shell))
            for g in rec.groups:
                self.users.add_group(Group(g.gid, g.name))
        elif isinstance(rec, md.MachineInfo):
            self.machine = rec  # type: ignore[assignment]
            self.threads.hostname = rec.hostname
        elif hasattr(rec, "interfaces"):
            self.interfaces = list(rec.interfaces)
            self.threads.local_ips = {ipaddress.ip_address(i.addr) for i in self.interfaces}

    # -- events -----------------------------------------------------------------------
    # process(evt), in C (native/engine.c, StateCore): attach evt.thread (a placeholder
    # for an unknown tid), evt.enter, evt.fd and evt.fdinfo as _SPEC says for the type,
    # then call the type's handler. Pending removals are applied first.

    def _placeholder(self, tid: int) -> ThreadInfo | None:
        # A thread the capture never described: libsinsp's "invalid" thread, <NA> names
        # and uid/gid/loginuid of -1.
        t = ThreadInfo(tid, tid, -1)
        t.uid = t.gid = t.loginuid = 0xFFFFFFFF
        return self.threads.add(t)

    def _drop_thread(self, tid: int) -> None:
        th = self.threads.get(tid)
        if th is None:
            return
        if th.is_main and any(o is not th for o in self.threads.group(th.pid)):
            return  # keep the main thread while its process has live threads
        self.threads.remove(tid)
        if not th.is_main:
            mt = self.threads.get(th.pid)
            if mt is not None and mt.dead and not self.threads.group(th.pid):
                self.threads.remove(mt.tid)

    def add_fd(self, evt: Event, th: ThreadInfo, info: FdInfo) -> None:
        """Register a new fd and make it the event's fd."""
        if not th.fdtable.add(info):
            self.fds_dropped += 1
        evt.fd = info.fd
        evt.fdinfo = info

    def cwd(self, th: ThreadInfo) -> str:
        """The process's working directory."""
        return self.threads.main_thread(th).cwd


# ---------------------------------------------------------------------------------------
# Process handlers


def _fill_from_exec_like(
    th: ThreadInfo, evt: Event, with_cwd: bool = True, with_ns_ids: bool = True
) -> None:
    exe = _arg(evt, "exe")
    if isinstance(exe, str):
        th.exe = exe
    args = _arg(evt, "args")
    if isinstance(args, (bytes, bytearray)):
        th.args = md.split_nul(bytes(args))
    elif isinstance(args, list):
        th.args = args
    comm = _arg(evt, "comm")
    if isinstance(comm, str) and comm:
        th.comm = comm
    elif isinstance(exe, str):
        th.comm = posixpath.basename(exe)[:15] if exe else th.comm
    if with_cwd:
        cwd = _arg(evt, "cwd")
        if isinstance(cwd, str) and cwd:
            th.cwd = with_slash(cwd)
    fdlimit = _int_arg(evt, "fdlimit")
    if fdlimit is not None:
        th.fdlimit = fdlimit
    cg = _arg(evt, "cgroups")
    if isinstance(cg, (bytes, bytearray)) and cg:
        th.cgroups, th.container_id = _cgroups(bytes(cg))
    env = _arg(evt, "env")
    if isinstance(env, (bytes, bytearray)) and env:
        th.env = _env(bytes(env))
    for name in ("uid", "gid", "loginuid"):
        v = _int_arg(evt, name)
        if v is not None:
            setattr(th, name, v)
    for name in ("vtid", "vpid", "pidns_init_start_ts") if with_ns_ids else ():
        v = _int_arg(evt, name)
        if v is not None:
            setattr(th, name, v)
    tty = _int_arg(evt, "tty")
    if tty is not None:
        th.tty = tty
    for name in ("cap_inheritable", "cap_permitted", "cap_effective"):
        v = _int_arg(evt, name)
        if v is not None:
            setattr(th, name, v)


# Decoded cgroups (with their container id) and environments by their raw bytes: the
# clones and execs of a host repeat the same few. The lists are shared between threads,
# as a child shares its parent's (never changed in place).
_CGROUPS: dict[bytes, tuple[list[tuple[str, str]], str]] = {}
_ENVS: dict[bytes, list[str]] = {}
_MAX_CACHED = 1024


def _cgroups(raw: bytes) -> tuple[list[tuple[str, str]], str]:
    hit = _CGROUPS.get(raw)
    if hit is None:
        cgroups = md.parse_cgroups(raw)
        hit = cgroups, container_id(cgroups)
        if len(_CGROUPS) >= _MAX_CACHED:
            _CGROUPS.clear()
        _CGROUPS[raw] = hit
    return hit


def _env(raw: bytes) -> list[str]:
    hit = _ENVS.get(raw)
    if hit is None:
        hit = md.split_nul(raw)
        if len(_ENVS) >= _MAX_CACHED:
            _ENVS.clear()
        _ENVS[raw] = hit
    return hit


def _on_clone_exit(eng: StateEngine, evt: Event, th: ThreadInfo | None) -> None:
    res = evt.res
    if res is None or res < 0:
        return
    flags = _int_arg(evt, "flags") or 0
    threads = eng.threads
    if res > 0:
        # Caller side: res is the child's tid.
        if threads.get(res) is not None or th is None:
            return
        caller = th
        ptid = caller.ptid if flags & CLONE_PARENT else caller.tid
        pid = caller.pid if flags & PPM_CL_CLONE_THREAD else res
        child = ThreadInfo(res, pid, ptid)
        _inherit(child, caller, threads)
        # the event's vtid/vpid are the caller's; outside a pid namespace the child's
        # equal its tid/pid, inside we learn them from the child's own event
        _fill_from_exec_like(child, evt, with_ns_ids=False)
        if caller.vtid == caller.tid:
            child.vtid, child.vpid = child.tid, child.pid
        child.flags = flags
        _share_fds(child, caller, flags, threads)
        child.clone_ts = evt.ts
        threads.add(child)
        return
    # Child side: the event's tid/pid/ptid describe the new thread.
    if th is not None and not th.dead and th.comm != NA:
        # built from the caller's event already; only the namespace ids are new here
        for name in ("vtid", "vpid"):
            v = _int_arg(evt, name)
            if v is not None and v >= 0:
                setattr(th, name, v)
        return
    tid = evt.tid
    new_pid = _int_arg(evt, "pid")
    new_ptid = _int_arg(evt, "ptid")
    child = ThreadInfo(
        tid, new_pid if new_pid is not None else tid, new_ptid if new_ptid is not None else -1
    )
    parent = threads.get(child.ptid) if not flags & PPM_CL_CLONE_THREAD else None
    if flags & PPM_CL_CLONE_THREAD:
        parent = threads.get(child.pid)
    if parent is not None:
        _inherit(child, parent, threads)
    _fill_from_exec_like(child, evt)
    child.flags = flags
    if parent is not None:
        _share_fds(child, parent, flags, threads)
    child.clone_ts = evt.ts
    added = threads.add(child)
    evt.thread = added if added is not None else th


def _inherit(child: ThreadInfo, parent: ThreadInfo, threads: ThreadTable) -> None:
    pm = threads.main_thread(parent)
    child.comm, child.exe, child.exepath = parent.comm, parent.exe, parent.exepath
    child.args = list(parent.args)
    child.env = pm.env
    child.cwd = pm.cwd
    child.uid, child.gid, child.loginuid = parent.uid, parent.gid, parent.loginuid
    child.tty, child.sid, child.vpgid = parent.tty, parent.sid, parent.vpgid
    child.cgroups, child.container_id = parent.cgroups, parent.container_id
    child.cap_inheritable = parent.cap_inheritable
    child.cap_permitted = parent.cap_permitted
    child.cap_effective = parent.cap_effective
    child.exe_writable, child.exe_upper_layer = parent.exe_writable, parent.exe_upper_layer
    child.exe_from_memfd, child.exe_ino = parent.exe_from_memfd, parent.exe_ino
    child.exe_ino_ctime, child.exe_ino_mtime = parent.exe_ino_ctime, parent.exe_ino_mtime
    child.root, child.fdlimit = parent.root, parent.fdlimit


def _share_fds(child: ThreadInfo, parent: ThreadInfo, flags: int, threads: ThreadTable) -> None:
    src = threads.main_thread(parent).fdtable
    if flags & (PPM_CL_CLONE_FILES | PPM_CL_CLONE_THREAD):
        child.fdtable = src
    else:
        child.fdtable = src.copy()


def _on_execve_exit(eng: StateEngine, evt: Event, th: ThreadInfo | None) -> None:
    if th is None:
        return
    res = evt.res
    if res is None or res < 0:
        return
    # libsinsp keeps the working directory it knew; execve's cwd param is not applied.
    _fill_from_exec_like(th, evt, with_cwd=False)
    vpgid = _int_arg(evt, "vpgid")  # as libsinsp: an exec takes the event's process group
    if vpgid is not None:
        th.vpgid = vpgid
    pid = _int_arg(evt, "pid")
    ptid = _int_arg(evt, "ptid")
    if pid is not None and pid > 0:
        eng.threads.set_pid(th, pid)
    if ptid is not None and ptid >= 0 and th.pid == th.tid:
        eng.threads.set_ptid(th, ptid)
    trusted = _arg(evt, "trusted_exepath")
    filename = _arg(evt, "filename")
    if not filename and evt.enter is not None:
        filename = evt.enter.arg("filename")
    if isinstance(trusted, str) and trusted:
        th.exepath = trusted
    elif isinstance(filename, str) and filename:
        th.exepath = resolve_path(eng.cwd(th), filename)
    elif th.exe.startswith("/"):
        th.exepath = th.exe
    for name, attr in (
        ("exe_ino", "exe_ino"),
        ("exe_ino_ctime", "exe_ino_ctime"),
        ("exe_ino_mtime", "exe_ino_mtime"),
    ):
        v = _int_arg(evt, name)
        if v is not None:
            setattr(th, attr, v)
    flags = _int_arg(evt, "flags")
    if flags is not None:
        # execve's flags param: PPM_EXE_WRITABLE / UPPER_LAYER / FROM_MEMFD bits
        th.exe_writable = bool(flags & 1)
        th.exe_upper_layer = bool(flags & 2)
        th.exe_from_memfd = bool(flags & 4)
    th.fdtable.close_on_exec()


def _on_procexit(eng: StateEngine, evt: Event, th: ThreadInfo | None) -> None:
    if th is None:
        return
    th.dead = True
    eng._remove_tid = th.tid
    eng._pending = True
    reaper_tid = _int_arg(evt, "reaper_tid")
    threads = eng.threads
    if not th.is_main:
        return
    reaper: ThreadInfo | None = None
    if reaper_tid is not None and reaper_tid > 0:
        reaper = threads.get(reaper_tid)
    if reaper is None:
        live = [o for o in threads.group(th.pid) if o is not th]
        reaper = live[0] if live else None
    if reaper is None:
        return
    for child in threads.children(th):
        if child.pid != th.pid:
            threads.set_ptid(child, reaper.tid)


# ---------------------------------------------------------------------------------------
# fd handlers


_UNSPECIFIED = frozenset({"0.0.0.0", "::"})


def _apply_tuple(info: FdInfo, tup: SockTuple, role: int, num: int = -1) -> None:
    if tup.family in (AF_INET, AF_INET6) and tup.sip is not None:
        info.type = md.FD_IPV4_SOCK if tup.family == AF_INET else md.FD_IPV6_SOCK
        sip = tup.sip
        if sip in _UNSPECIFIED and tup.dip:
            sip = tup.dip  # unbound source (sendto before connect): libsinsp shows the peer
        # connect: local (client) -> remote (server); accept: remote (client) -> local
        info.set_tuple(sip, tup.sport or 0, tup.dip or "", tup.dport or 0, num)
        info.role = role
        if info.l4proto in (md.L4_UNKNOWN, md.L4_NA):
            info.l4proto = info.sock_l4
    elif tup.family == AF_UNIX:
        info.type = md.FD_UNIX_SOCK
        info.unix_source, info.unix_dest = tup.source or 0, tup.dest or 0
        info.set_name(f"{info.unix_source:x}->{info.unix_dest:x} {tup.path or ''}".rstrip(), num)
        info.role = role


def _on_connect_exit(eng: StateEngine, evt: Event, th: ThreadInfo | None) -> None:
    info = evt.fdinfo
    if th is None or info is None:
        return
    res = evt.res
    if res is not None and res < 0 and res != -EINPROGRESS:
        return
    if info.cip is not None and info.cport:
        return  # already connected (a UDP socket re-connecting keeps its first peer)
    tup = _arg(evt, "tuple")
    if isinstance(tup, SockTuple):
        _apply_tuple(info, tup, ROLE_CLIENT, evt.num)


def _on_accept_exit(eng: StateEngine, evt: Event, th: ThreadInfo | None) -> None:
    fd = _int_arg(evt, "fd")
    if fd is None:
        fd = evt.res
    if th is None or fd is None or fd < 0:
        return
    tup = _arg(evt, "tuple")
    listening = evt.enter.fdinfo if evt.enter is not None else None
    info = FdInfo(fd, md.FD_UNSUPPORTED)
    if isinstance(tup, SockTuple):
        _apply_tuple(info, tup, ROLE_SERVER, evt.num)
        if info.type in (md.FD_IPV4_SOCK, md.FD_IPV6_SOCK):
            info.l4proto = listening.l4proto if listening is not None else md.L4_TCP
            if info.l4proto in (md.L4_UNKNOWN, md.L4_NA):
                info.l4proto = md.L4_TCP
    eng.add_fd(evt, th, info)


def _on_bind_exit(eng: StateEngine, evt: Event, th: ThreadInfo | None) -> None:
    info = evt.fdinfo
    if th is None or info is None or (evt.res or 0) < 0:
        return
    addr = _arg(evt, "addr")
    if not isinstance(addr, SockAddr):
        return
    if addr.family in (AF_INET, AF_INET6) and addr.addr is not None:
        info.set_name(f"{addr.addr}:{addr.port}", evt.num)
        if addr.port:  # bound to a port: a server socket
            info.type = md.FD_IPV4_SERVSOCK if addr.family == AF_INET else md.FD_IPV6_SERVSOCK
            info.sip, info.sport = addr.addr, addr.port
            info.role = ROLE_SERVER
            info.l4proto = info.sock_l4
    elif addr.family == AF_UNIX and addr.path:
        info.set_name(addr.path, evt.num)


def _on_sendrecv_exit(eng: StateEngine, evt: Event, th: ThreadInfo | None) -> None:
    info = evt.fdinfo
    if info is None or info.name or (evt.res or 0) < 0:
        return
    tup = _arg(evt, "tuple")
    if isinstance(tup, SockTuple):
        _apply_tuple(info, tup, info.role or ROLE_CLIENT, evt.num)


# ---------------------------------------------------------------------------------------
# users


def _on_user_added(eng: StateEngine, evt: Event, th: ThreadInfo | None) -> None:
    uid = _int_arg(evt, "uid")
    gid = _int_arg(evt, "gid")
    if uid is None:
        return
    eng.users.add_user(
        User(
            uid,
            gid or 0,
            str(evt.arg("name") or ""),
            str(evt.arg("home") or ""),
            str(evt.arg("shell") or ""),
        )
    )


def _on_user_deleted(eng: StateEngine, evt: Event, th: ThreadInfo | None) -> None:
    uid = _int_arg(evt, "uid")
    if uid is not None:
        eng.users.users.pop(uid, None)


def _on_group_added(eng: StateEngine, evt: Event, th: ThreadInfo | None) -> None:
    gid = _int_arg(evt, "gid")
    if gid is not None:
        eng.users.add_group(Group(gid, str(evt.arg("name") or "")))


def _on_group_deleted(eng: StateEngine, evt: Event, th: ThreadInfo | None) -> None:
    gid = _int_arg(evt, "gid")
    if gid is not None:
        eng.users.groups.pop(gid, None)


_HANDLER_SPECS: list[tuple[list[int], Handler]] = [
    (_names("clone", "fork", "vfork", "clone3"), _on_clone_exit),
    (_names("execve", "execveat"), _on_execve_exit),
    (_names("procexit", exit_=False), _on_procexit),
    (_names("connect"), _on_connect_exit),
    (_names("accept", "accept4"), _on_accept_exit),
    (_names("bind"), _on_bind_exit),
    (_names("sendto", "recvfrom", "sendmsg", "recvmsg"), _on_sendrecv_exit),
    (_names("useradded", exit_=False), _on_user_added),
    (_names("userdeleted", exit_=False), _on_user_deleted),
    (_names("groupadded", exit_=False), _on_group_added),
    (_names("groupdeleted", exit_=False), _on_group_deleted),
]


_FD_NONE, _FD_CREATES, _FD_USES = 0, 1, 2
_NO_INDEX = 1 << 30  # larger than any parameter count


def _specs() -> tuple[tuple[bool, bool, bool, bool, int, int, bool, Handler | None], ...]:
    """Per event type, what process() does with it: (skip reset, may create a placeholder
    thread, enter, pairs with an exit, fd mode, fd parameter index, fd is the first
    parameter of the exit, handler)."""
    handlers: list[Handler | None] = [None] * et.EVENT_COUNT
    for ids, h in _HANDLER_SPECS:
        for i in ids:
            handlers[i] = h
    # Like libsinsp's reset(): no placeholder thread for clone exits (the child is built
    # from the event), context switches (kernel threads) and process exits.
    no_autocreate = frozenset(
        _names("clone", "fork", "vfork", "clone3") + _names("switch", "procexit", exit_=False)
    )
    out = []
    for t in range(et.EVENT_COUNT):
        fdmode = _FD_CREATES if _CREATES_FD[t] else (_FD_USES if _USES_FD[t] else _FD_NONE)
        idx = _FD_INDEX[t]
        out.append(
            (
                _SKIP_RESET[t],
                t not in no_autocreate,
                _IS_ENTER[t],
                _PAIRS[t],
                fdmode,
                _NO_INDEX if idx is None else idx,
                _RES_FIRST[t],
                handlers[t],
            )
        )
    return tuple(out)


_SPEC = _specs()

# Handlers written in C (native/engine.c), by event type.
_NATIVE_OPEN, _NATIVE_CLOSE, _NATIVE_SIMPLE, _NATIVE_PIPE, _NATIVE_SOCKETPAIR = 1, 2, 3, 4, 5
_NATIVE_DUP, _NATIVE_FCNTL = 6, 7
_NATIVE_CHDIR, _NATIVE_FCHDIR, _NATIVE_SETID, _NATIVE_CAPSET = 8, 9, 10, 11
_NATIVE_CHROOT, _NATIVE_SETSID, _NATIVE_SOCKET = 12, 13, 14
_SETIDS = ("setuid", "setgid", "setresuid", "setresgid", "setreuid", "setregid")
# fcntl's commands that duplicate, as native/engine.c has them
assert (PPM_FCNTL_F_DUPFD, PPM_FCNTL_F_DUPFD_CLOEXEC) == (1, 26)
# a new fd of one kind, the syscall's result (the name: memfd_create's, "memfd:" first)
_SIMPLE_FDS: dict[int, int] = {
    **dict.fromkeys(_names("eventfd", "eventfd2"), md.FD_EVENT),
    **dict.fromkeys(_names("signalfd", "signalfd4"), md.FD_SIGNALFD),
    **dict.fromkeys(_names("inotify_init", "inotify_init1"), md.FD_INOTIFY),
    **dict.fromkeys(_names("timerfd_create"), md.FD_TIMERFD),
    **dict.fromkeys(_names("epoll_create", "epoll_create1"), md.FD_EVENTPOLL),
    **dict.fromkeys(_names("userfaultfd"), md.FD_USERFAULTFD),
    **dict.fromkeys(_names("io_uring_setup"), md.FD_IOURING),
    **dict.fromkeys(_names("memfd_create"), md.FD_MEMFD),
    **dict.fromkeys(_names("pidfd_open", "pidfd_getfd"), md.FD_PIDFD),
}
_NATIVE: dict[int, int] = {
    **dict.fromkeys(
        _names("open", "openat", "openat2", "creat", "open_by_handle_at"), _NATIVE_OPEN
    ),
    **dict.fromkeys(_names("close"), _NATIVE_CLOSE),
    **dict.fromkeys(_SIMPLE_FDS, _NATIVE_SIMPLE),
    **dict.fromkeys(_names("pipe", "pipe2"), _NATIVE_PIPE),
    **dict.fromkeys(_names("socketpair"), _NATIVE_SOCKETPAIR),
    **dict.fromkeys(_names("dup", "dup2", "dup3"), _NATIVE_DUP),
    **dict.fromkeys(_names("fcntl"), _NATIVE_FCNTL),
    **dict.fromkeys(_names("chdir"), _NATIVE_CHDIR),
    **dict.fromkeys(_names("fchdir"), _NATIVE_FCHDIR),
    **dict.fromkeys(_names(*_SETIDS), _NATIVE_SETID),
    **dict.fromkeys(_names("capset"), _NATIVE_CAPSET),
    **dict.fromkeys(_names("chroot"), _NATIVE_CHROOT),
    **dict.fromkeys(_names("setsid"), _NATIVE_SETSID),
    **dict.fromkeys(_names("socket"), _NATIVE_SOCKET),
}


def _setid_kind(t: int) -> int:
    """For a setuid-family exit: 1 when it sets a gid, 2 when the new id is the effective
    one (setres*/setre*: euid, egid) rather than the plain uid/gid parameter."""
    name = et.EVENT_NAMES[t]
    return ("gid" in name) | (name not in ("setuid", "setgid")) << 1


# the open exit's parameters as native/engine.c's OP_* reads them
_OPEN_PARAMS = ("name", "path", "dirfd", "flags", "fd", "dev", "ino")


def _open_plan(t: int) -> bytes:
    """For an open exit type: each _OPEN_PARAMS name's index in the type (-1: none), then
    whether the enter event type ``t - 1`` has a parameter of that name (old captures
    carry some of them only there)."""
    if _NATIVE.get(t) != _NATIVE_OPEN:
        return bytes(14)
    idx = [PARAM_INDEX[t].get(n, -1) for n in _OPEN_PARAMS]
    for n, i in zip(_OPEN_PARAMS, idx, strict=True):
        if n in ("name", "path") and i >= 0:
            assert et.EVENT_PARAMS[t][i][1] in (et.PT_CHARBUF, et.PT_FSPATH, et.PT_FSRELPATH)
    in_enter = [t > 0 and n in PARAM_INDEX[t - 1] for n in _OPEN_PARAMS]
    return struct.pack("<7b7B", *idx, *in_enter)


_MEMFD = frozenset(_names("memfd_create"))
_SPEC_BYTES = b"".join(
    struct.pack(
        "<BBBI",
        skip | auto << 1 | enter << 2 | pairs << 3 | resfirst << 4 | HAS_RES[t] << 5,
        fdmode,
        _NATIVE.get(t, 0),
        fdidx,
    )
    + _open_plan(t)
    + bytes(
        (
            _setid_kind(t) if _NATIVE.get(t) == _NATIVE_SETID else _SIMPLE_FDS.get(t, 0),
            t in _MEMFD,
        )
    )
    for t, (skip, auto, enter, pairs, fdmode, fdidx, resfirst, _h) in enumerate(_SPEC)
)
_HANDLERS = tuple(spec[7] for spec in _SPEC)
"""_SPEC as native/engine.c reads it: per type, the flag bits, fd mode, native handler,
fd index, open-exit plan, simple fd type and name flag, and the Python handler."""
