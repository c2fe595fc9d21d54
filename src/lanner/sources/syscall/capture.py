"""Replay a capture file: read events and apply them to the state engine, in order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from . import event_table as et
from .event import Event
from .scap import ScapReader
from .state import StateEngine


def read_capture(
    source: str | Path | BinaryIO,
    state: StateEngine | None = None,
    event_types: Iterable[str] | None = None,
) -> Iterator[Event]:
    """Yield the events of a capture with state applied (``event.thread``, ``event.fdinfo``).

    Metadata blocks (process, fd, user lists) feed ``state``; pass your own engine to look
    at the tables afterwards. With ``event_types`` (evt.type names the loaded rules can
    match), only those events are yielded, and events that neither match nor change state
    are rejected from their header without being built. Raises
    :class:`~lanner.sources.syscall.scap.ScapError` on a damaged file after yielding every
    event before the damage. See :class:`CaptureReplay` for progress reporting.
    """
    return iter(CaptureReplay(source, state, event_types))


class CaptureReplay:
    """A replay you can watch: iterate it for events, read ``progress()`` meanwhile."""

    def __init__(
        self,
        source: str | Path | BinaryIO,
        state: StateEngine | None = None,
        event_types: Iterable[str] | None = None,
    ) -> None:
        self.state = state if state is not None else StateEngine()
        self.names: frozenset[str] | None = None
        self.wanted: frozenset[int] | None = None
        keep: frozenset[int] | None = None
        if event_types is not None:
            self.names = frozenset(event_types)
            self.wanted = type_ids(self.names)
            keep = self.wanted | STATE_TYPES
        self.reader = ScapReader(source, keep)

    def progress(self) -> float | None:
        """Fraction of the file read so far (None for streams of unknown size)."""
        return self.reader.progress()

    def __iter__(self) -> Iterator[Event]:
        load = self.state.load_record
        names = self.names
        for rec in self.reader.replay(self.state, self.wanted, names):
            if type(rec) is Event:
                yield rec  # generic events were checked by their syscall's name
            else:
                load(rec)


def type_ids(names: Iterable[str]) -> frozenset[int]:
    """Event type ids (both directions, every version) of evt.type names.

    Syscalls without an event of their own (in the capture's driver) arrive as generic
    ``syscall`` events, so a name of the syscall-code table brings in the generic ids;
    their name is checked later.
    """
    names = set(names)
    ids = {i for i, n in enumerate(et.EVENT_NAMES) if n in names}
    # also when the syscall has an event of its own: older captures (and drivers) record
    # it as a generic event (curl_google.scap's mprotect)
    if names & set(et.SYSCALL_CODE_NAMES):
        ids |= _GENERIC
    return frozenset(ids)


_GENERIC = frozenset({et.PPME_GENERIC_E, et.PPME_GENERIC_X})


def _state_types() -> frozenset[int]:
    """Types the state engine must see: those with a handler, and their enter events
    (exit handlers read the enter's parameters in old captures)."""
    ids = {i for i in range(et.EVENT_COUNT) if StateEngine.has_handler(i)}
    ids |= {i - 1 for i in ids if i > 0 and et.EVENT_DIRS[i] == "<"}
    return frozenset(ids)


STATE_TYPES = _state_types()
"""Event type ids that can change threads, fds or users (never rejected early)."""
