"""Render parameters as text the way sysdig/Falco print them (evt.arg.X, evt.args).

libsinsp renders each parameter twice: the raw value and, for some types, a resolved form
(an fd's type and name, an errno's name, a pid's process name, flag names...).
``evt.arg.X`` prints the resolved form when there is one, ``evt.args`` prints
``name=raw(resolved)``.
"""

from __future__ import annotations

import errno
import signal
from typing import Any

from . import event_table as et
from .event import Event
from .params import FdEntry, SockAddr, SockTuple
from .state.parser import resolve_path


def tuple_text(t: SockTuple) -> str:
    """``cip:cport->sip:sport``, or ``source->dest path`` for unix sockets."""
    if t.sip is not None:
        return f"{t.sip}:{t.sport}->{t.dip}:{t.dport}"
    if t.source is not None:
        return f"{t.source:x}->{t.dest:x} {t.path or ''}".rstrip()
    return ""


def _tuple_arg(t: SockTuple) -> str:
    """A PT_SOCKTUPLE as evt.args prints it: like :func:`tuple_text`, but a unix tuple keeps
    the space before an empty path and other families print as ``family N`` (libsinsp)."""
    if t.sip is None and t.source is not None:
        return f"{t.source:x}->{t.dest:x} {t.path or ''}"
    if t.sip is None and t.family not in _KNOWN_FAMILIES:
        return f"family {t.family}"
    return tuple_text(t)


def sockaddr_text(a: SockAddr) -> str:
    """``ip:port`` or a unix path."""
    if a.addr is not None:
        return f"{a.addr}:{a.port}"
    if a.path is None and a.family not in _KNOWN_FAMILIES:
        return f"family {a.family}"  # libsinsp's text for other families (netlink...)
    return a.path or ""


def _printable(b: bytes) -> str:
    return "".join(chr(c) if 32 <= c < 127 else "." for c in b)


MAX_BUFFER_TEXT = 80
_KNOWN_FAMILIES = frozenset({1, 2, 10})  # PPM_AF_UNIX, PPM_AF_INET, PPM_AF_INET6
AT_FDCWD = -100  # PPM_AT_FDCWD

_L4_CHAR = {2: "t", 3: "u", 4: "i", 5: "r"}  # scap_l4_proto -> the letter after the typechar


def _errname(v: int) -> str:
    return errno.errorcode.get(-v, str(v))


def _signame(v: int) -> str:
    try:
        return signal.Signals(v).name
    except ValueError:
        return ""


def _fdlist_text(evt: Event, entries: list[FdEntry]) -> str:
    th = evt.thread
    fds = th.fdtable.fds if th is not None else {}
    out = []
    for x in entries:
        info = fds.get(x.fd)
        out.append(f"{x.fd}:{info.typechar if info is not None else ''}{x.flags:x}")
    return " ".join(out)


def _raw_text(value: Any, ptype: int, fmt: int) -> str:
    if isinstance(value, SockTuple):
        return _tuple_arg(value)
    if isinstance(value, SockAddr):
        return sockaddr_text(value)
    if isinstance(value, (bytes, bytearray)):
        if len(value) > MAX_BUFFER_TEXT:  # libsinsp cuts buffers to 80 characters
            return _printable(bytes(value[: MAX_BUFFER_TEXT - 3])) + "..."
        return _printable(bytes(value))
    if isinstance(value, list):
        if value and isinstance(value[0], FdEntry):
            return " ".join(f"{x.fd}:{x.flags}" for x in value)
        return " ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        v = int(value)
        if getattr(value, "names", None) is not None:
            return str(v)  # flags print their value in decimal, names in the resolved part
        if fmt == et.PF_HEX:
            return f"{v:X}"
        if fmt == et.PF_OCT and v:
            return f"0{v:o}"
        return str(v)
    return str(value)


