"""Snapshot /proc and the account files into the records a capture file's metadata blocks
decode to (process list, fd lists, user list), so the state engine loads both the same way.

Field meanings follow libscap's /proc scan (falcosecurity/libs
``userspace/libscap/linux/scap_procs.c`` and ``scap_fds.c``).
"""

from __future__ import annotations

import dataclasses
import os
import socket
import stat
import struct
from collections.abc import Iterator
from pathlib import Path

from ..scap import metadata as md
from ..scap.reader import FdList, ProcList, UserList

ENV_MAX = 2048
CGROUP_NAMES = ("cpuset", "cpu", "memory", "pids")
TCP_LISTEN = 0x0A

_ANON_TYPES = {
    "[eventfd]": md.FD_EVENT,
    "[eventpoll]": md.FD_EVENTPOLL,
    "[signalfd]": md.FD_SIGNALFD,
    "inotify": md.FD_INOTIFY,
    "[timerfd]": md.FD_TIMERFD,
    "[io_uring]": md.FD_IOURING,
    "[pidfd]": md.FD_PIDFD,
    "[userfaultfd]": md.FD_USERFAULTFD,
}


def encode_dev(major: int, minor: int) -> int:
    """A device number in the driver's encoding (the kernel's new_encode_dev)."""
    return (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)


def open_flags_to_ppm(f: int) -> int:
    """Linux open(2) flags -> PPM_O_* bits (same table as the probe's)."""
    acc = f & 3
    r = {0: 1, 1: 2, 2: 3}.get(acc, 0)
    for bit, ppm in (
        (0o100, 1 << 2),
        (0o2000, 1 << 3),
        (0o10000, 1 << 4),
        (0o200, 1 << 5),
        (0o4000, 1 << 6),
        (0o4000000, 1 << 7),
        (0o1000, 1 << 8),
        (0o40000, 1 << 9),
        (0o200000, 1 << 10),
        (0o100000, 1 << 11),
        (0o2000000, 1 << 12),
        (0o20000000, 1 << 13),
    ):
        if f & bit:
            r |= ppm
    return r


