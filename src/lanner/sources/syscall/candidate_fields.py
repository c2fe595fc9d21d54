"""The syscall fields the per-event core evaluates for the rules' candidate conditions,
and the native form of those conditions.

:func:`lanner.engine.candidates.derive_candidates` turns every check on one of these
fields into an atom the native core evaluates from its own tables before an event is
built for the rules; checks on other fields count as unknown (the event is kept). Each
is a header value, a thread-table or fd-table lookup, or a flag bit: no text rendering.
The list and the field ids are the native module's (``native/candidates.h``).

:func:`native_filter` compiles a source's candidate conditions into a
``_native.CandidateFilter`` keyed by :func:`event_key`: the event type id, or for generic
``syscall`` events ``EVENT_COUNT`` plus the syscall code (their ``evt.type`` is the
syscall's name). :func:`event_filter` wraps it as a ``_native.CandidateEvents`` whose
``accepts(event)`` reads the fields of :data:`NATIVE_READS` in C from the event records
and the others through their Python getters (``native/candidate_events.c``).
"""

from __future__ import annotations

import functools

from lanner.engine.candidates import SourceCandidates, compile_program, field_ref
from lanner.engine.compiler import ConditionCompiler
from lanner.engine.fields import SourceSpec

from . import _native
from . import event_table as et
from .event import PARAM_INDEX, Event
from .fields.evt import _OPEN_EXITS
from .fields.fd import _NULL_TYPECHAR, _RAW_PATH_EXITS
from .scap import metadata as md
from .source import syscall_source
from .state.fds import L4_NAMES, TYPECHARS

CANDIDATE_FIELD_IDS: dict[str, int] = {
    name: i for i, name in enumerate(_native.candidate_field_names())
}
"""Field name -> the id the native core knows it by."""

CANDIDATE_FIELDS: frozenset[str] = frozenset(CANDIDATE_FIELD_IDS)
"""Canonical field names (no argument) the syscall source evaluates natively."""

_GENERIC = (et.PPME_GENERIC_E, et.PPME_GENERIC_X)


def type_keys(name: str) -> list[int]:
    """The filter keys of every event that has ``evt.type`` ``name``."""
    return list(_keys_by_type().get(name, ()))


@functools.cache
def _keys_by_type() -> dict[str, list[int]]:
    """``evt.type`` -> its filter keys: the event type ids, then the generic events'
    syscall codes (one pass over both tables rather than one per name asked)."""
    keys: dict[str, list[int]] = {}
    for i, n in enumerate(et.EVENT_NAMES):
        keys.setdefault(n, []).append(i)
    for c, n in enumerate(et.SYSCALL_CODE_NAMES):
        keys.setdefault(n, []).append(et.EVENT_COUNT + c)
    return keys


def event_key(event: Event) -> int:
    """The filter key of one event (see the module docstring)."""
    t = event.type
    if t in _GENERIC:
        code = event.param(0)
        if code is not None and code < len(et.SYSCALL_CODE_NAMES):
            return et.EVENT_COUNT + int(code)
    return t


NATIVE_READS: frozenset[str] = frozenset(
    {
        "evt.dir",
        "evt.is_open_read",
        "evt.is_open_write",
        "fd.num",
        "fd.name",
        "fd.typechar",
        "fd.directory",
        "fd.filename",
        "fd.l4proto",
        "proc.name",
        "proc.pname",
        "proc.exe",
        "proc.exepath",
        "container.id",
        "user.uid",
        "fd.nameraw",
    }
)
"""The fields native/candidate_events.c reads from the records itself (in the usual
cases); the others go through their Python getters, so the program tests them last."""
_COST = {name: 1 if name in NATIVE_READS else 10 for name in CANDIDATE_FIELD_IDS}


def native_filter(candidates: SourceCandidates) -> _native.CandidateFilter:
    """The candidate conditions of the syscall source as a native program."""
    program = compile_program(candidates, CANDIDATE_FIELD_IDS, _COST)
    codes: dict[int, list[int]] = {}
    for name, code in program.codes.items():
        if name is None:
            raise ValueError("syscall candidate conditions are per event type")
        for key in type_keys(name):
            codes[key] = code
    return _native.CandidateFilter(program.atoms, codes)


def _type_tables() -> tuple[bytes, bytes]:
    """Per event type: the CE_* flags of native/candidate_events.c, and the index of the
    PT_FLAGS32 ``flags`` parameter of open exits (255: none)."""
    flags = bytearray(et.EVENT_COUNT)
    index = bytearray(b"\xff" * et.EVENT_COUNT)
    for t in range(et.EVENT_COUNT):
        f = 0
        if et.EVENT_FLAGS[t] & (et.EF_USES_FD | et.EF_CREATES_FD):
            f |= _CE_HAS_FD
        if et.EVENT_DIRS[t] == "<":
            f |= _CE_EXIT
        if et.EVENT_NAMES[t] == "connect":
            f |= _CE_CONNECT
        if t in _GENERIC:
            f |= _CE_GENERIC
        if t in _RAW_PATH_EXITS:
            f |= _CE_RAW_PATH
        if t in _OPEN_EXITS:
            f |= _CE_OPEN_EXIT
            i = PARAM_INDEX[t].get("flags")
            if i is not None and i < 255 and et.EVENT_PARAMS[t][i][1] == et.PT_FLAGS32:
                index[t] = i
                if i > 0 and et.EVENT_PARAMS[t][i - 1][0] == "name":
                    f |= _CE_NAME_BEFORE_FLAGS  # where candidate_events.c reads fd.nameraw
        flags[t] = f
    return bytes(flags), bytes(index)


_CE_HAS_FD, _CE_EXIT, _CE_CONNECT, _CE_GENERIC, _CE_OPEN_EXIT = 1, 2, 4, 8, 16
_CE_RAW_PATH, _CE_NAME_BEFORE_FLAGS = 32, 64


def event_filter(
    candidates: SourceCandidates, spec: SourceSpec | None = None
) -> _native.CandidateEvents:
    """The candidate conditions applied to events: ``accepts(event)`` is False for an event
    no active rule can match. Fields are read natively where native/candidate_events.c
    can, else through the source's own getters."""
    spec = spec or syscall_source()
    compiler = ConditionCompiler(spec.fields, spec.event_type_field, spec.event_types)
    fallbacks = tuple(
        compiler.operand(field_ref(name)).getter for name in _native.candidate_field_names()
    )
    size = max(TYPECHARS) + 1
    typechars = bytes(ord(TYPECHARS.get(i, "o")) for i in range(size))
    # candidate_events.c tells files and directories by their type character
    assert {t for t, ch in TYPECHARS.items() if ch == "f"} == {md.FD_FILE, md.FD_FILE_V2}
    assert {t for t, ch in TYPECHARS.items() if ch == "d"} == {md.FD_DIRECTORY}
    null_typechars = bytes(
        ord(_NULL_TYPECHAR.get(et.EVENT_NAMES[t], "o")) for t in range(et.EVENT_COUNT)
    )
    l4names = tuple(L4_NAMES.get(i) for i in range(max(L4_NAMES) + 1))
    types, index = _type_tables()
    return _native.CandidateEvents(
        native_filter(candidates),
        types,
        index,
        typechars,
        null_typechars,
        l4names,
        fallbacks,
        event_key,
    )
