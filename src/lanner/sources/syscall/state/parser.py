"""Apply events to the thread, fd and user tables, the way libsinsp's parsers.cpp does.

``StateEngine.process(event)`` attaches ``event.thread``, ``event.fd`` and ``event.fdinfo``
(as they were when the event happened) and then updates the tables. Exited threads and
closed fds are removed before the next event, so the exit/close event itself still sees
them.
"""

from __future__ import annotations

import ipaddress
import struct

from .. import event_table as et
from .._native import StateCore
from .._native import resolve_path as _native_resolve_path
from ..event import _STR_DECS, HAS_RES, PARAM_INDEX, Event
from ..flags import (
    PPM_CL_CLONE_FILES,
    PPM_CL_CLONE_THREAD,
    PPM_FCNTL_F_DUPFD,
    PPM_FCNTL_F_DUPFD_CLOEXEC,
)
from ..params import SockAddr, SockTuple
from ..scap import FdList, ProcList, UserList
from ..scap import metadata as md
from .containers import container_id
from .fds import ROLE_CLIENT, ROLE_SERVER, FdInfo, FdTable, fdinfo_from_record
from .threads import ThreadInfo, ThreadTable, thread_from_record
from .users import Group, User, UserTable

AT_FDCWD = -100
# clone flags as native/proc.c has them (CLONE_PARENT: 1 << 8)
assert (PPM_CL_CLONE_FILES, PPM_CL_CLONE_THREAD) == (1, 8192)

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
            (ThreadInfo, SockTuple, SockAddr, _cgroups, _env, User, Group, _PARAM_PLAN),
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
        return etype in _NATIVE

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


# ---------------------------------------------------------------------------------------
# Decoders the native handlers call (native/proc.c)

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


_FD_NONE, _FD_CREATES, _FD_USES = 0, 1, 2
_NO_INDEX = 1 << 30  # larger than any parameter count


def _specs() -> tuple[tuple[bool, bool, bool, bool, int, int, bool], ...]:
    """Per event type, what process() does with it: (skip reset, may create a placeholder
    thread, enter, pairs with an exit, fd mode, fd parameter index, fd is the first
    parameter of the exit)."""
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
            )
        )
    return tuple(out)


_SPEC = _specs()

# Handlers written in C (native/engine.c), by event type.
_NATIVE_OPEN, _NATIVE_CLOSE, _NATIVE_SIMPLE, _NATIVE_PIPE, _NATIVE_SOCKETPAIR = 1, 2, 3, 4, 5
_NATIVE_DUP, _NATIVE_FCNTL = 6, 7
_NATIVE_CHDIR, _NATIVE_FCHDIR, _NATIVE_SETID, _NATIVE_CAPSET = 8, 9, 10, 11
_NATIVE_CHROOT, _NATIVE_SETSID, _NATIVE_SOCKET = 12, 13, 14
_NATIVE_CONNECT, _NATIVE_ACCEPT, _NATIVE_BIND, _NATIVE_SENDRECV = 15, 16, 17, 18
_NATIVE_CLONE, _NATIVE_EXECVE, _NATIVE_PROCEXIT, _NATIVE_USER = 19, 20, 21, 22
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
# the user events, by native/proc.c's kind: 0 user added, 1 deleted, 2 group added, 3 deleted
_USER_KINDS: dict[int, int] = {
    t: k
    for k, n in enumerate(("useradded", "userdeleted", "groupadded", "groupdeleted"))
    for t in _names(n, exit_=False)
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
    **dict.fromkeys(_names("connect"), _NATIVE_CONNECT),
    **dict.fromkeys(_names("accept", "accept4"), _NATIVE_ACCEPT),
    **dict.fromkeys(_names("bind"), _NATIVE_BIND),
    **dict.fromkeys(_names("sendto", "recvfrom", "sendmsg", "recvmsg"), _NATIVE_SENDRECV),
    **dict.fromkeys(_names("clone", "fork", "vfork", "clone3"), _NATIVE_CLONE),
    **dict.fromkeys(_names("execve", "execveat"), _NATIVE_EXECVE),
    **dict.fromkeys(_names("procexit", exit_=False), _NATIVE_PROCEXIT),
    **dict.fromkeys(_USER_KINDS, _NATIVE_USER),
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
            _setid_kind(t)
            if _NATIVE.get(t) == _NATIVE_SETID
            else _USER_KINDS.get(t, _SIMPLE_FDS.get(t, 0)),
            t in _MEMFD,
        )
    )
    for t, (skip, auto, enter, pairs, fdmode, fdidx, resfirst) in enumerate(_SPEC)
)
"""_SPEC as native/engine.c reads it: per type, the flag bits, fd mode, native handler,
fd index, open-exit plan, simple fd type (setid or user event kind) and name flag."""

# The parameters the native handlers read by name (native/engine.h PN_*, same order), and
# per event type the index of each (-1: none), so they are found without a lookup by name.
_PARAM_NAMES = (
    "exe", "args", "comm", "cwd", "fdlimit", "cgroups", "env", "uid", "gid", "loginuid",
    "vtid", "vpid", "pidns_init_start_ts", "tty", "cap_inheritable", "cap_permitted",
    "cap_effective", "vpgid", "pid", "ptid", "trusted_exepath", "filename", "exe_ino",
    "exe_ino_ctime", "exe_ino_mtime", "flags", "reaper_tid", "tuple", "addr", "fd",
    "domain", "type", "proto", "source", "peer", "ino", "fd1", "fd2", "oldfd", "cmd",
    "euid", "egid", "path", "name",
)  # fmt: skip


def _param_plan() -> bytes:
    """Per event type, per _PARAM_NAMES name: -1, or the parameter's index with bit 6 set
    when ``Event.param`` gives its bytes as a plain string (native/engine.c reads it as
    str_param does)."""
    slot = {name: j for j, name in enumerate(_PARAM_NAMES)}
    plan = bytearray(b"\xff" * (len(_PARAM_NAMES) * et.EVENT_COUNT))
    for t in range(et.EVENT_COUNT):
        base, decs = t * len(_PARAM_NAMES), _STR_DECS[t]
        for name, i in PARAM_INDEX[t].items():  # a type's few parameters, not every name
            j = slot.get(name)
            if j is not None:
                assert i < 0x40
                plan[base + j] = i | (0x40 if decs[i] is not None else 0)
    return bytes(plan)


_PARAM_PLAN = (_PARAM_NAMES, _param_plan())
