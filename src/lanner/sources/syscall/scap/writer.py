"""Write .scap capture files that sysdig 0.29 and Lanner's reader both read.

The layouts mirror the decoders in :mod:`.metadata` and follow falcosecurity/libs
``userspace/libscap/engine/savefile/scap_savefile.c`` (``scap_write_proclist_entry``,
``scap_fd_write_to_disk``, ``scap_write_userlist``, ``scap_dump``): a section header
(version 1.2), machine info, then interface, user, process and fd lists in their newest
layouts (0x219, 0x220, 0x215, 0x218), then one event block per event: ``EV_V2`` (0x216), or
``EVF_V2`` (0x217) when the event carries dump flags, with the ``_LARGE`` variants (32-bit
parameter lengths) for event types flagged ``EF_LARGE_PAYLOAD``. Blocks are padded to four
bytes. A name ending in ``.gz`` is gzip-compressed.
"""

from __future__ import annotations

import gzip
import ipaddress
import os
import socket
import struct
import time
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from .. import event_table as et
from ..event import Event
from . import blocks
from . import metadata as md
from .reader import FdList, InterfaceList, ProcList, Record, SectionHeader, UserList

_BLOCK_HDR = struct.Struct("<II")
_U32 = struct.Struct("<I")
_EV_HDR = struct.Struct("<HQqIHI")  # cpu, ts, tid, len, type, nparams
_EVF_HDR = struct.Struct("<HIQqIHI")  # cpu, flags, ts, tid, len, type, nparams
_LARGE = tuple(bool(f & et.EF_LARGE_PAYLOAD) for f in et.EVENT_FLAGS)
_PAD = (b"", b"\0\0\0", b"\0\0", b"\0")
EVENT_HEADER_LEN = 26


def block(btype: int, body: bytes) -> bytes:
    """One block: type, total length, body padded to four bytes, total length."""
    pad = _PAD[len(body) & 3]
    n = len(body) + len(pad) + 12
    return _BLOCK_HDR.pack(btype, n) + body + pad + _U32.pack(n)


def _s16(data: bytes, limit: int = 0xFFFF) -> bytes:
    data = data[:limit]
    return struct.pack("<H", len(data)) + data


def _str16(text: str, limit: int = md.MAX_PATH) -> bytes:
    return _s16(text.encode("utf-8", "surrogateescape"), limit)


def _nul_list(items: list[str], limit: int) -> bytes:
    data = b"".join(s.encode("utf-8", "surrogateescape") + b"\0" for s in items)
    if len(data) > limit:  # keep whole items: the reader splits on NUL
        data = data[:limit]
        cut = data.rfind(b"\0")
        data = data[: cut + 1] if cut >= 0 else b""
    return _s16(data)


# -- metadata blocks ----------------------------------------------------------------------


def encode_section_header(major: int = 1, minor: int = 2) -> bytes:
    """A section header block (no options, unknown section length)."""
    return block(blocks.SHB, struct.pack("<IHHq", blocks.SHB_MAGIC, major, minor, -1))


def encode_machine_info(mi: md.MachineInfo) -> bytes:
    """A machine-info block (packed: 148 bytes, then four u64 of which libs today names
    the first two boot_ts_epoch and flags; sysdig 0.29 reads exactly this size)."""
    host = mi.hostname.encode("utf-8", "replace")[:127]
    body = struct.pack("<IQQ", mi.num_cpus, mi.memory_size_bytes, mi.max_pid)
    body += host + b"\0" * (128 - len(host))
    body += struct.pack("<QQQQ", mi.boot_ts_epoch, mi.flags, 0, 0)
    return block(blocks.MI, body)


