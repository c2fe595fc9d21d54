"""Render parameters as text the way sysdig/Falco print them (evt.arg.X, evt.args)."""

from __future__ import annotations

from typing import Any

from . import event_table as et
from .event import Event
from .params import Errno, Flags, SockAddr, SockTuple


def tuple_text(t: SockTuple) -> str:
    """``cip:cport->sip:sport``, or ``source->dest path`` for unix sockets."""
    if t.sip is not None:
        return f"{t.sip}:{t.sport}->{t.dip}:{t.dport}"
    if t.source is not None:
        return f"{t.source:x}->{t.dest:x} {t.path or ''}".rstrip()
    return ""


def sockaddr_text(a: SockAddr) -> str:
    """``ip:port`` or a unix path."""
    if a.addr is not None:
        return f"{a.addr}:{a.port}"
    return a.path or ""


def _printable(b: bytes) -> str:
    return "".join(chr(c) if 32 <= c < 127 else "." for c in b)


def render_value(evt: Event, index: int, value: Any) -> str | None:
    """Text of a decoded parameter value."""
    if value is None:
        return None
    params = et.EVENT_PARAMS[evt.type]
    ptype, fmt = (params[index][1], params[index][2]) if index < len(params) else (0, 0)
    if isinstance(value, Errno):
        name = value.name
        return f"{int(value)}({name})" if name else str(int(value))
    if isinstance(value, Flags):
        if value.names:
            return "|".join(value.names)
        if fmt == et.PF_OCT:
            return f"0{int(value):o}"
        if fmt == et.PF_HEX:
            return f"{int(value):#x}"
        return str(int(value))
    if ptype in (et.PT_FD, et.PT_FD32):
        th = evt.thread
        info = th.fdtable.fds.get(value) if th is not None and value >= 0 else None
        if info is not None:
            return f"{value}(<{info.typechar}>{info.name})"
        return str(value)
    if isinstance(value, SockTuple):
        return tuple_text(value)
    if isinstance(value, SockAddr):
        return sockaddr_text(value)
    if isinstance(value, bytes):
        return _printable(value)
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if fmt == et.PF_HEX:
            return f"{value:#x}"
        if fmt == et.PF_OCT:
            return f"0{value:o}"
        return str(value)
    return str(value)


def render_param(evt: Event, index: int) -> str | None:
    """Text of parameter ``index``."""
    if index >= evt.nparams:
        return None
    return render_value(evt, index, evt.param(index))


def render_args(evt: Event) -> str:
    """All parameters as ``name=value`` pairs (evt.args)."""
    out = []
    for i, name in enumerate(evt.param_names()):
        text = render_param(evt, i)
        out.append(f"{name}={'' if text is None else text}")
    return " ".join(out)
