"""The syscall fields the per-event core evaluates for the rules' candidate conditions.

:func:`lanner.engine.candidates.derive_candidates` turns every check on one of these
fields into an atom the native core evaluates from its own tables before an event is
built for the rules; checks on other fields count as unknown (the event is kept). Each
is a header value, a thread-table or fd-table lookup, or a flag bit: no text rendering.
"""

from __future__ import annotations

CANDIDATE_FIELDS: frozenset[str] = frozenset(
    {
        # event header and return value
        "evt.dir",
        "evt.rawres",
        # open flags (the upstream open_read / open_write / open_directory macros)
        "evt.is_open_read",
        "evt.is_open_write",
        "evt.is_open_exec",
        # the event's fd
        "fd.num",
        "fd.type",
        "fd.typechar",
        "fd.name",
        "fd.directory",
        "fd.filename",
        "fd.l4proto",
        # the thread and its parent
        "proc.name",
        "proc.pname",
        "proc.exe",
        "proc.exepath",
        "container.id",
        "user.uid",
        "user.name",
    }
)
"""Canonical field names (no argument) the syscall source evaluates natively."""