def encode_proclist(plist: ProcList) -> bytes:
    """A process-list block in the v9 layout (every field the reader knows)."""
    parts = []
    for p in plist.threads:
        e = struct.pack("<qqqqq", p.tid, p.pid, p.ptid, p.sid, p.vpgid)
        e += _str16(p.comm) + _str16(p.exe) + _str16(p.exepath)
        e += _nul_list(p.args, md.MAX_ARGS)
        e += _str16(p.cwd)
        e += struct.pack("<QIII", p.fdlimit & 0xFFFFFFFFFFFFFFFF, p.flags, p.uid, p.gid)
        e += struct.pack("<IIIQQ", p.vmsize_kb, p.vmrss_kb, p.vmswap_kb, p.pfmajor, p.pfminor)
        e += _nul_list(p.env, md.MAX_ENV)
        e += struct.pack("<qq", p.vtid, p.vpid)
        e += _nul_list([f"{s}={path}" for s, path in p.cgroups], md.MAX_CGROUPS)
        e += _str16(p.root)
        e += struct.pack(
            "<QIIBQQQBQQQB",
            p.pidns_init_start_ts,
            p.tty,
            p.loginuid,
            p.exe_writable,
            p.cap_inheritable,
            p.cap_permitted,
            p.cap_effective,
            p.exe_upper_layer,
            p.exe_ino,
            p.exe_ino_ctime,
            p.exe_ino_mtime,
            p.exe_from_memfd,
        )
        parts.append(_U32.pack(len(e) + 4) + e)
    return block(blocks.PL_V9, b"".join(parts))


def _ip4(text: str) -> bytes:
    return ipaddress.IPv4Address(text or "0.0.0.0").packed


def _ip6(text: str) -> bytes:
    return ipaddress.IPv6Address(text or "::").packed


SYSDIG_029_MAX_FD_TYPE = md.FD_FILE_V2
"""sysdig 0.29 refuses a capture whose fd list holds a newer fd type (bpf, userfaultfd,
io_uring, memfd, pidfd: "wrong fd type 17"); in compatible mode they are written as
``FD_UNSUPPORTED`` with their name kept."""


def _fd_entry(r: md.FdRecord, compat: bool = True) -> bytes:
    t = r.type
    if compat and t > SYSDIG_029_MAX_FD_TYPE:
        t = md.FD_UNSUPPORTED
    e = struct.pack("<qQB", r.fd, r.ino, t)
    if t == md.FD_IPV4_SOCK:
        e += _ip4(r.sip) + _ip4(r.dip) + struct.pack("<HHB", r.sport, r.dport, r.l4proto)
    elif t == md.FD_IPV4_SERVSOCK:
        e += _ip4(r.sip) + struct.pack("<HB", r.sport, r.l4proto)
    elif t == md.FD_IPV6_SOCK:
        e += _ip6(r.sip) + _ip6(r.dip) + struct.pack("<HHB", r.sport, r.dport, r.l4proto)
    elif t == md.FD_IPV6_SERVSOCK:
        e += _ip6(r.sip) + struct.pack("<HB", r.sport, r.l4proto)
    elif t == md.FD_UNIX_SOCK:
        e += struct.pack("<QQ", r.unix_source, r.unix_dest) + _str16(r.name, md.MAX_PATH - 1)
    elif t == md.FD_FILE_V2:
        e += _U32.pack(r.open_flags) + _str16(r.name, md.MAX_PATH - 1) + _U32.pack(r.dev)
    elif t != md.FD_UNKNOWN:
        e += _str16(r.name, md.MAX_PATH - 1)
    return _U32.pack(len(e) + 4) + e


def encode_fdlist(fdl: FdList, compat: bool = True) -> bytes:
    """An fd-list block (v2 layout: every entry carries its length).

    ``compat``: fd types sysdig 0.29 does not know are written as unsupported fds.
    """
    entries = b"".join(_fd_entry(r, compat) for r in fdl.fds)
    return block(blocks.FDL_V2, struct.pack("<q", fdl.tid) + entries)


def encode_userlist(ul: UserList) -> bytes:
    """A user-list block (v2 layout)."""
    limit = md.MAX_CREDENTIALS - 1
    parts = []
    for u in ul.users:
        e = struct.pack("<BII", md.USERBLOCK_TYPE_USER, u.uid, u.gid)
        e += _str16(u.name, limit) + _str16(u.homedir, limit) + _str16(u.shell, limit)
        parts.append(_U32.pack(len(e) + 4) + e)
    for g in ul.groups:
        e = struct.pack("<BI", md.USERBLOCK_TYPE_GROUP, g.gid) + _str16(g.name, limit)
        parts.append(_U32.pack(len(e) + 4) + e)
    return block(blocks.UL_V2, b"".join(parts))


