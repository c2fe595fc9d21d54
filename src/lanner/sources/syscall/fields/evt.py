"""evt.* fields: the event itself (type, direction, time, arguments, return value)."""

from __future__ import annotations

import errno
import time
from typing import Any

from lanner.engine.fields import ArgKind, FieldType

from .. import event_table as et
from ..event import PARAM_INDEX, Event
from ..flags import PPM_O_CREAT, PPM_O_F_CREATED, PPM_O_RDONLY, PPM_O_WRONLY
from ..render import render_args, render_param
from ._util import field

S = FieldType.STRING
N = FieldType.NUMBER
B = FieldType.BOOL

_OPEN_EXITS = frozenset(
    i
    for i, (n, d) in enumerate(zip(et.EVENT_NAMES, et.EVENT_DIRS, strict=True))
    if d == "<" and n in ("open", "openat", "openat2", "open_by_handle_at", "creat")
)
_IO_READ = tuple(bool(f & et.EF_READS_FROM_FD) for f in et.EVENT_FLAGS)
_IO_WRITE = tuple(bool(f & et.EF_WRITES_TO_FD) for f in et.EVENT_FLAGS)
_WAITS = tuple(bool(f & et.EF_WAITS) for f in et.EVENT_FLAGS)
EXEC_BITS = (1 << 0) | (1 << 3) | (1 << 6)  # PPM_S_IXOTH | IXGRP | IXUSR


