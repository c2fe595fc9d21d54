"""One syscall event: header fields read eagerly, parameters decoded lazily on first use."""

from __future__ import annotations

import struct
from typing import Any

from . import event_table as et
from ._native import EventRecord, set_int_formats
from .flags import ENUM_PARAMS
from .params import DECODERS, INT_FORMATS, decode_int, decode_param

_LEN_STRUCTS: dict[tuple[int, bool], struct.Struct] = {}

PARAM_INDEX: tuple[dict[str, int], ...] = tuple(
    {name: i for i, (name, _t, _f) in enumerate(params)} for params in et.EVENT_PARAMS
)
"""Event id -> {param name: index}."""


def _int_codes(params: tuple[tuple[str, int, int], ...]) -> bytes:
    """Per parameter, how native/events.c's int_value reads it: the struct code of
    params.INT_FORMATS, ``E`` for PT_ERRNO (8 bytes, or 4 in old captures), NUL for the
    rest (params.decode_int decides)."""
    return bytes(
        ord("E")
        if p[1] == et.PT_ERRNO
        else (ord(INT_FORMATS[p[1]][1]) if p[1] in INT_FORMATS else 0)
        for p in params
    )


set_int_formats(tuple(_int_codes(params) for params in et.EVENT_PARAMS), decode_int)

_STR_TYPES = frozenset({et.PT_CHARBUF, et.PT_FSPATH, et.PT_FSRELPATH})
_STR_DECS: tuple[tuple[Any, ...], ...] = tuple(
    tuple(
        DECODERS[p[1]] if p[1] in _STR_TYPES and p[0] not in ENUM_PARAMS else None for p in params
    )
    for params in et.EVENT_PARAMS
)
"""Event id -> per parameter, its string decoder when decode_param gives that string as it
is ("" for no bytes): strings that are not named enums."""

_RES_TYPES = frozenset({et.PT_ERRNO, et.PT_PID, et.PT_FD, et.PT_FD32, et.PT_PID32})
HAS_RES = tuple(
    d == "<" and bool(params) and (params[0][1] in _RES_TYPES or params[0][0] == "res")
    for d, params in zip(et.EVENT_DIRS, et.EVENT_PARAMS, strict=True)
)
"""Event id -> whether its first parameter is the syscall's return value (exit events)."""
GENERIC_E = et.PPME_GENERIC_E
GENERIC_X = et.PPME_GENERIC_X


def _lens_struct(n: int, large: bool) -> struct.Struct:
    s = _LEN_STRUCTS.get((n, large))
    if s is None:
        s = _LEN_STRUCTS[(n, large)] = struct.Struct(f"<{n}{'I' if large else 'H'}")
    return s


