"""Threads and processes (libsinsp's threadinfo): identity, executable, credentials, fds."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..scap.metadata import ProcRecord
from .containers import HOST, container_id
from .fds import FdTable
from .users import UserTable

if TYPE_CHECKING:
    from ..event import Event

NA = "<NA>"


class ThreadInfo:
    """One thread. Process-wide values (cwd, fds) are read through the main thread."""

    __slots__ = (
        "args",
        "cap_effective",
        "cap_inheritable",
        "cap_permitted",
        "cgroups",
        "clone_ts",
        "comm",
        "container_id",
        "cwd",
        "dead",
        "env",
        "exe",
        "exe_from_memfd",
        "exe_ino",
        "exe_ino_ctime",
        "exe_ino_mtime",
        "exe_upper_layer",
        "exe_writable",
        "exepath",
        "fdlimit",
        "fdtable",
        "flags",
        "gid",
        "last_enter",
        "loginuid",
        "pid",
        "pidns_init_start_ts",
        "ptid",
        "root",
        "sid",
        "table",
        "tid",
        "tty",
        "uid",
        "vpgid",
        "vpid",
        "vtid",
    )

    def __init__(self, tid: int, pid: int, ptid: int) -> None:
        self.tid = tid
        self.pid = pid
        self.ptid = ptid
        self.sid = -1
        self.vpgid = -1
        self.comm = NA
        self.exe = NA
        self.exepath = ""
        self.args: list[str] = []
        self.env: list[str] = []
        self.cwd = ""
        self.fdlimit = 0
        self.flags = 0
        self.uid: int | None = None
        self.gid: int | None = None
        self.loginuid: int | None = None
        self.vtid = -1
        self.vpid = -1
        self.cgroups: list[tuple[str, str]] = []
        self.container_id = HOST
        self.root = ""
        self.tty = 0
        self.cap_inheritable = 0
        self.cap_permitted = 0
        self.cap_effective = 0
        self.exe_writable = False
        self.exe_upper_layer = False
        self.exe_from_memfd = False
        self.exe_ino = 0
        self.exe_ino_ctime = 0
        self.exe_ino_mtime = 0
        self.clone_ts = 0
        self.pidns_init_start_ts = 0
        self.fdtable = FdTable()
        self.last_enter: Event | None = None
        self.dead = False
        self.table: ThreadTable | None = None

    @property
    def is_main(self) -> bool:
        """Whether this thread is its process's main thread (tid == pid)."""
        return self.tid == self.pid

    def set_cgroups(self, cgroups: list[tuple[str, str]]) -> None:
        """Set the cgroups and the container id derived from them."""
        self.cgroups = cgroups
        self.container_id = container_id(cgroups)

    def __repr__(self) -> str:
        return f"<ThreadInfo tid={self.tid} pid={self.pid} ptid={self.ptid} {self.comm!r}>"


def with_slash(path: str) -> str:
    """libsinsp keeps working directories with a trailing slash."""
    return path if not path or path.endswith("/") else path + "/"


def thread_from_record(r: ProcRecord) -> ThreadInfo:
    """Build a :class:`ThreadInfo` from a process-list block entry."""
    t = ThreadInfo(r.tid, r.pid, r.ptid)
    t.sid, t.vpgid = r.sid, r.vpgid
    t.comm, t.exe, t.exepath = r.comm, r.exe, r.exepath
    if not t.comm or t.comm.endswith("/"):
        t.comm = r.exe.rsplit("/", 1)[-1] or t.comm  # libsinsp's fallback to the exe name
    t.args, t.env, t.cwd = list(r.args), list(r.env), with_slash(r.cwd)
    t.fdlimit, t.flags, t.uid, t.gid = r.fdlimit, r.flags, r.uid, r.gid
    t.loginuid = r.loginuid
    t.vtid, t.vpid, t.root, t.tty = r.vtid, r.vpid, r.root, r.tty
    t.set_cgroups(r.cgroups)
    t.cap_inheritable, t.cap_permitted, t.cap_effective = (
        r.cap_inheritable,
        r.cap_permitted,
        r.cap_effective,
    )
    t.exe_writable, t.exe_upper_layer, t.exe_from_memfd = (
        r.exe_writable,
        r.exe_upper_layer,
        r.exe_from_memfd,
    )
    t.exe_ino, t.exe_ino_ctime, t.exe_ino_mtime = r.exe_ino, r.exe_ino_ctime, r.exe_ino_mtime
    t.pidns_init_start_ts = r.pidns_init_start_ts
    return t


class ThreadTable:
    """tid -> thread, with parent and ancestor resolution. Bounded by ``max_threads``."""

    def __init__(self, max_threads: int = 131072) -> None:
        self.threads: dict[int, ThreadInfo] = {}
        self.max_threads = max_threads
        self.dropped = 0
        self.local_ips: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
        self.users = UserTable()
        self.hostname: str | None = None

    def __len__(self) -> int:
        return len(self.threads)

    def get(self, tid: int) -> ThreadInfo | None:
        """The thread with ``tid``, or None."""
        return self.threads.get(tid)

    def add(self, t: ThreadInfo) -> ThreadInfo | None:
        """Add (or replace) a thread; returns None when the table is full."""
        if len(self.threads) >= self.max_threads and t.tid not in self.threads:
            self.dropped += 1
            return None
        self.threads[t.tid] = t
        t.table = self
        return t

    def remove(self, tid: int) -> ThreadInfo | None:
        """Remove a thread."""
        return self.threads.pop(tid, None)

    def main_thread(self, t: ThreadInfo) -> ThreadInfo:
        """The main thread of ``t``'s process (``t`` itself when unknown)."""
        if t.tid == t.pid:
            return t
        mt = self.threads.get(t.pid)
        return mt if mt is not None else t

    def parent(self, t: ThreadInfo) -> ThreadInfo | None:
        """The parent thread: the one whose tid is ``t.ptid`` (libsinsp's get_parent_thread)."""
        p = self.threads.get(t.ptid)
        return None if p is t else p

    def ancestors(self, t: ThreadInfo) -> Iterator[ThreadInfo]:
        """Parent, grandparent, ... starting from the main thread, stopping on loops."""
        cur: ThreadInfo | None = self.main_thread(t)
        seen = {id(cur)}
        cur = self.parent(cur)  # type: ignore[arg-type]
        while cur is not None and id(cur) not in seen:
            seen.add(id(cur))
            yield cur
            cur = self.parent(cur)

    def group(self, pid: int) -> list[ThreadInfo]:
        """Live threads of process ``pid``."""
        return [t for t in self.threads.values() if t.pid == pid and not t.dead]

    def children(self, t: ThreadInfo) -> list[ThreadInfo]:
        """Threads whose parent thread is ``t``."""
        return [c for c in self.threads.values() if c.ptid == t.tid and c is not t]