def _time(ts: int, fmt: str) -> str:
    return time.strftime(fmt, time.localtime(ts // 1_000_000_000)) + f".{ts % 1_000_000_000:09d}"


def event_time(ts: int) -> str:
    """``HH:MM:SS.nnnnnnnnn`` in local time, as evt.time prints it."""
    return _time(ts, "%H:%M:%S")


def _iso8601(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts // 1_000_000_000)) + (
        f".{ts % 1_000_000_000:09d}Z"
    )


def _latency(e: Event) -> int:
    enter = e.enter
    return e.ts - enter.ts if enter is not None and e.is_exit else 0


def _res_text(e: Event) -> str | None:
    r = e.res
    if r is None:
        return None
    if r >= 0:
        return "SUCCESS"
    return errno.errorcode.get(-r, str(r))


def _arg_index(e: Event, a: Any) -> int | None:
    if isinstance(a, int) or (isinstance(a, str) and a.isdigit()):
        return int(a)
    return PARAM_INDEX[e.type].get(a)


def _arg(e: Event, a: Any) -> str | None:
    i = _arg_index(e, a)
    return None if i is None else render_param(e, i)


def _rawarg(e: Event, a: Any) -> Any:
    i = _arg_index(e, a)
    if i is None or i >= e.nparams:
        return None
    v = e.param(i)
    if isinstance(v, int):
        return int(v)
    return v


def _open_flags(e: Event) -> int | None:
    if e.type not in _OPEN_EXITS:
        return None
    v = e.eint("flags")
    return v if v is not None else 0


def _is_open_read(e: Event) -> bool:
    f = _open_flags(e)
    return f is not None and bool(f & PPM_O_RDONLY)


def _is_open_write(e: Event) -> bool:
    f = _open_flags(e)
    return f is not None and bool(f & PPM_O_WRONLY)


def _is_open_exec(e: Event) -> bool:
    f = _open_flags(e)
    if f is None or not f & PPM_O_CREAT:
        return False
    mode = e.earg("mode")
    return bool(int(mode or 0) & EXEC_BITS)


def _is_open_create(e: Event) -> bool:
    f = _open_flags(e)
    return f is not None and bool(f & PPM_O_F_CREATED)


def _buffer(e: Event) -> bytes | None:
    v = e.arg("data")
    return v if isinstance(v, bytes) else None


def _buflen(e: Event) -> int | None:
    if not (_IO_READ[e.type] or _IO_WRITE[e.type]) or not e.is_exit:
        return None
    return e.res


_IO_CATEGORY = {
    "f": "file",
    "d": "file",
    "4": "net",
    "6": "net",
    "u": "ipc",
    "p": "ipc",
    "e": "ipc",
    "s": "ipc",
    "i": "ipc",
}


# Generic events take the category of the syscall's own event, when the table has one.
_CATEGORY_BY_NAME: dict[str, str] = {}
for _i, _n in enumerate(et.EVENT_NAMES):
    if _i > 1 and et.EVENT_CATEGORY_NAMES[_i] != "unknown":
        _CATEGORY_BY_NAME.setdefault(_n, et.EVENT_CATEGORY_NAMES[_i])
_GENERIC = (et.PPME_GENERIC_E, et.PPME_GENERIC_X)


def _category(e: Event) -> str:
    name = et.EVENT_CATEGORY_NAMES[e.type]
    if e.type in _GENERIC:
        name = _CATEGORY_BY_NAME.get(e.name, name)
    if name.startswith("IO_"):
        # I/O events are classified by what their fd is; unknown when the fd is
        if e.fdinfo is None:
            return "unknown"
        return _IO_CATEGORY.get(e.fdinfo.typechar, name)
    return name


def _hostname(e: Event) -> str | None:
    t = e.thread
    tab = t.table if t is not None else None
    return tab.hostname if tab is not None else None


def _type_is(e: Event, a: Any) -> bool:
    return e.name == a


FIELDS = [
    field("evt.num", N, "event number", lambda e, a: e.num, simple=lambda e: e.num),
    field(
        "evt.time",
        S,
        "event timestamp, HH:MM:SS.nnnnnnnnn (local time)",
        lambda e, a: _time(e.ts, "%H:%M:%S"),
    ),
    field("evt.time.s", S, "event timestamp, HH:MM:SS", lambda e, a: _time(e.ts, "%H:%M:%S")[:8]),
    field("evt.time.iso8601", S, "event timestamp, ISO 8601 UTC", lambda e, a: _iso8601(e.ts)),
    field(
        "evt.datetime",
        S,
        "event timestamp with the date (local time)",
        lambda e, a: _time(e.ts, "%Y-%m-%d %H:%M:%S"),
    ),
    field(
        "evt.datetime.s",
        S,
        "event timestamp with the date, to the second",
        lambda e, a: _time(e.ts, "%Y-%m-%d %H:%M:%S")[:19],
    ),
    field("evt.rawtime", N, "absolute event timestamp, ns since epoch", lambda e, a: e.ts),
    field("evt.rawtime.s", N, "seconds part of evt.rawtime", lambda e, a: e.ts // 1_000_000_000),
    field(
        "evt.rawtime.ns", N, "nanoseconds part of evt.rawtime", lambda e, a: e.ts % 1_000_000_000
    ),
    field("evt.latency", N, "ns between the enter and the exit event", lambda e, a: _latency(e)),
    field(
        "evt.latency.s", N, "seconds part of evt.latency", lambda e, a: _latency(e) // 1_000_000_000
    ),
    field(
        "evt.latency.ns",
        N,
        "nanoseconds part of evt.latency",
        lambda e, a: _latency(e) % 1_000_000_000,
    ),
    field("evt.dir", S, "> for enter events, < for exit events", lambda e, a: e.dir),
    field(
        "evt.type",
        S,
        "event type name (open, execve...)",
        lambda e, a: e.name,
        simple=lambda e: e.name,
    ),
    field(
        "evt.type.is",
        B,
        "true when the event type is the argument",
        _type_is,
        arg=ArgKind.KEY,
        arg_required=True,
    ),
    field("evt.syscall.type", S, "system call name, for syscall events", lambda e, a: e.name),
    field(
        "evt.category",
        S,
        "event category (file, net, process, IO_read...)",
        lambda e, a: _category(e),
    ),
    field("evt.cpu", N, "CPU number the event happened on", lambda e, a: e.cpu),
    field("evt.args", S, "all arguments as name=value text", lambda e, a: render_args(e), cost=10),
    field(
        "evt.arg",
        S,
        "one argument as text, by name or index: evt.arg.fd, evt.arg[0]",
        _arg,
        arg=ArgKind.KEY,
        arg_required=True,
        dotted_arg=True,
        cost=10,
    ),
    field(
        "evt.rawarg",
        N,
        "one argument's raw value, by name: evt.rawarg.res",
        _rawarg,
        arg=ArgKind.KEY,
        arg_required=True,
        dotted_arg=True,
    ),
    field(
        "evt.info", S, "the arguments as text (as evt.args)", lambda e, a: render_args(e), cost=10
    ),
    field(
        "evt.res",
        S,
        "SUCCESS, or the errno name of a failed call (ENOENT)",
        lambda e, a: _res_text(e),
    ),
    field("evt.rawres", N, "return value of the call", lambda e, a: e.res),
    field(
        "evt.failed",
        B,
        "true for calls that returned an error",
        lambda e, a: e.res is not None and e.res < 0,
    ),
    field(
        "evt.is_io", B, "true for I/O events", lambda e, a: _IO_READ[e.type] or _IO_WRITE[e.type]
    ),
    field("evt.is_io_read", B, "true for read I/O events", lambda e, a: _IO_READ[e.type]),
    field("evt.is_io_write", B, "true for write I/O events", lambda e, a: _IO_WRITE[e.type]),
    field("evt.is_wait", B, "true for events that wait", lambda e, a: _WAITS[e.type]),
    field(
        "evt.is_open_read",
        B,
        "true for open/openat/openat2 exits that opened for reading",
        lambda e, a: _is_open_read(e),
    ),
    field(
        "evt.is_open_write",
        B,
        "true for open/openat/openat2 exits that opened for writing",
        lambda e, a: _is_open_write(e),
    ),
    field(
        "evt.is_open_exec",
        B,
        "true for opens that create a file with execute permissions",
        lambda e, a: _is_open_exec(e),
    ),
    field(
        "evt.is_open_create",
        B,
        "true for opens that created the file",
        lambda e, a: _is_open_create(e),
    ),
    field("evt.buffer", FieldType.BYTES, "the I/O data buffer", lambda e, a: _buffer(e)),
    field("evt.buflen", N, "length of the I/O buffer", lambda e, a: _buflen(e)),
    field("evt.hostname", S, "host the capture was taken on", lambda e, a: _hostname(e)),
    field("evt.source", S, "event source name (syscall)", lambda e, a: "syscall"),
    field("evt.count", N, "1 for every event (for counting)", lambda e, a: 1),
]
