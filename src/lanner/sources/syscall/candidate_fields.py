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
syscall's name).
"""

from __future__ import annotations

from lanner.engine.candidates import SourceCandidates, compile_program

from . import _native
from . import event_table as et
from .event import Event

CANDIDATE_FIELD_IDS: dict[str, int] = {
    name: i for i, name in enumerate(_native.candidate_field_names())
}
"""Field name -> the id the native core knows it by."""

CANDIDATE_FIELDS: frozenset[str] = frozenset(CANDIDATE_FIELD_IDS)
"""Canonical field names (no argument) the syscall source evaluates natively."""

_GENERIC = (et.PPME_GENERIC_E, et.PPME_GENERIC_X)


def type_keys(name: str) -> list[int]:
    """The filter keys of every event that has ``evt.type`` ``name``."""
    keys = [i for i, n in enumerate(et.EVENT_NAMES) if n == name]
    keys += [et.EVENT_COUNT + c for c, n in enumerate(et.SYSCALL_CODE_NAMES) if n == name]
    return keys


def event_key(event: Event) -> int:
    """The filter key of one event (see the module docstring)."""
    t = event.type
    if t in _GENERIC:
        code = event.param(0)
        if code is not None and code < len(et.SYSCALL_CODE_NAMES):
            return et.EVENT_COUNT + int(code)
    return t


def native_filter(candidates: SourceCandidates) -> _native.CandidateFilter:
    """The candidate conditions of the syscall source as a native program."""
    program = compile_program(candidates, CANDIDATE_FIELD_IDS)
    codes: dict[int, list[int]] = {}
    for name, code in program.codes.items():
        if name is None:
            raise ValueError("syscall candidate conditions are per event type")
        for key in type_keys(name):
            codes[key] = code
    return _native.CandidateFilter(program.atoms, codes)