def _read(path: str, limit: int = 1 << 16) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(limit)
    except OSError:
        return b""


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def _status(pid_dir: str) -> dict[str, str]:
    out = {}
    for line in _read(f"{pid_dir}/status").decode("utf-8", "replace").splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def _cgroups(pid_dir: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    unified = None
    for line in _read(f"{pid_dir}/cgroup").decode("utf-8", "replace").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _hid, names, path = parts
        if not names:
            unified = path
            continue
        out.extend((n, path) for n in names.split(",") if not n.startswith("name="))
    if unified is not None:
        have = {n for n, _ in out}
        out.extend((n, unified) for n in CGROUP_NAMES if n not in have)
    return out


def _fdlimit(pid_dir: str) -> int:
    for line in _read(f"{pid_dir}/limits").decode("utf-8", "replace").splitlines():
        if line.startswith("Max open files"):
            soft = line[len("Max open files") :].split()[0]
            return int(soft) if soft.isdigit() else -1
    return 0


def _proc_record(pid: int, tid: int) -> md.ProcRecord | None:
    pdir = f"/proc/{pid}"
    tdir = f"{pdir}/task/{tid}"
    raw_stat = _read(f"{tdir}/stat").decode("utf-8", "replace")
    if not raw_stat:
        return None
    rest = raw_stat[raw_stat.rfind(")") + 2 :].split()
    st = _status(tdir)
    if not st:
        return None
    cmdline = _read(f"{pdir}/cmdline")
    argv = md.split_nul(cmdline) if cmdline else []
    comm = _read(f"{tdir}/comm").decode("utf-8", "replace").rstrip("\n")
    exepath = _readlink(f"{pdir}/exe")
    r = md.ProcRecord(tid=tid, pid=pid, ptid=int(st.get("PPid", "0") or 0))
    r.comm = comm
    r.exe = argv[0] if argv else comm
    r.args = argv[1:]
    r.exepath = exepath
    r.cwd = _readlink(f"{pdir}/cwd")
    r.root = _readlink(f"{pdir}/root")
    r.fdlimit = _fdlimit(pdir)
    uids = st.get("Uid", "0 0").split()
    gids = st.get("Gid", "0 0").split()
    r.uid = int(uids[1]) if len(uids) > 1 else 0
    r.gid = int(gids[1]) if len(gids) > 1 else 0
    try:
        r.vpgid = int(rest[2])
        r.sid = int(rest[3])
        r.tty = int(rest[4])
        r.pfminor = int(rest[7])
        r.pfmajor = int(rest[9])
    except (IndexError, ValueError):
        pass
    for key, attr in (("VmSize", "vmsize_kb"), ("VmRSS", "vmrss_kb"), ("VmSwap", "vmswap_kb")):
        v = st.get(key, "").split()
        if v and v[0].isdigit():
            # a 32-bit field in the process list (libscap's uint32_t): an ASan process
            # reserves terabytes of address space, more than it holds in kB
            setattr(r, attr, min(int(v[0]), 0xFFFFFFFF))
    r.env = md.split_nul(_read(f"{pdir}/environ", ENV_MAX).rpartition(b"\0")[0] + b"\0")
    nspid = st.get("NSpid", "").split()
    nstgid = st.get("NStgid", "").split()
    r.vtid = int(nspid[-1]) if nspid else tid
    r.vpid = int(nstgid[-1]) if nstgid else pid
    r.cgroups = _cgroups(pdir)
    login = _read(f"{pdir}/loginuid").strip()
    r.loginuid = int(login) if login.isdigit() else 0xFFFFFFFF
    for key, attr in (
        ("CapInh", "cap_inheritable"),
        ("CapPrm", "cap_permitted"),
        ("CapEff", "cap_effective"),
    ):
        mask = st.get(key)
        if mask:
            setattr(r, attr, int(mask, 16))
    if exepath:
        try:
            s = os.stat(f"{pdir}/exe")
            r.exe_ino, r.exe_ino_ctime, r.exe_ino_mtime = s.st_ino, s.st_ctime_ns, s.st_mtime_ns
        except OSError:
            pass
        r.exe_from_memfd = exepath.startswith("/memfd:")
        r.exe_writable = os.access(exepath, os.W_OK) if exepath.startswith("/") else False
    return r


# -- sockets -----------------------------------------------------------------------------


def _ip4(hexaddr: str) -> str:
    return socket.inet_ntop(socket.AF_INET, struct.pack("<I", int(hexaddr, 16)))


def _ip6(hexaddr: str) -> str:
    words = [int(hexaddr[i : i + 8], 16) for i in range(0, 32, 8)]
    return socket.inet_ntop(socket.AF_INET6, struct.pack("<4I", *words))


def _net_sockets(pid_dir: str) -> dict[int, md.FdRecord]:
    """Socket inode -> fd record (fd number filled in later) for one network namespace."""
    out: dict[int, md.FdRecord] = {}
    for name, v6, l4 in (
        ("tcp", False, md.L4_TCP),
        ("udp", False, md.L4_UDP),
        ("raw", False, md.L4_RAW),
        ("tcp6", True, md.L4_TCP),
        ("udp6", True, md.L4_UDP),
        ("raw6", True, md.L4_RAW),
    ):
        lines = _read(f"{pid_dir}/net/{name}", 1 << 24).decode("ascii", "replace").splitlines()
        for line in lines[1:]:
            f = line.split()
            if len(f) < 10 or not f[9].isdigit():
                continue
            ino = int(f[9])
            laddr, lport = f[1].split(":")
            raddr, rport = f[2].split(":")
            conv = _ip6 if v6 else _ip4
            listening = int(f[3], 16) == TCP_LISTEN and l4 == md.L4_TCP
            if listening or (l4 != md.L4_TCP and int(rport, 16) == 0):
                ftype = md.FD_IPV6_SERVSOCK if v6 else md.FD_IPV4_SERVSOCK
            else:
                ftype = md.FD_IPV6_SOCK if v6 else md.FD_IPV4_SOCK
            rec = md.FdRecord(fd=-1, ino=ino, type=ftype, l4proto=l4)
            rec.sip, rec.sport = conv(laddr), int(lport, 16)
            rec.dip, rec.dport = conv(raddr), int(rport, 16)
            out[ino] = rec
    lines = _read(f"{pid_dir}/net/unix", 1 << 24).decode("utf-8", "replace").splitlines()
    for line in lines[1:]:
        f = line.split(None, 7)
        if len(f) < 7 or not f[6].isdigit():
            continue
        rec = md.FdRecord(fd=-1, ino=int(f[6]), type=md.FD_UNIX_SOCK)
        rec.unix_source = int(f[0].rstrip(":"), 16)
        rec.name = f[7] if len(f) > 7 else ""
        out[rec.ino] = rec
    lines = _read(f"{pid_dir}/net/netlink", 1 << 22).decode("ascii", "replace").splitlines()
    for line in lines[1:]:
        f = line.split()
        if len(f) >= 10 and f[-1].isdigit():
            out[int(f[-1])] = md.FdRecord(fd=-1, ino=int(f[-1]), type=md.FD_NETLINK)
    return out


def _fd_record(
    pdir: str, fd: int, target: str, sockets: dict[int, md.FdRecord]
) -> md.FdRecord | None:
    def inode_of(t: str) -> int:
        i = t.find("[")
        return int(t[i + 1 : -1]) if i >= 0 and t[i + 1 : -1].isdigit() else 0

    if target.startswith("socket:"):
        ino = inode_of(target)
        base = sockets.get(ino)
        if base is None:
            return md.FdRecord(fd=fd, ino=ino, type=md.FD_UNSUPPORTED, name=target)
        return dataclasses.replace(base, fd=fd)
    if target.startswith("pipe:"):
        return md.FdRecord(fd=fd, ino=inode_of(target), type=md.FD_FIFO, name=target)
    if target.startswith("anon_inode:"):
        kind = target[len("anon_inode:") :]
        if kind.startswith("bpf"):
            return md.FdRecord(fd=fd, ino=0, type=md.FD_BPF, name=target)
        ftype = _ANON_TYPES.get(kind, md.FD_UNSUPPORTED)
        return md.FdRecord(fd=fd, ino=0, type=ftype, name=target)
    if not target.startswith("/"):
        return md.FdRecord(fd=fd, ino=0, type=md.FD_UNSUPPORTED, name=target)
    try:
        s = os.stat(f"{pdir}/fd/{fd}")
    except OSError:
        return None
    flags = 0
    for line in _read(f"{pdir}/fdinfo/{fd}", 4096).decode("ascii", "replace").splitlines():
        if line.startswith("flags:"):
            flags = int(line.split()[1], 8)
            break
    ftype = md.FD_DIRECTORY if stat.S_ISDIR(s.st_mode) else md.FD_FILE_V2
    if target.startswith("/memfd:"):
        ftype = md.FD_MEMFD
    rec = md.FdRecord(fd=fd, ino=s.st_ino, type=ftype, name=target)
    rec.open_flags = open_flags_to_ppm(flags)
    rec.dev = encode_dev(os.major(s.st_dev), os.minor(s.st_dev))
    return rec


def _fds(pid: int, sockets_by_ns: dict[str, dict[int, md.FdRecord]]) -> list[md.FdRecord]:
    pdir = f"/proc/{pid}"
    try:
        names = os.listdir(f"{pdir}/fd")
    except OSError:
        return []
    netns = _readlink(f"{pdir}/ns/net")
    sockets = sockets_by_ns.get(netns)
    out = []
    for name in names:
        if not name.isdigit():
            continue
        target = _readlink(f"{pdir}/fd/{name}")
        if not target:
            continue
        if target.startswith("socket:") and sockets is None:
            sockets = sockets_by_ns[netns] = _net_sockets(pdir)
        rec = _fd_record(pdir, int(name), target, sockets or {})
        if rec is not None:
            out.append(rec)
    return out


# -- users -------------------------------------------------------------------------------


def users(passwd: str = "/etc/passwd", group: str = "/etc/group") -> UserList:
    """The host's accounts as a user-list record."""
    ul = UserList()
    for line in _read(passwd, 1 << 24).decode("utf-8", "replace").splitlines():
        p = line.split(":")
        if len(p) >= 7 and p[2].isdigit() and p[3].isdigit():
            ul.users.append(md.UserRecord(int(p[2]), int(p[3]), p[0], p[5], p[6]))
    for line in _read(group, 1 << 24).decode("utf-8", "replace").splitlines():
        p = line.split(":")
        if len(p) >= 3 and p[2].isdigit():
            ul.groups.append(md.GroupRecord(int(p[2]), p[0]))
    return ul


def processes(proc: str = "/proc") -> ProcList:
    """Every thread of every process as a process-list record."""
    threads: list[md.ProcRecord] = []
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            tids = sorted(int(t) for t in os.listdir(f"{proc}/{pid}/task") if t.isdigit())
        except OSError:
            continue
        # main thread first so the others can share its fd table
        for tid in sorted(tids, key=lambda t: t != pid):
            r = _proc_record(pid, tid)
            if r is not None:
                threads.append(r)
    return ProcList(threads)


def snapshot(with_fds: bool = True) -> Iterator[ProcList | FdList | UserList]:
    """Users, then the process list, then one fd list per process."""
    yield users()
    plist = processes()
    yield plist
    if with_fds:
        sockets_by_ns: dict[str, dict[int, md.FdRecord]] = {}
        for r in plist.threads:
            if r.tid == r.pid:
                yield FdList(r.pid, _fds(r.pid, sockets_by_ns))


def proc_dir_exists() -> bool:
    """Whether /proc is mounted (it is needed for the snapshot)."""
    return Path("/proc/self/stat").exists()
