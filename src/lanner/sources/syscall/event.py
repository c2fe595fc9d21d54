"""One syscall event: header fields read eagerly, parameters decoded lazily on first use."""

from __future__ import annotations

import struct
from typing import Any

from . import event_table as et
from ._native import EventRecord
from .flags import ENUM_PARAMS
from .params import DECODERS, INT_FORMATS, decode_int, decode_param

_LEN_STRUCTS: dict[tuple[int, bool], struct.Struct] = {}

PARAM_INDEX: tuple[dict[str, int], ...] = tuple(
    {name: i for i, (name, _t, _f) in enumerate(params)} for params in et.EVENT_PARAMS
)
"""Event id -> {param name: index}."""

_U16 = struct.Struct("<H").unpack_from
_U32 = struct.Struct("<I").unpack_from
_I64 = struct.Struct("<q").unpack
_I32 = struct.Struct("<i").unpack

_STRUCTS = {f: struct.Struct(f) for f in set(INT_FORMATS.values())}
_ERRNO = struct.Struct("<q")  # PT_ERRNO: a marker, decoded as params._errno_dec does


def _int_structs(params: tuple[tuple[str, int, int], ...]) -> tuple[struct.Struct | None, ...]:
    return tuple(
        _ERRNO
        if p[1] == et.PT_ERRNO
        else (_STRUCTS[INT_FORMATS[p[1]]] if p[1] in INT_FORMATS else None)
        for p in params
    )


_INT_STRUCTS: tuple[tuple[struct.Struct | None, ...], ...] = tuple(
    _int_structs(params) for params in et.EVENT_PARAMS
)
"""Event id -> per parameter, the struct decoding it when it is a plain integer (the
decoder params.INT_DECODERS has for it, applied without slicing the bytes out)."""

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


# the parameter-length arrays of up to _MAX_LENS parameters (no event type has more;
# bigger counts from damaged files are read through _lens_struct)
_MAX_LENS = 64
_LENS16 = [_lens_struct(n, False) for n in range(_MAX_LENS + 1)]
_LENS32 = [_lens_struct(n, True) for n in range(_MAX_LENS + 1)]


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
            vals = self._vals = {}
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

    def _raw_fast(self, index: int) -> bytes | None:
        """Raw bytes of parameter ``index``, from the split parameters when they are."""
        raws = self._raws
        if raws is not None:
            return raws[index] if index < len(raws) else None
        return self._raw_at(index)

    def int_param(self, index: int) -> int | None:
        """Parameter ``index`` as a signed integer (fds, pids), without decoding the rest."""
        vals = self._vals
        if vals is not None and index in vals:
            v = vals[index]
            return None if v is None else int(v)
        raw = self._raw_fast(index)
        if not raw:
            return None
        if len(raw) == 8:
            return _I64(raw)[0]  # type: ignore[no-any-return]
        return int.from_bytes(raw, "little", signed=True)

    def int_value(self, index: int) -> int | None:
        """Parameter ``index`` as a plain int (flags as their number), None when absent or
        not an integer; the same number ``int(param(index))`` gives, decoded faster."""
        vals = self._vals
        if vals is not None and index in vals:
            v = vals[index]
            return int(v) if isinstance(v, int) else None
        raw = self._raw_fast(index)
        if not raw:
            return None if raw is None else decode_int(self.type, index, raw)
        structs = _INT_STRUCTS[self.type]
        if index < len(structs):
            s = structs[index]
            if s is not None:
                if s is _ERRNO:  # 8 bytes, or 4 in some old captures
                    n = len(raw)
                    if n >= 8:
                        return _ERRNO.unpack_from(raw)[0]  # type: ignore[no-any-return]
                    return _I32(raw)[0] if n == 4 else None  # type: ignore[no-any-return]
                return s.unpack_from(raw)[0] if len(raw) >= s.size else None  # type: ignore[no-any-return]
        return decode_int(self.type, index, raw)

    def _raw_at(self, index: int) -> bytes | None:
        n = self.nparams
        if index >= n:
            return None
        lens = self._lens
        off = self._off
        buf = self._buf
        if lens is None:
            if index == 0:
                # the first parameter needs only the first length (nothing to cache)
                if self._large:
                    start = off + 4 * n
                    stop = start + _U32(buf, off)[0]
                else:
                    start = off + 2 * n
                    stop = start + _U16(buf, off)[0]
                end = self._end
                # clipped to the event (a start past its end gives b"" either way)
                return buf[start : stop if stop < end else end]
            if n > _MAX_LENS:
                s = _lens_struct(n, self._large)
            else:
                s = _LENS32[n] if self._large else _LENS16[n]
            lens = self._lens = s.unpack_from(buf, off)
        start = off + (4 * n if self._large else 2 * n)
        if index == 1:
            start += lens[0]
        elif index:
            start += sum(lens[:index])
        stop = start + lens[index]
        end = self._end
        return buf[start : stop if stop < end else end]

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
