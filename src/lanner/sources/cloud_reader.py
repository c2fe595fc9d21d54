"""What the sources reading a cloud service share: the state file that lets a restart go
on where reading stopped, written atomically; the back-off between failed calls; the
errors counted by kind for the source's metrics."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def load_state(
    path: str | None, read: Callable[[Any], T], error: type[ValueError], what: str
) -> T | None:
    """``read`` applied to the JSON document in ``path``; None when no path is given or no
    file is there yet (the first run). A file that cannot be read, is not JSON or is not
    what ``read`` expects is an ``error`` naming it: ``<path>: unreadable <what> state``."""
    if not path or not Path(path).exists():
        return None
    try:
        return read(json.loads(Path(path).read_text()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise error(f"{path}: unreadable {what} state: {exc!r}") from None


def save_state(path: str, doc: Any) -> None:
    """Write ``doc`` as JSON to ``path`` atomically (a crash leaves the old or the new
    state, never half of one)."""
    tmp = f"{path}.tmp"
    Path(tmp).write_text(json.dumps(doc))
    os.replace(tmp, path)


@dataclass(slots=True)
class ErrorCounts:
    """Errors by kind; the sources' stats add their own counters to it."""

    errors: dict[str, int] = field(default_factory=dict)

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


class Backoff:
    """Waits between failed calls, doubling from ``first`` up to ``longest`` seconds;
    a success starts again from ``first``."""

    def __init__(self, first: float = 1.0, longest: float = 60.0) -> None:
        self.first, self.longest = first, longest
        self.delay = first

    def wait(self, stop: threading.Event) -> None:
        """Wait the current delay (returns at once when ``stop`` is set), then double it."""
        stop.wait(self.delay)
        self.delay = min(self.delay * 2, self.longest)

    def reset(self) -> None:
        self.delay = self.first
