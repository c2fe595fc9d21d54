"""Replay a capture file: its events with state applied, in order (see ``pipeline.py``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from .containers.store import MetadataStore
from .event import Event
from .pipeline import STATE_TYPES, CaptureFile, SyscallPipeline, type_ids
from .state import StateEngine

__all__ = ["STATE_TYPES", "read_capture", "type_ids"]


def read_capture(
    source: str | Path | BinaryIO,
    state: StateEngine | None = None,
    event_types: Iterable[str] | None = None,
    store: MetadataStore | None = None,
) -> Iterator[Event]:
    """Yield the events of a capture with state applied (``event.thread``, ``event.fdinfo``).

    Metadata blocks (process, fd, user lists) feed ``state``; pass your own engine to look
    at the tables afterwards. With ``event_types`` (evt.type names the loaded rules can
    match), only those events are yielded, and events that neither match nor change state
    are rejected from their header without being built. The capture's container events
    fill ``store`` when given. Raises :class:`~lanner.exceptions.ScapError` on a
    damaged file after yielding every event before the damage. For counters and progress,
    use :class:`~lanner.sources.syscall.pipeline.SyscallPipeline` itself.
    """
    pipeline = SyscallPipeline(CaptureFile(source), store, state=state, event_types=event_types)
    return iter(pipeline)
