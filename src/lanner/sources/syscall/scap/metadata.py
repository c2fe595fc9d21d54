"""Decoders for the capture's metadata blocks: machine info, processes, fds, interfaces, users.

Layouts follow falcosecurity/libs ``userspace/libscap/engine/savefile/scap_savefile.c``
(``scap_read_proclist``, ``scap_fd_read_from_disk``, ``scap_read_iflist``,
``scap_read_userlist``); every version of each block is handled.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from lanner.exceptions import ScapError
from lanner.records import Record

from . import blocks

# scap_fd_type
FD_UNKNOWN = 0
FD_FILE = 1
FD_DIRECTORY = 2
FD_IPV4_SOCK = 3
FD_IPV6_SOCK = 4
FD_IPV4_SERVSOCK = 5
FD_IPV6_SERVSOCK = 6
FD_FIFO = 7
FD_UNIX_SOCK = 8
FD_EVENT = 9
FD_UNSUPPORTED = 10
FD_SIGNALFD = 11
FD_EVENTPOLL = 12
FD_INOTIFY = 13
FD_TIMERFD = 14
FD_NETLINK = 15
FD_FILE_V2 = 16
FD_BPF = 17
FD_USERFAULTFD = 18
FD_IOURING = 19
FD_MEMFD = 20
FD_PIDFD = 21

# scap_l4_proto
L4_UNKNOWN = 0
L4_NA = 1
L4_TCP = 2
L4_UDP = 3
L4_ICMP = 4
L4_RAW = 5


class MachineInfo(Record):
    """The machine-info block."""

    __slots__ = __match_args__ = (
        "num_cpus",
        "memory_size_bytes",
        "max_pid",
        "hostname",
        "boot_ts_epoch",
        "flags",
    )
    num_cpus: int
    memory_size_bytes: int
    max_pid: int
    hostname: str
    boot_ts_epoch: int
    flags: int

    def __init__(
        self,
        num_cpus: int = 0,
        memory_size_bytes: int = 0,
        max_pid: int = 0,
        hostname: str = "",
        boot_ts_epoch: int = 0,
        flags: int = 0,
    ) -> None:
        self.num_cpus = num_cpus
        self.memory_size_bytes = memory_size_bytes
        self.max_pid = max_pid
        self.hostname = hostname
        self.boot_ts_epoch = boot_ts_epoch
        self.flags = flags


class ProcRecord(Record):
    """One thread from a process-list block (scap_threadinfo)."""

    __slots__ = __match_args__ = (
        "tid",
        "pid",
        "ptid",
        "sid",
        "vpgid",
        "comm",
        "exe",
        "exepath",
        "args",
        "cwd",
        "fdlimit",
        "flags",
        "uid",
        "gid",
        "vmsize_kb",
        "vmrss_kb",
        "vmswap_kb",
        "pfmajor",
        "pfminor",
        "env",
        "vtid",
        "vpid",
        "cgroups",
        "root",
        "pidns_init_start_ts",
        "tty",
        "loginuid",
        "exe_writable",
        "cap_inheritable",
        "cap_permitted",
        "cap_effective",
        "exe_upper_layer",
        "exe_ino",
        "exe_ino_ctime",
        "exe_ino_mtime",
        "exe_from_memfd",
    )
    tid: int
    pid: int
    ptid: int
    sid: int
    vpgid: int
    comm: str
    exe: str
    exepath: str
    args: list[str]
    cwd: str
    fdlimit: int
    flags: int
    uid: int
    gid: int
    vmsize_kb: int
    vmrss_kb: int
    vmswap_kb: int
    pfmajor: int
    pfminor: int
    env: list[str]
    vtid: int
    vpid: int
    cgroups: list[tuple[str, str]]
    root: str
    pidns_init_start_ts: int
    tty: int
    loginuid: int
    exe_writable: bool
    cap_inheritable: int
    cap_permitted: int
    cap_effective: int
    exe_upper_layer: bool
    exe_ino: int
    exe_ino_ctime: int
    exe_ino_mtime: int
    exe_from_memfd: bool

    def __init__(
        self,
        tid: int,
        pid: int,
        ptid: int,
        sid: int = -1,
        vpgid: int = -1,
        comm: str = "",
        exe: str = "",
        exepath: str = "",
        args: list[str] | None = None,
        cwd: str = "",
        fdlimit: int = 0,
        flags: int = 0,
        uid: int = 0,
        gid: int = 0,
        vmsize_kb: int = 0,
        vmrss_kb: int = 0,
        vmswap_kb: int = 0,
        pfmajor: int = 0,
        pfminor: int = 0,
        env: list[str] | None = None,
        vtid: int = -1,
        vpid: int = -1,
        cgroups: list[tuple[str, str]] | None = None,
        root: str = "",
        pidns_init_start_ts: int = 0,
        tty: int = 0,
        loginuid: int = 0xFFFFFFFF,
        exe_writable: bool = False,
        cap_inheritable: int = 0,
        cap_permitted: int = 0,
        cap_effective: int = 0,
        exe_upper_layer: bool = False,
        exe_ino: int = 0,
        exe_ino_ctime: int = 0,
        exe_ino_mtime: int = 0,
        exe_from_memfd: bool = False,
    ) -> None:
        self.tid = tid
        self.pid = pid
        self.ptid = ptid
        self.sid = sid
        self.vpgid = vpgid
        self.comm = comm
        self.exe = exe
        self.exepath = exepath
        self.args = [] if args is None else args
        self.cwd = cwd
        self.fdlimit = fdlimit
        self.flags = flags
        self.uid = uid
        self.gid = gid
        self.vmsize_kb = vmsize_kb
        self.vmrss_kb = vmrss_kb
        self.vmswap_kb = vmswap_kb
        self.pfmajor = pfmajor
        self.pfminor = pfminor
        self.env = [] if env is None else env
        self.vtid = vtid
        self.vpid = vpid
        self.cgroups = [] if cgroups is None else cgroups
        self.root = root
        self.pidns_init_start_ts = pidns_init_start_ts
        self.tty = tty
        self.loginuid = loginuid
        self.exe_writable = exe_writable
        self.cap_inheritable = cap_inheritable
        self.cap_permitted = cap_permitted
        self.cap_effective = cap_effective
        self.exe_upper_layer = exe_upper_layer
        self.exe_ino = exe_ino
        self.exe_ino_ctime = exe_ino_ctime
        self.exe_ino_mtime = exe_ino_mtime
        self.exe_from_memfd = exe_from_memfd


@dataclass(slots=True)
class FdRecord:
    """One fd from an fd-list block (scap_fdinfo)."""

    fd: int
    ino: int
    type: int
    name: str = ""
    open_flags: int = 0
    dev: int = 0
    sip: str = ""
    dip: str = ""
    sport: int = 0
    dport: int = 0
    l4proto: int = L4_UNKNOWN
    unix_source: int = 0
    unix_dest: int = 0


class Interface(Record):
    """One network interface address from an interface-list block."""

    __slots__ = __match_args__ = ("name", "family", "addr", "netmask", "bcast", "linkspeed")
    name: str
    family: int  # 4 or 6
    addr: str
    netmask: str
    bcast: str
    linkspeed: int

    def __init__(
        self, name: str, family: int, addr: str, netmask: str, bcast: str, linkspeed: int = 0
    ) -> None:
        self.name = name
        self.family = family
        self.addr = addr
        self.netmask = netmask
        self.bcast = bcast
        self.linkspeed = linkspeed


class UserRecord(Record):
    """A user from a user-list block."""

    __slots__ = __match_args__ = ("uid", "gid", "name", "homedir", "shell")
    uid: int
    gid: int
    name: str
    homedir: str
    shell: str

    def __init__(self, uid: int, gid: int, name: str, homedir: str, shell: str) -> None:
        self.uid = uid
        self.gid = gid
        self.name = name
        self.homedir = homedir
        self.shell = shell


class GroupRecord(Record):
    """A group from a user-list block."""

    __slots__ = __match_args__ = ("gid", "name")
    gid: int
    name: str

    def __init__(self, gid: int, name: str) -> None:
        self.gid = gid
        self.name = name


class _Cursor:
    """A bounds-checked little-endian reader over ``buf[pos:end]``."""

    __slots__ = ("base", "buf", "end", "pos", "what")

    def __init__(self, buf: bytes, pos: int, end: int, base: int, what: str) -> None:
        self.buf = buf
        self.pos = pos
        self.end = end
        self.base = base - pos  # stream offset of buf[0]
        self.what = what

    def error(self, message: str) -> ScapError:
        return ScapError(f"{self.what}: {message}", self.base + self.pos)

    def need(self, n: int) -> int:
        p = self.pos
        if p + n > self.end:
            raise self.error(f"expecting {n} bytes, {self.end - p} left")
        self.pos = p + n
        return p

    def u8(self) -> int:
        return self.buf[self.need(1)]

    def u16(self) -> int:
        return struct.unpack_from("<H", self.buf, self.need(2))[0]

    def u32(self) -> int:
        return struct.unpack_from("<I", self.buf, self.need(4))[0]

    def u64(self) -> int:
        return struct.unpack_from("<Q", self.buf, self.need(8))[0]

    def i64(self) -> int:
        return struct.unpack_from("<q", self.buf, self.need(8))[0]

    def raw(self, n: int) -> bytes:
        p = self.need(n)
        return self.buf[p : p + n]

    def blob16(self, limit: int, name: str) -> bytes:
        n = self.u16()
        if n > limit:
            raise self.error(f"invalid {name} length {n}")
        return self.raw(n)

    def str16(self, limit: int, name: str) -> str:
        return self.blob16(limit, name).split(b"\0", 1)[0].decode("utf-8", "replace")

    @property
    def left(self) -> int:
        return self.end - self.pos


MAX_PATH = 1024
MAX_ARGS = 4096
MAX_ENV = 4096
MAX_CGROUPS = 4096
MAX_CREDENTIALS = 256


def split_nul(data: bytes) -> list[str]:
    """Split a NUL-separated string list (args, env), dropping the trailing empty item."""
    if not data:
        return []
    if data.endswith(b"\0"):
        data = data[:-1]
    return [s.decode("utf-8", "replace") for s in data.split(b"\0")]


def parse_cgroups(data: bytes) -> list[tuple[str, str]]:
    """Decode ``subsys=path`` NUL-separated cgroup entries."""
    out = []
    for item in split_nul(data):
        subsys, _, path = item.partition("=")
        out.append((subsys, path))
    return out


def parse_machine_info(buf: bytes, start: int, end: int, offset: int) -> MachineInfo:
    """Decode a machine-info block body."""
    c = _Cursor(buf, start, end, offset + 8, "machine info")
    mi = MachineInfo()
    mi.num_cpus = c.u32()
    mi.memory_size_bytes = c.u64()
    mi.max_pid = c.u64()
    mi.hostname = c.raw(128).split(b"\0", 1)[0].decode("utf-8", "replace")
    if c.left >= 8:
        mi.boot_ts_epoch = c.u64()
    if c.left >= 8:
        mi.flags = c.u64()
    return mi


def parse_proclist(buf: bytes, start: int, end: int, btype: int, offset: int) -> list[ProcRecord]:
    """Decode a process-list block body of any version (v1..v9)."""
    version = blocks.PROCLIST_VERSION[btype]
    c = _Cursor(buf, start, end, offset + 8, f"process list v{version}")
    out: list[ProcRecord] = []
    while c.left >= 4:
        entry_start = c.pos
        sub_len = c.u32() if version == 9 else 0
        if version == 9 and (sub_len < 4 or entry_start + sub_len > end):
            raise c.error(f"invalid entry length {sub_len}")
        p = ProcRecord(tid=c.i64(), pid=c.i64(), ptid=c.i64())
        if version >= 6:
            p.sid = c.i64()
        if version >= 8:
            p.vpgid = c.i64()
        p.comm = c.str16(MAX_PATH, "comm")
        p.exe = c.str16(MAX_PATH, "exe")
        if version >= 7:
            p.exepath = c.str16(MAX_PATH, "exepath")
        p.args = split_nul(c.blob16(MAX_ARGS, "args"))
        p.cwd = c.str16(MAX_PATH, "cwd")
        p.fdlimit = c.u64()
        p.flags = c.u32()
        p.uid = c.u32()
        p.gid = c.u32()
        if version >= 2:
            p.vmsize_kb = c.u32()
            p.vmrss_kb = c.u32()
            p.vmswap_kb = c.u32()
            p.pfmajor = c.u64()
            p.pfminor = c.u64()
            if version >= 3:
                p.env = split_nul(c.blob16(MAX_ENV, "env"))
            if version >= 4:
                p.vtid = c.i64()
                p.vpid = c.i64()
                p.cgroups = parse_cgroups(c.blob16(MAX_CGROUPS, "cgroups"))
                if version >= 5:
                    p.root = c.str16(MAX_PATH, "root")
        if sub_len:
            entry_end = entry_start + sub_len

            def fits(n: int, entry_end: int = entry_end) -> bool:
                return c.pos + n <= entry_end

            # Captures written by libs < 0.10 lack pidns_init_start_ts and tty (29 bytes
            # of older optional fields at most remain); see scap_read_proclist.
            if entry_end - c.pos > 29:
                if fits(8):
                    p.pidns_init_start_ts = c.u64()
                if fits(4):
                    p.tty = c.u32()
            if fits(4):
                p.loginuid = c.u32()
            if fits(1):
                p.exe_writable = c.u8() != 0
            if fits(8):
                p.cap_inheritable = c.u64()
            if fits(8):
                p.cap_permitted = c.u64()
            if fits(8):
                p.cap_effective = c.u64()
            if fits(1):
                p.exe_upper_layer = c.u8() != 0
            if fits(8):
                p.exe_ino = c.u64()
            if fits(8):
                p.exe_ino_ctime = c.u64()
            if fits(8):
                p.exe_ino_mtime = c.u64()
            if fits(1):
                p.exe_from_memfd = c.u8() != 0
            if c.pos > entry_end:
                raise c.error(f"entry overruns its length {sub_len}")
            c.pos = entry_end
        out.append(p)
    return out


def _ipv4(raw: bytes) -> str:
    return str(ipaddress.IPv4Address(raw))


def _ipv6(raw: bytes) -> str:
    return str(ipaddress.IPv6Address(raw))


def parse_fdlist(
    buf: bytes, start: int, end: int, btype: int, offset: int
) -> tuple[int, list[FdRecord]]:
    """Decode an fd-list block body: ``(tid, fds)``."""
    c = _Cursor(buf, start, end, offset + 8, "fd list")
    tid = c.i64()
    out: list[FdRecord] = []
    v2 = btype == blocks.FDL_V2
    while c.left >= 4:
        entry_start = c.pos
        sub_len = c.u32() if v2 else 0
        if v2 and (sub_len < 4 or entry_start + sub_len > end):
            raise c.error(f"invalid entry length {sub_len}")
        fd = c.i64()
        ino = c.u64()
        ftype = c.u8()
        r = FdRecord(fd=fd, ino=ino, type=ftype)
        if ftype == FD_IPV4_SOCK:
            r.sip = _ipv4(c.raw(4))
            r.dip = _ipv4(c.raw(4))
            r.sport = c.u16()
            r.dport = c.u16()
            r.l4proto = c.u8()
        elif ftype == FD_IPV4_SERVSOCK:
            r.sip = _ipv4(c.raw(4))
            r.sport = c.u16()
            r.l4proto = c.u8()
        elif ftype == FD_IPV6_SOCK:
            r.sip = _ipv6(c.raw(16))
            r.dip = _ipv6(c.raw(16))
            r.sport = c.u16()
            r.dport = c.u16()
            r.l4proto = c.u8()
        elif ftype == FD_IPV6_SERVSOCK:
            r.sip = _ipv6(c.raw(16))
            r.sport = c.u16()
            r.l4proto = c.u8()
        elif ftype == FD_UNIX_SOCK:
            r.unix_source = c.u64()
            r.unix_dest = c.u64()
            r.name = c.str16(MAX_PATH - 1, "filename")
        elif ftype == FD_FILE_V2:
            r.open_flags = c.u32()
            r.name = c.str16(MAX_PATH - 1, "filename")
            if sub_len and c.pos + 4 <= entry_start + sub_len:
                r.dev = c.u32()
        elif ftype in _NAMED_FD_TYPES:
            r.name = c.str16(MAX_PATH - 1, "filename")
        elif ftype == FD_UNKNOWN:
            pass
        else:
            r.type = FD_UNSUPPORTED
            r.name = f"unknown-type:[{ftype}]"
        if sub_len:
            if c.pos > entry_start + sub_len:
                raise c.error(f"entry overruns its length {sub_len}")
            c.pos = entry_start + sub_len
        out.append(r)
    return tid, out


_NAMED_FD_TYPES = frozenset(
    {
        FD_FIFO,
        FD_FILE,
        FD_DIRECTORY,
        FD_UNSUPPORTED,
        FD_EVENT,
        FD_SIGNALFD,
        FD_EVENTPOLL,
        FD_INOTIFY,
        FD_TIMERFD,
        FD_NETLINK,
        FD_BPF,
        FD_USERFAULTFD,
        FD_IOURING,
        FD_MEMFD,
        FD_PIDFD,
    }
)

# scap_ifinfo types
II_IPV4 = 1
II_IPV6 = 2
II_IPV4_NOLINKSPEED = 3
II_IPV6_NOLINKSPEED = 4


def parse_iflist(buf: bytes, start: int, end: int, btype: int, offset: int) -> list[Interface]:
    """Decode an interface-list block body."""
    c = _Cursor(buf, start, end, offset + 8, "interface list")
    out: list[Interface] = []
    v2 = btype == blocks.IL_V2
    while c.left >= 4:
        entry_start = c.pos
        entry_len = c.u32() if v2 else 0
        iftype = c.u16()
        namelen = c.u16()
        if namelen >= MAX_PATH:
            raise c.error(f"invalid interface name length {namelen}")
        if iftype in (II_IPV4, II_IPV4_NOLINKSPEED):
            addr, mask, bcast = (_ipv4(c.raw(4)) for _ in range(3))
            family = 4
        elif iftype in (II_IPV6, II_IPV6_NOLINKSPEED):
            addr, mask, bcast = (_ipv6(c.raw(16)) for _ in range(3))
            family = 6
        else:
            raise c.error(f"unknown interface type {iftype}")
        speed = c.u64() if iftype in (II_IPV4, II_IPV6) else 0
        name = c.raw(namelen).split(b"\0", 1)[0].decode("utf-8", "replace")
        out.append(Interface(name, family, addr, mask, bcast, speed))
        if entry_len:
            entry_end = entry_start + 4 + entry_len
            if c.pos > entry_end or entry_end > end:
                raise c.error(f"invalid entry length {entry_len}")
            c.pos = entry_end
    return out


USERBLOCK_TYPE_USER = 0
USERBLOCK_TYPE_GROUP = 1


def parse_userlist(
    buf: bytes, start: int, end: int, btype: int, offset: int
) -> tuple[list[UserRecord], list[GroupRecord]]:
    """Decode a user-list block body: ``(users, groups)``."""
    c = _Cursor(buf, start, end, offset + 8, "user list")
    users: list[UserRecord] = []
    groups: list[GroupRecord] = []
    v2 = btype == blocks.UL_V2
    while c.left >= 4:
        entry_start = c.pos
        sub_len = c.u32() if v2 else 0
        if v2 and (sub_len < 5 or entry_start + sub_len > end):
            raise c.error(f"invalid entry length {sub_len}")
        kind = c.u8()
        if kind == USERBLOCK_TYPE_USER:
            uid = c.u32()
            gid = c.u32()
            name = c.str16(MAX_CREDENTIALS - 1, "user name")
            home = c.str16(MAX_CREDENTIALS - 1, "homedir")
            shell = c.str16(MAX_CREDENTIALS - 1, "shell")
            users.append(UserRecord(uid, gid, name, home, shell))
        else:
            gid = c.u32()
            name = c.str16(MAX_CREDENTIALS - 1, "group name")
            groups.append(GroupRecord(gid, name))
        if sub_len:
            if c.pos > entry_start + sub_len:
                raise c.error(f"entry overruns its length {sub_len}")
            c.pos = entry_start + sub_len
    return users, groups
