"""Decode raw event parameters into typed Python values, one PT_* type at a time.

Encodings follow falcosecurity/libs ``driver/ppm_events_public.h`` and
``userspace/libscap/scap_event.c``. An empty parameter (length 0) decodes to None.
"""

from __future__ import annotations

import errno as _errno
import struct
from collections.abc import Callable
from typing import Any, NamedTuple

from . import event_table as et
from .flags import ENUM_PARAMS, flag_names

# socket families as the driver encodes them (PPM_AF_*)
AF_UNSPEC = 0
AF_UNIX = 1
AF_INET = 2
AF_INET6 = 10
AF_NETLINK = 16


class Errno(int):
    """A syscall return value; negative values carry the errno name (``ENOENT``)."""

    __slots__ = ()

    @property
    def name(self) -> str | None:
        """The errno symbol for a negative value, else None."""
        if self < 0:
            return _errno.errorcode.get(-self, f"E{-self}")
        return None

    def __repr__(self) -> str:
        n = self.name
        return f"Errno({int(self)}{', ' + n if n else ''})"


class Flags(int):
    """A flags parameter; ``names`` lists the set flag names when the table is known."""

    names: tuple[str, ...]

    def __new__(cls, value: int, names: tuple[str, ...] = ()) -> Flags:
        obj = super().__new__(cls, value)
        obj.names = names
        return obj

    def __repr__(self) -> str:
        return f"Flags({int(self):#x}, {'|'.join(self.names)})"


class SockAddr(NamedTuple):
    """A PT_SOCKADDR: family plus address and port, or a unix path."""

    family: int
    addr: str | None = None
    port: int | None = None
    path: str | None = None


class SockTuple(NamedTuple):
    """A PT_SOCKTUPLE: both ends of a connection (unix sockets carry a path)."""

    family: int
    sip: str | None = None
    sport: int | None = None
    dip: str | None = None
    dport: int | None = None
    path: str | None = None
    source: int | None = None
    dest: int | None = None


class FdEntry(NamedTuple):
    """One entry of a PT_FDLIST (poll)."""

    fd: int
    flags: int


def _ipv4(raw: bytes) -> str:
    import socket  # here: most runs never decode an address in Python

    return socket.inet_ntop(socket.AF_INET, raw)


def _ipv6(raw: bytes) -> str:
    import socket

    return socket.inet_ntop(socket.AF_INET6, raw)


def _cstr(raw: bytes) -> str:
    i = raw.find(b"\0")
    if i >= 0:
        raw = raw[:i]
    return raw.decode("utf-8", "surrogateescape")


def _int(fmt: str) -> Callable[[bytes], int | None]:
    s = struct.Struct(fmt)

    def dec(raw: bytes) -> int | None:
        if len(raw) < s.size:
            return None
        return s.unpack_from(raw)[0]

    return dec


def _errno_dec(raw: bytes) -> Errno | None:
    if len(raw) < 8:
        if len(raw) == 4:
            return Errno(struct.unpack("<i", raw)[0])
        return None
    return Errno(struct.unpack_from("<q", raw)[0])


def decode_sockaddr(raw: bytes) -> SockAddr | None:
    """Decode a PT_SOCKADDR."""
    if not raw:
        return None
    fam = raw[0]
    if fam == AF_INET and len(raw) >= 7:
        return SockAddr(fam, _ipv4(raw[1:5]), struct.unpack_from("<H", raw, 5)[0])
    if fam == AF_INET6 and len(raw) >= 19:
        return SockAddr(fam, _ipv6(raw[1:17]), struct.unpack_from("<H", raw, 17)[0])
    if fam == AF_UNIX:
        return SockAddr(fam, path=_cstr(raw[1:]))
    return SockAddr(fam)


def decode_socktuple(raw: bytes) -> SockTuple | None:
    """Decode a PT_SOCKTUPLE."""
    if not raw:
        return None
    fam = raw[0]
    if fam == AF_INET and len(raw) >= 13:
        sport, dport = struct.unpack_from("<H", raw, 5)[0], struct.unpack_from("<H", raw, 11)[0]
        return SockTuple(fam, _ipv4(raw[1:5]), sport, _ipv4(raw[7:11]), dport)
    if fam == AF_INET6 and len(raw) >= 37:
        sport = struct.unpack_from("<H", raw, 17)[0]
        dport = struct.unpack_from("<H", raw, 35)[0]
        return SockTuple(fam, _ipv6(raw[1:17]), sport, _ipv6(raw[19:35]), dport)
    if fam == AF_UNIX and len(raw) >= 17:
        src, dst = struct.unpack_from("<QQ", raw, 1)
        return SockTuple(fam, path=_cstr(raw[17:]), source=src, dest=dst)
    return SockTuple(fam)


