"""Replay a capture file: read events and apply them to the state engine, in order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .event import Event
from .scap import ScapReader
from .state import StateEngine


def read_capture(
    source: str | Path | BinaryIO, state: StateEngine | None = None
) -> Iterator[Event]:
    """Yield the events of a capture with state applied (``event.thread``, ``event.fdinfo``).

    Metadata blocks (process, fd, user lists) feed ``state``; pass your own engine to look
    at the tables afterwards. Raises :class:`~lanner.sources.syscall.scap.ScapError` on a
    damaged file after yielding every event before the damage.
    """
    engine = state if state is not None else StateEngine()
    process = engine.process
    load = engine.load_record
    for rec in ScapReader(source):
        if type(rec) is Event:
            process(rec)
            yield rec
        else:
            load(rec)
