"""Replays of capture files: the syscall pipeline over the file, a progress line, a rate."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from lanner.sources.syscall._native import CandidateEvents
from lanner.sources.syscall.containers.store import MetadataStore
from lanner.sources.syscall.pipeline import CaptureFile, SyscallPipeline
from lanner.sources.syscall.state import StateEngine


class ScapReplay:
    """Iterates a capture as (source, event), skipping events no rule or state needs.

    With ``candidates`` (``candidate_fields.event_filter``, or a callable returning the
    current one or None), events that fail the rules' candidate conditions are dropped
    too, in the native walk, after their state (container events are always handed out).

    The capture's container events are always read: the pipeline puts their metadata in
    ``store`` for the ``container.*`` / ``k8s.*`` fields of the events that follow, as in
    Falco's replays.

    ``tee`` (Falco's alert-triggered captures, app/alert_capture.py) gets every event of
    the file, so the walk hands every event to Python then (slower).
    """

    def __init__(
        self,
        path: Path,
        event_types: Iterable[str] | None,
        candidates: CandidateEvents | Callable[[], CandidateEvents | None] | None = None,
        store: MetadataStore | None = None,
        state: StateEngine | None = None,
        tee: Any = None,
        drops: Any = None,
    ) -> None:
        # the drop events too: the drop monitor (``drops``, a ``drops.ReplayDrops``) reads them
        wanted = None if event_types is None else {*event_types, "container", "drop"}
        self.drops = drops
        self.path = path
        current: Callable[[], CandidateEvents | None] | None = None
        if isinstance(candidates, CandidateEvents):
            fixed = candidates
            current = lambda: fixed  # noqa: E731
        elif candidates is not None:
            current = candidates
        self.pipeline = SyscallPipeline(
            CaptureFile(path), store, event_types=wanted, state=state, candidates=current, tee=tee
        )
        self.started = time.monotonic()
        self.finished: float | None = None

    @property
    def dropped(self) -> int:
        """Events of the wanted types the candidate conditions dropped so far."""
        return self.pipeline.events_dropped

    @property
    def events(self) -> int:
        """Events handed to the rules so far."""
        return self.pipeline.events_out

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        self.started = time.monotonic()
        try:
            drops = self.drops
            for ev in self.pipeline:
                if drops is not None:
                    drops.see(ev)
                yield "syscall", ev
        finally:
            self.finished = time.monotonic()

    def rate_line(self, rejected: int = 0) -> str:
        """``Replayed N events (M evaluated) in T s (R events/s)``.

        N counts every event of the file read (up to the damage of a corrupt one); M those
        of the types the rules can match (the others are rejected from their header, or
        only update the state) less ``rejected``, those the consumer dropped by the
        rules' candidate conditions.
        """
        elapsed = (self.finished or time.monotonic()) - self.started
        total = max(self.pipeline.events_read, self.events)
        rate = total / elapsed if elapsed > 0 else 0.0
        return (
            f"Replayed {total:,} events ({self.events - rejected:,} evaluated by the rules) in "
            f"{elapsed:.2f} s ({rate:,.0f} events/s)"
        )


def show_progress(replay: ScapReplay, stream: TextIO = sys.stderr, every: float = 0.5) -> None:
    """Draw a progress line on a terminal until the replay ends (a daemon thread)."""
    if not stream.isatty():
        return

    def draw() -> None:
        while replay.finished is None:
            frac = replay.pipeline.progress()
            width = 30
            done = int(width * (frac or 0.0))
            pct = f"{100 * frac:5.1f}%" if frac is not None else "  ?  "
            stream.write(f"\r[{'#' * done}{'.' * (width - done)}] {pct} {replay.events} events")
            stream.flush()
            time.sleep(every)
        stream.write("\r" + " " * 60 + "\r")
        stream.flush()

    threading.Thread(target=draw, name="lanner-progress", daemon=True).start()