def encode_iflist(il: InterfaceList) -> bytes:
    """An interface-list block (v2 layout)."""
    parts = []
    for i in il.interfaces:
        name = i.name.encode("utf-8", "replace")[: md.MAX_PATH - 1]
        if i.family == 4:
            iftype = md.II_IPV4 if i.linkspeed else md.II_IPV4_NOLINKSPEED
            addrs = _ip4(i.addr) + _ip4(i.netmask) + _ip4(i.bcast)
        else:
            iftype = md.II_IPV6 if i.linkspeed else md.II_IPV6_NOLINKSPEED
            addrs = _ip6(i.addr) + _ip6(i.netmask) + _ip6(i.bcast)
        e = struct.pack("<HH", iftype, len(name)) + addrs
        if i.linkspeed:
            e += struct.pack("<Q", i.linkspeed)
        e += name
        parts.append(_U32.pack(len(e)) + e)  # this length excludes its own four bytes
    return block(blocks.IL_V2, b"".join(parts))


def encode_record(rec: Record) -> bytes:
    """Any record the reader yields, back to its block bytes (events included)."""
    if type(rec) is Event:
        return encode_event(rec)
    if isinstance(rec, SectionHeader):
        return encode_section_header(rec.major, rec.minor)
    if isinstance(rec, md.MachineInfo):
        return encode_machine_info(rec)
    if isinstance(rec, ProcList):
        return encode_proclist(rec)
    if isinstance(rec, FdList):
        return encode_fdlist(rec)
    if isinstance(rec, UserList):
        return encode_userlist(rec)
    if isinstance(rec, InterfaceList):
        return encode_iflist(rec)
    raise TypeError(f"cannot encode {type(rec).__name__}")


# -- events -------------------------------------------------------------------------------


def encode_event(ev: Event, flags: int | None = None) -> bytes:
    """One event block. ``flags`` (default: the event's own dump flags) picks EVF_V2."""
    large = _LARGE[ev.type]
    n = ev.nparams
    buf = ev._buf
    if ev._large == large:
        params = buf[ev._off : ev._end]
    else:  # e.g. a live event of a large-payload type: re-encode the length array
        raws = ev.raw_params()
        fmt = "<" + ("I" if large else "H") * len(raws)
        params = struct.pack(fmt, *(len(r) for r in raws)) + b"".join(raws)
        n = len(raws)
    elen = EVENT_HEADER_LEN + len(params)
    if flags is None:
        flags = ev.dump_flags
    if flags:
        btype = blocks.EVF_V2_LARGE if large else blocks.EVF_V2
        head = _EVF_HDR.pack(ev.cpu, flags, ev.ts, ev.tid, elen, ev.type, n)
    else:
        btype = blocks.EV_V2_LARGE if large else blocks.EV_V2
        head = _EV_HDR.pack(ev.cpu, ev.ts, ev.tid, elen, ev.type, n)
    body_len = len(head) + len(params)
    pad = _PAD[body_len & 3]
    total = body_len + len(pad) + 12
    return b"".join((_BLOCK_HDR.pack(btype, total), head, params, pad, _U32.pack(total)))


# -- this host's machine info and interfaces ----------------------------------------------


def host_machine_info() -> md.MachineInfo:
    """The machine-info record of this host (what libscap fills in for a live capture)."""
    mem = 0
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError):
        pass
    try:
        max_pid = int(Path("/proc/sys/kernel/pid_max").read_text().strip())
    except (OSError, ValueError):
        max_pid = 0
    boot = time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    return md.MachineInfo(
        num_cpus=os.cpu_count() or 0,
        memory_size_bytes=mem,
        max_pid=max_pid,
        hostname=socket.gethostname(),
        boot_ts_epoch=boot,
    )


