"""Threads and processes (libsinsp's threadinfo): identity, executable, credentials, fds."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .._native import ThreadRecord
from ..scap.metadata import ProcRecord
from .containers import container_id
from .users import UserTable

if TYPE_CHECKING:
    pass

NA = "<NA>"


class ThreadInfo(ThreadRecord):
    """One thread. Process-wide values (cwd, fds) are read through the main thread.

    ``ThreadInfo(tid, pid, ptid)``; the attributes live in the native record
    (native/records.c): tid, pid, ptid, sid, vpgid, comm, exe, exepath, args, env, cwd,
    fdlimit, flags, uid, gid, loginuid, vtid, vpid, cgroups, container_id, root, tty,
    cap_inheritable/permitted/effective, exe_writable, exe_upper_layer, exe_from_memfd,
    exe_ino, exe_ino_ctime, exe_ino_mtime, clone_ts, pidns_init_start_ts, fdtable,
    last_enter, dead, table, and ``is_main``.
    """

    __slots__ = ()

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
        # indices, so that process exits do not scan every thread: pid -> tid -> thread,
        # ptid -> tid -> thread, and tid -> its position in ``threads`` (the order group()
        # and children() give, as a scan of ``threads`` would)
        self._by_pid: dict[int, dict[int, ThreadInfo]] = {}
        self._by_ptid: dict[int, dict[int, ThreadInfo]] = {}
        self._seq: dict[int, int] = {}
        self._next_seq = 0

    def __len__(self) -> int:
        return len(self.threads)

    def get(self, tid: int) -> ThreadInfo | None:
        """The thread with ``tid``, or None."""
        return self.threads.get(tid)

    def add(self, t: ThreadInfo) -> ThreadInfo | None:
        """Add (or replace) a thread; returns None when the table is full."""
        tid = t.tid
        old = self.threads.get(tid)
        if old is None:
            if len(self.threads) >= self.max_threads:
                self.dropped += 1
                return None
            self._seq[tid] = self._next_seq
            self._next_seq += 1
        else:
            self._unindex(old)
        self.threads[tid] = t
        self._by_pid.setdefault(t.pid, {})[tid] = t
        self._by_ptid.setdefault(t.ptid, {})[tid] = t
        t.table = self
        return t

    def remove(self, tid: int) -> ThreadInfo | None:
        """Remove a thread."""
        t = self.threads.pop(tid, None)
        if t is not None:
            self._unindex(t)
            del self._seq[tid]
        return t

    def set_pid(self, t: ThreadInfo, pid: int) -> None:
        """Change a thread's process id (execve from a non-main thread)."""
        if self.threads.get(t.tid) is t:
            self._drop_from(self._by_pid, t.pid, t)
            self._by_pid.setdefault(pid, {})[t.tid] = t
        t.pid = pid

    def set_ptid(self, t: ThreadInfo, ptid: int) -> None:
        """Change a thread's parent thread id (execve, re-parenting on exit)."""
        if self.threads.get(t.tid) is t:
            self._drop_from(self._by_ptid, t.ptid, t)
            self._by_ptid.setdefault(ptid, {})[t.tid] = t
        t.ptid = ptid

    def _unindex(self, t: ThreadInfo) -> None:
        self._drop_from(self._by_pid, t.pid, t)
        self._drop_from(self._by_ptid, t.ptid, t)

    @staticmethod
    def _drop_from(index: dict[int, dict[int, ThreadInfo]], key: int, t: ThreadInfo) -> None:
        bucket = index.get(key)
        if bucket is not None and bucket.get(t.tid) is t:
            del bucket[t.tid]
            if not bucket:
                del index[key]

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
        """Live threads of process ``pid``, in table order."""
        bucket = self._by_pid.get(pid)
        if not bucket:
            return []
        out = [t for t in bucket.values() if t.pid == pid and not t.dead]
        if len(out) > 1:
            seq = self._seq
            out.sort(key=lambda t: seq[t.tid])
        return out

    def children(self, t: ThreadInfo) -> list[ThreadInfo]:
        """Threads whose parent thread is ``t``, in table order."""
        bucket = self._by_ptid.get(t.tid)
        if not bucket:
            return []
        out = [c for c in bucket.values() if c.ptid == t.tid and c is not t]
        if len(out) > 1:
            seq = self._seq
            out.sort(key=lambda c: seq[c.tid])
        return out