def _resolved(evt: Event, value: Any, ptype: int) -> str:
    if ptype in (et.PT_FD, et.PT_FD32):
        if value == AT_FDCWD:
            return "AT_FDCWD"  # any *at syscall's dirfd (libsinsp's fd rendering)
        if value < 0:
            return _errname(value)
        th = evt.thread
        info = th.fdtable.fds.get(value) if th is not None else None
        if info is None:
            return ""
        return f"<{info.typechar}{_L4_CHAR.get(info.l4proto, '')}>{info.name}"
    if ptype == et.PT_ERRNO:
        return _errname(value) if value < 0 else ""
    if ptype in (et.PT_PID, et.PT_PID32):
        th = evt.thread
        tab = th.table if th is not None else getattr(evt, "table", None)
        other = tab.get(value) if tab is not None else None
        return other.comm if other is not None else ""
    names = getattr(value, "names", None)
    if names:
        return "|".join(names)
    if ptype == et.PT_SIGTYPE:
        return _signame(value)
    if ptype == et.PT_RELTIME:
        return f"{value / 1e9:g}s"
    if ptype in (et.PT_UID, et.PT_GID):
        th = evt.thread
        tab = th.table if th is not None else None
        if tab is None:
            return ""
        if ptype == et.PT_UID:
            u = tab.users.user(value)
            return u.name if u is not None else ""
        g = tab.users.group(value)
        return g.name if g is not None else ""
    if ptype == et.PT_SYSCALLID and value < len(et.SYSCALL_CODE_NAMES):
        return et.SYSCALL_CODE_NAMES[value]
    return ""


def _relative_path(evt: Event, index: int, value: str, ptype: int) -> str:
    """The absolute form libsinsp shows after a relative path: against the dirfd's
    directory (PT_FSRELPATH, the parameter before it) or the process's cwd."""
    t = evt.thread
    if t is None or not value or value.startswith("/") or value == "<NA>":
        return ""
    dirfd = None
    params = et.EVENT_PARAMS[evt.type]
    if ptype == et.PT_FSRELPATH and index > 0 and params[index - 1][1] == et.PT_FD:
        dirfd = evt.param(index - 1)
    if dirfd is None or dirfd == AT_FDCWD:
        tab = t.table
        base = (tab.main_thread(t) if tab is not None else t).cwd
    else:
        info = t.fdtable.fds.get(dirfd)
        if info is None or not info.name:
            return ""
        base = info.name
    return resolve_path(base, value)


def param_texts(evt: Event, index: int) -> tuple[str, str] | None:
    """``(raw, resolved)`` text of parameter ``index`` (resolved may be empty)."""
    if index >= evt.nparams:
        return None
    value = evt.param(index)
    params = et.EVENT_PARAMS[evt.type]
    if index >= len(params):
        return _raw_text(value, 0, 0), ""
    _name, ptype, fmt = params[index]
    if value is None:
        return "NULL", ""
    if ptype == et.PT_FDLIST:
        return _fdlist_text(evt, value), ""  # fd:<typechar><poll flags in hex>
    if ptype in (et.PT_FSPATH, et.PT_FSRELPATH) and isinstance(value, str):
        return _raw_text(value, ptype, fmt), _relative_path(evt, index, value, ptype)
    return _raw_text(value, ptype, fmt), _resolved(evt, value, ptype)


def render_param(evt: Event, index: int) -> str | None:
    """evt.arg text: the resolved form when there is one, else the raw value."""
    texts = param_texts(evt, index)
    if texts is None:
        return None
    raw, resolved = texts
    return resolved or raw


def render_args(evt: Event) -> str:
    """All parameters as ``name=raw(resolved)`` pairs (evt.args)."""
    if evt.type in (et.PPME_GENERIC_E, et.PPME_GENERIC_X):
        return ""  # named after their syscall (evt.type); libsinsp shows no arguments
    out = []
    for i, name in enumerate(evt.param_names()):
        texts = param_texts(evt, i)
        if texts is None:
            continue
        raw, resolved = texts
        out.append(f"{name}={raw}({resolved}) " if resolved else f"{name}={raw} ")
    return "".join(out)  # libsinsp ends every pair with a space