def decode_fdlist(raw: bytes) -> list[FdEntry] | None:
    """Decode a PT_FDLIST: u16 count then (i64 fd, u16 flags) entries."""
    if len(raw) < 2:
        return None
    (n,) = struct.unpack_from("<H", raw)
    n = min(n, (len(raw) - 2) // 10)
    return [FdEntry(*struct.unpack_from("<qH", raw, 2 + 10 * i)) for i in range(n)]


def decode_charbufarray(raw: bytes) -> list[str]:
    """Decode NUL-separated strings (args, env, PT_CHARBUFARRAY)."""
    if not raw:
        return []
    if raw.endswith(b"\0"):
        raw = raw[:-1]
    return [s.decode("utf-8", "surrogateescape") for s in raw.split(b"\0")]


def decode_pairs(raw: bytes) -> list[tuple[str, str]]:
    """Decode a PT_CHARBUF_PAIR_ARRAY: alternating NUL-separated keys and values."""
    items = decode_charbufarray(raw)
    return list(zip(items[0::2], items[1::2], strict=False))


def decode_ipaddr(raw: bytes) -> str | None:
    """Decode a PT_IPADDR / PT_IPV4ADDR / PT_IPV6ADDR by its length."""
    if len(raw) == 4:
        return _ipv4(raw)
    if len(raw) == 16:
        return _ipv6(raw)
    return None


def decode_dyn(raw: bytes) -> tuple[int, Any] | None:
    """Decode a PT_DYN: a one-byte variant index, then the value (an integer when sized so)."""
    if not raw:
        return None
    idx = raw[0]
    body = raw[1:]
    size_fmt = {1: "<b", 2: "<h", 4: "<i", 8: "<q"}.get(len(body))
    if size_fmt:
        return idx, struct.unpack(size_fmt, body)[0]
    return idx, _cstr(body) if body.endswith(b"\0") else body


def _double(raw: bytes) -> float | None:
    return struct.unpack_from("<d", raw)[0] if len(raw) >= 8 else None


def _bool(raw: bytes) -> bool | None:
    return bool(int.from_bytes(raw, "little")) if raw else None


def _bytes(raw: bytes) -> bytes:
    return bytes(raw)


INT_FORMATS: dict[int, str] = {
    et.PT_INT8: "<b",
    et.PT_INT16: "<h",
    et.PT_INT32: "<i",
    et.PT_INT64: "<q",
    et.PT_UINT8: "<B",
    et.PT_UINT16: "<H",
    et.PT_UINT32: "<I",
    et.PT_UINT64: "<Q",
    et.PT_FD: "<q",
    et.PT_PID: "<q",
    et.PT_FD32: "<i",
    et.PT_PID32: "<i",
    et.PT_SYSCALLID: "<H",
    et.PT_SIGTYPE: "<B",
    et.PT_RELTIME: "<Q",
    et.PT_ABSTIME: "<Q",
    et.PT_PORT: "<H",
    et.PT_L4PROTO: "<B",
    et.PT_SOCKFAMILY: "<B",
    et.PT_FLAGS8: "<B",
    et.PT_FLAGS16: "<H",
    et.PT_FLAGS32: "<I",
    et.PT_ENUMFLAGS8: "<B",
    et.PT_ENUMFLAGS16: "<H",
    et.PT_ENUMFLAGS32: "<I",
    et.PT_UID: "<I",
    et.PT_GID: "<I",
    et.PT_SIGSET: "<I",
    et.PT_MODE: "<I",
}
"""Integer parameter types and the little-endian struct format of each."""

DECODERS: dict[int, Callable[[bytes], Any]] = {
    **{t: _int(f) for t, f in INT_FORMATS.items()},
    et.PT_CHARBUF: _cstr,
    et.PT_FSPATH: _cstr,
    et.PT_FSRELPATH: _cstr,
    et.PT_BYTEBUF: _bytes,
    et.PT_ERRNO: _errno_dec,
    et.PT_SOCKADDR: decode_sockaddr,
    et.PT_SOCKTUPLE: decode_socktuple,
    et.PT_FDLIST: decode_fdlist,
    et.PT_BOOL: _bool,
    et.PT_IPV4ADDR: decode_ipaddr,
    et.PT_IPV6ADDR: decode_ipaddr,
    et.PT_IPADDR: decode_ipaddr,
    et.PT_DYN: decode_dyn,
    et.PT_DOUBLE: _double,
    et.PT_CHARBUFARRAY: decode_charbufarray,
    et.PT_CHARBUF_PAIR_ARRAY: decode_pairs,
    et.PT_IPV4NET: _bytes,
    et.PT_IPV6NET: _bytes,
    et.PT_IPNET: _bytes,
}

FLAG_TYPES = frozenset(
    {
        et.PT_FLAGS8,
        et.PT_FLAGS16,
        et.PT_FLAGS32,
        et.PT_ENUMFLAGS8,
        et.PT_ENUMFLAGS16,
        et.PT_ENUMFLAGS32,
        et.PT_MODE,
    }
)


INT_DECODERS: dict[int, Callable[[bytes], Any]] = {
    t: DECODERS[t] for t in (*INT_FORMATS, et.PT_ERRNO)
}
"""Parameter types whose decoded value is an integer (flags before naming them)."""


def decode_int(evt_type: int, index: int, raw: bytes) -> int | None:
    """Parameter ``index`` as a plain int, or None when it is not an integer.

    The same number as ``int(decode_param(...))`` for integer values, without building
    flag names or other wrappers (the state engine's hot path).
    """
    params = et.EVENT_PARAMS[evt_type]
    if index < len(params) and raw:
        dec = INT_DECODERS.get(params[index][1])
        if dec is not None:
            v = dec(raw)
            return None if v is None else int(v)
    v = decode_param(evt_type, index, raw)
    return int(v) if isinstance(v, int) else None


def decode_param(evt_type: int, index: int, raw: bytes) -> Any:
    """Decode parameter ``index`` of an event of type ``evt_type`` from its raw bytes."""
    params = et.EVENT_PARAMS[evt_type]
    if index >= len(params):
        return bytes(raw)
    name, ptype, _fmt = params[index]
    if not raw:
        if ptype in (et.PT_CHARBUF, et.PT_FSPATH, et.PT_FSRELPATH):
            return ""
        if ptype in (et.PT_BYTEBUF, et.PT_CHARBUFARRAY):
            return b"" if ptype == et.PT_BYTEBUF else []
        return None
    value = DECODERS.get(ptype, _bytes)(raw)
    if value is not None and (ptype in FLAG_TYPES or name in ENUM_PARAMS):
        names = flag_names(et.EVENT_NAMES[evt_type], name, ptype, value)
        if names or ptype in FLAG_TYPES:
            return Flags(value, names)
    return value
