"""File descriptors: what each open fd of a process refers to (libsinsp's fdinfo)."""

from __future__ import annotations

from .._native import FdRecord, FdTableRecord, set_record_classes
from ..scap import metadata as md

TYPECHARS: dict[int, str] = {
    md.FD_FILE: "f",
    md.FD_FILE_V2: "f",
    md.FD_DIRECTORY: "d",
    md.FD_IPV4_SOCK: "4",
    md.FD_IPV4_SERVSOCK: "4",
    md.FD_IPV6_SOCK: "6",
    md.FD_IPV6_SERVSOCK: "6",
    md.FD_FIFO: "p",
    md.FD_UNIX_SOCK: "u",
    md.FD_EVENT: "e",
    md.FD_SIGNALFD: "s",
    md.FD_EVENTPOLL: "l",
    md.FD_INOTIFY: "i",
    md.FD_TIMERFD: "t",
    md.FD_NETLINK: "n",
    md.FD_BPF: "b",
    md.FD_USERFAULTFD: "u",
    md.FD_IOURING: "r",
    md.FD_MEMFD: "m",
    md.FD_PIDFD: "P",
    md.FD_UNSUPPORTED: "o",
}
"""scap fd type -> fd.typechar."""

TYPENAMES: dict[int, str] = {
    md.FD_FILE: "file",
    md.FD_FILE_V2: "file",
    md.FD_DIRECTORY: "directory",
    md.FD_IPV4_SOCK: "ipv4",
    md.FD_IPV4_SERVSOCK: "ipv4",
    md.FD_IPV6_SOCK: "ipv6",
    md.FD_IPV6_SERVSOCK: "ipv6",
    md.FD_FIFO: "pipe",
    md.FD_UNIX_SOCK: "unix",
    md.FD_EVENT: "event",
    md.FD_SIGNALFD: "signalfd",
    md.FD_EVENTPOLL: "eventpoll",
    md.FD_INOTIFY: "inotify",
    md.FD_TIMERFD: "timerfd",
    md.FD_NETLINK: "netlink",
    md.FD_BPF: "bpf",
    md.FD_USERFAULTFD: "userfaultfd",
    md.FD_IOURING: "io_uring",
    md.FD_MEMFD: "memfd",
    md.FD_PIDFD: "pidfd",
}
"""scap fd type -> fd.type."""

L4_NAMES = {md.L4_TCP: "tcp", md.L4_UDP: "udp", md.L4_ICMP: "icmp", md.L4_RAW: "raw"}
SOCKET_TYPES = frozenset(
    {
        md.FD_IPV4_SOCK,
        md.FD_IPV6_SOCK,
        md.FD_IPV4_SERVSOCK,
        md.FD_IPV6_SERVSOCK,
        md.FD_UNIX_SOCK,
        md.FD_NETLINK,
    }
)
IP_TYPES = frozenset({md.FD_IPV4_SOCK, md.FD_IPV6_SOCK, md.FD_IPV4_SERVSOCK, md.FD_IPV6_SERVSOCK})
FILE_TYPES = frozenset({md.FD_FILE, md.FD_FILE_V2, md.FD_DIRECTORY})

ROLE_NONE = 0
ROLE_CLIENT = 1
ROLE_SERVER = 2


class FdInfo(FdRecord):
    """One open fd. Sockets keep their tuple as client -> server (cip:cport->sip:sport).

    ``FdInfo(fd, ftype, name="")``; the attributes live in the native record
    (native/records.c): fd, type, name, open_flags, dev, ino, cip, cport, sip, sport,
    l4proto, sock_l4, role, name_changed_at (number of the event that last renamed the
    fd), unix_source, unix_dest; ``copy(fd=None)`` copies it (dup, fork).
    """

    __slots__ = ()

    @property
    def typechar(self) -> str:
        """fd.typechar."""
        return TYPECHARS.get(self.type, "o")

    @property
    def typename(self) -> str | None:
        """fd.type."""
        return TYPENAMES.get(self.type)

    @property
    def is_socket(self) -> bool:
        """Whether the fd is a socket of any family."""
        return self.type in SOCKET_TYPES

    @property
    def is_server_socket(self) -> bool:
        """Whether the fd is a listening (bound, unconnected) IP socket."""
        return self.type in (md.FD_IPV4_SERVSOCK, md.FD_IPV6_SERVSOCK)

    def set_tuple(self, cip: str, cport: int, sip: str, sport: int, num: int = -1) -> None:
        """Set the connection tuple (client -> server) and the fd name from it."""
        self.cip, self.cport, self.sip, self.sport = cip, cport, sip, sport
        self.set_name(f"{cip}:{cport}->{sip}:{sport}", num)

    def set_name(self, name: str, num: int = -1) -> None:
        """Rename the fd; event ``num`` is remembered when the name changed (fd.name_changed)."""
        if name != self.name:
            self.name_changed_at = num
        self.name = name

    def __repr__(self) -> str:
        return f"<FdInfo {self.fd} {self.typechar} {self.name!r}>"


def fdinfo_from_record(r: md.FdRecord) -> FdInfo:
    """Build an :class:`FdInfo` from an fd-list block entry."""
    info = FdInfo(r.fd, r.type, r.name)
    info.ino = r.ino
    info.open_flags = r.open_flags
    info.dev = r.dev
    if r.type in (md.FD_IPV4_SOCK, md.FD_IPV6_SOCK):
        info.l4proto = r.l4proto
        info.set_tuple(r.sip, r.sport, r.dip, r.dport)
    elif r.type in (md.FD_IPV4_SERVSOCK, md.FD_IPV6_SERVSOCK):
        info.l4proto = r.l4proto
        info.sip, info.sport = r.sip, r.sport
        info.role = ROLE_SERVER
        info.name = f"{r.sip}:{r.sport}"
    elif r.type == md.FD_UNIX_SOCK:
        info.unix_source, info.unix_dest = r.unix_source, r.unix_dest
    if r.type == md.FD_FILE_V2 and r.open_flags & (1 << 10):
        info.type = md.FD_DIRECTORY
    info.name_changed_at = -1
    return info


class FdTable(FdTableRecord):
    """The fds of one process (shared by threads that share their file table): ``fds``
    maps fd -> :class:`FdInfo`."""

    __slots__ = ()

    MAX_FDS = 1 << 16

    def get(self, fd: int) -> FdInfo | None:
        """The fd's info, or None."""
        return self.fds.get(fd)

    def add(self, info: FdInfo) -> bool:
        """Add or replace an fd; False when refused (the table never exceeds MAX_FDS
        entries)."""
        if len(self.fds) >= self.MAX_FDS and info.fd not in self.fds:
            return False
        self.fds[info.fd] = info
        return True

    def remove(self, fd: int) -> FdInfo | None:
        """Remove an fd, returning what it was."""
        return self.fds.pop(fd, None)

    def copy(self) -> FdTable:
        """An independent copy (fork without CLONE_FILES)."""
        t = FdTable()
        t.fds = {k: v.copy() for k, v in self.fds.items()}
        return t


set_record_classes(FdTable)  # new threads get one of these