class Event(EventRecord):
    """A decoded event header plus a view of its parameter bytes.

    ``thread`` and ``fdinfo`` are set by the state engine; ``enter`` is the matching enter
    event of an exit event when the engine kept it. Events without a thread get ``table``
    (the thread table) so their pid arguments can still be named; it is unset otherwise.

    ``Event(num, ts, tid, etype, nparams, buf, off, end, large=False, cpu=0,
    dump_flags=0, offset=0)``: ``buf[off:end]`` holds the parameter-length array and the
    parameters. The attributes live in the native record (native/events.c): num, ts,
    tid, type, nparams, cpu, dump_flags, offset, thread, fdinfo, fd, enter, table, and
    the private _buf, _off, _end, _large, _raws, _lens, _vals.
    """

    __slots__ = ()

    def detach(self) -> None:
        """Copy the parameter bytes out of the shared read chunk (for events kept around,
        like a thread's pending enter event, so they do not pin a whole chunk)."""
        off = self._off
        end = self._end
        buf = self._buf
        if off or end != len(buf):
            self._buf = buf[off:end]
            self._end = end - off
            self._off = 0

    # -- raw access -------------------------------------------------------------------
    def raw_params(self) -> list[bytes]:
        """The raw bytes of every parameter (cached)."""
        raws = self._raws
        if raws is None:
            n = self.nparams
            buf = self._buf
            large = self._large
            s = _lens_struct(n, large)
            lens = s.unpack_from(buf, self._off) if n else ()
            pos = self._off + s.size
            end = self._end
            raws = []
            for ln in lens:
                nxt = pos + ln
                if nxt > end:
                    raws.append(buf[pos:end])
                    pos = end
                else:
                    raws.append(buf[pos:nxt])
                    pos = nxt
            self._raws = raws
        return raws

    def raw(self, index: int) -> bytes | None:
        """Raw bytes of parameter ``index``, or None when the event has fewer."""
        raws = self.raw_params()
        return raws[index] if index < len(raws) else None

    # -- decoded access ---------------------------------------------------------------
    def param(self, index: int) -> Any:
        """Decoded value of parameter ``index`` (None when absent)."""
        vals = self._vals
        if vals is None:
            fresh: dict[int, Any] = {}
            vals = self._vals = fresh
        elif index in vals:
            return vals[index]
        raws = self._raws
        if raws is None:
            raw = self._raw_at(index)  # one parameter: no need to split them all
            if raw is None:
                v = None
            else:
                decs = _STR_DECS[self.type]
                dec = decs[index] if index < len(decs) else None
                if dec is not None:
                    v = dec(raw) if raw else ""  # what decode_param gives, sooner
                else:
                    v = decode_param(self.type, index, raw)
        else:
            v = decode_param(self.type, index, raws[index]) if index < len(raws) else None
        vals[index] = v
        return v

    # _raw_at(index), int_param(index) and int_value(index) are C (native/events.c)

    def _raw_fast(self, index: int) -> bytes | None:
        """Raw bytes of parameter ``index``, from the split parameters when they are."""
        raws = self._raws
        if raws is not None:
            return raws[index] if index < len(raws) else None
        return self._raw_at(index)

    def arg(self, name: str) -> Any:
        """Decoded value of the parameter called ``name`` (None when absent)."""
        i = PARAM_INDEX[self.type].get(name)
        if i is None:
            return None
        return self.param(i)

    def earg(self, name: str) -> Any:
        """A parameter of this event, else of its enter event (exit events of old captures)."""
        i = PARAM_INDEX[self.type].get(name)
        if i is not None and i < self.nparams:
            return self.param(i)
        enter = self.enter
        return enter.arg(name) if enter is not None else None

    def eint(self, name: str) -> int | None:
        """:meth:`earg` as a plain int (flags as their number), None when not an integer."""
        i = PARAM_INDEX[self.type].get(name)
        if i is not None and i < self.nparams:
            return self.int_value(i)
        enter = self.enter
        if enter is not None:
            i = PARAM_INDEX[enter.type].get(name)
            if i is not None:
                return enter.int_value(i)
        return None

    def has_arg(self, name: str) -> bool:
        """Whether this event carries a parameter called ``name``."""
        i = PARAM_INDEX[self.type].get(name)
        return i is not None and i < self.nparams

    def args(self) -> dict[str, Any]:
        """All parameters by name, decoded."""
        params = et.EVENT_PARAMS[self.type]
        return {params[i][0]: self.param(i) for i in range(min(self.nparams, len(params)))}

    def param_names(self) -> list[str]:
        """Names of the parameters this event carries."""
        return [p[0] for p in et.EVENT_PARAMS[self.type][: self.nparams]]

    # -- header-derived ---------------------------------------------------------------
    @property
    def name(self) -> str:
        """The event type name; generic ``syscall`` events are named after their syscall."""
        t = self.type
        if t in (GENERIC_E, GENERIC_X):
            code = self.param(0)
            if code is not None and code < len(et.SYSCALL_CODE_NAMES):
                return et.SYSCALL_CODE_NAMES[code]
        return et.EVENT_NAMES[t]

    @property
    def dir(self) -> str:
        """``>`` for an enter event, ``<`` for an exit event."""
        return et.EVENT_DIRS[self.type]

    @property
    def is_exit(self) -> bool:
        """Whether this is an exit event."""
        return et.EVENT_DIRS[self.type] == "<"

    @property
    def res(self) -> int | None:
        """The syscall return value of an exit event (first param when it is one)."""
        if HAS_RES[self.type] and self.nparams:
            return self.int_value(0)
        return None

    def __repr__(self) -> str:
        return f"<Event #{self.num} {self.name} {self.dir} tid={self.tid}>"
