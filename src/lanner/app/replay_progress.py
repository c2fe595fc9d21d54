"""Replays of capture files: only the events the rules need, a progress line, a rate."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from lanner.sources.syscall._native import CandidateEvents
from lanner.sources.syscall.capture import CaptureReplay
from lanner.sources.syscall.containers import default_store
from lanner.sources.syscall.containers.capture import remember_containers


class ScapReplay:
    """Iterates a capture as (source, event), skipping events no rule or state needs.

    With ``candidates`` (``candidate_fields.event_filter``), events that fail the rules'
    candidate conditions are dropped too, after their state and container updates.

    The capture's container events are always read: they fill the container metadata
    (``container.*``, ``k8s.*``) of the events that follow, as in Falco's replays.
    """

    def __init__(
        self, path: Path, event_types: set[str] | None, candidates: CandidateEvents | None = None
    ) -> None:
        wanted = None if event_types is None else {*event_types, "container"}
        self.replay = CaptureReplay(path, event_types=wanted)
        self.candidates = candidates
        self.events = 0
        self.started = time.monotonic()
        self.finished: float | None = None

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        self.started = time.monotonic()
        try:
            accepts = None if self.candidates is None else self.candidates.accepts
            for ev in remember_containers(self.replay, default_store()):
                if accepts is not None and not accepts(ev):
                    continue  # no active rule can match it (native candidate conditions)
                self.events += 1
                yield "syscall", ev
        finally:
            self.finished = time.monotonic()

    def rate_line(self, rejected: int = 0) -> str:
        """``Replayed N events (M evaluated) in T s (R events/s)``.

        N counts every event of the file; M those of the types the rules can match (the
        others are rejected from their header, or only update the state) less
        ``rejected``, those the consumer dropped by the rules' candidate conditions.
        """
        elapsed = (self.finished or time.monotonic()) - self.started
        total = max(self.replay.reader.events_read, self.events)
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
            frac = replay.replay.progress()
            width = 30
            done = int(width * (frac or 0.0))
            pct = f"{100 * frac:5.1f}%" if frac is not None else "  ?  "
            stream.write(f"\r[{'#' * done}{'.' * (width - done)}] {pct} {replay.events} events")
            stream.flush()
            time.sleep(every)
        stream.write("\r" + " " * 60 + "\r")
        stream.flush()

    threading.Thread(target=draw, name="lanner-progress", daemon=True).start()