def host_interfaces() -> InterfaceList:
    """The host's IPv4 and IPv6 interface addresses, from /proc (no netlink needed)."""
    out: list[md.Interface] = []
    try:
        import fcntl

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _idx, name in socket.if_nameindex():
                req = struct.pack("256s", name.encode()[:15])
                try:
                    addr = socket.inet_ntoa(fcntl.ioctl(s, 0x8915, req)[20:24])  # SIOCGIFADDR
                    mask = socket.inet_ntoa(fcntl.ioctl(s, 0x891B, req)[20:24])  # NETMASK
                except OSError:
                    continue
                out.append(md.Interface(name, 4, addr, mask, "0.0.0.0"))
    except OSError:
        pass
    try:
        with open("/proc/net/if_inet6", encoding="ascii") as f:
            for line in f:
                p = line.split()
                if len(p) < 6:
                    continue
                addr = str(ipaddress.IPv6Address(bytes.fromhex(p[0])))
                plen = int(p[2], 16)
                mask = str(ipaddress.IPv6Network(f"::/{plen}").netmask)
                out.append(md.Interface(p[5], 6, addr, mask, "::"))
    except (OSError, ValueError):
        pass
    return InterfaceList(out)


# -- the writer ---------------------------------------------------------------------------


class ScapWriter:
    """Write a capture block by block: ``write(record)`` for metadata, ``event(ev)``.

    A path ending in ``.gz`` (or ``compress=True``) is gzip-compressed. The section header is
    written on open. Use as a context manager, or call :meth:`close`. A file object passed
    in is closed with the writer only when ``own`` is true.
    """

    def __init__(
        self,
        target: str | Path | BinaryIO,
        compress: bool | None = None,
        compresslevel: int = 6,
        *,
        own: bool = False,
    ) -> None:
        self.events_written = 0
        self.bytes_written = 0
        if isinstance(target, (str, Path)):
            if compress is None:
                compress = str(target).endswith(".gz")
            raw: BinaryIO = open(target, "wb")  # noqa: SIM115 - closed in close()
            self._owned: BinaryIO | None = raw
        else:
            raw = target
            self._owned = target if own else None
        self._raw = raw
        self._f: BinaryIO = (
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=compresslevel)  # type: ignore[assignment]
            if compress
            else raw
        )
        self._gz = bool(compress)
        self._pending: list[bytes] = []
        self._pending_len = 0
        self._put(encode_section_header())

    def _put(self, data: bytes) -> None:
        self._pending.append(data)
        self._pending_len += len(data)
        if self._pending_len >= 1 << 20:
            self.flush()

    def write(self, rec: Record) -> None:
        """Write any record (metadata block or event)."""
        if isinstance(rec, SectionHeader):
            return  # written on open
        if type(rec) is Event:
            self.event(rec)
        else:
            self._put(encode_record(rec))

    def event(self, ev: Event, flags: int | None = None) -> None:
        """Write one event."""
        self._put(encode_event(ev, flags))
        self.events_written += 1

    @property
    def file_bytes(self) -> int:
        """Bytes in the file so far (compressed ones when compressing; blocks still
        buffered in the writer or the compressor are not counted)."""
        try:
            return int(self._raw.tell())
        except (OSError, ValueError):
            return self.bytes_written

    def flush(self) -> None:
        """Hand buffered blocks to the file (and the OS)."""
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            self._pending_len = 0
            self._f.write(data)
            self.bytes_written += len(data)
        self._f.flush()

    def close(self) -> None:
        """Flush and close (the file is only closed if the writer opened it)."""
        if self._f is None:
            return
        self.flush()
        if self._gz:
            self._f.close()
        if self._owned is not None:
            self._owned.close()
        self._f = None  # type: ignore[assignment]

    def __enter__(self) -> ScapWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def rewrite(source: str | Path | BinaryIO, target: str | Path | BinaryIO) -> int:
    """Copy a capture record by record through the writer; returns the events written."""
    from .reader import ScapReader

    with ScapWriter(target) as w:
        for rec in ScapReader(source):
            w.write(rec)
        return w.events_written
