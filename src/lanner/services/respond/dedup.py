"""Drop repeats of the same alert within a time window."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from lanner.services.respond.alert import Alert

DEFAULT_KEY_FIELDS: tuple[str, ...] = ("k8s.ns.name", "k8s.pod.name", "container.id")


class Deduplicator:
    """Alerts are "the same" when rule, hostname and the key fields agree; the first one
    opens a window of `window` seconds during which the others are dropped."""

    def __init__(
        self,
        window: float,
        key_fields: Sequence[str] = DEFAULT_KEY_FIELDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = window
        self.key_fields = tuple(key_fields)
        self._clock = clock
        self._seen: dict[tuple[object, ...], float] = {}
        self._lock = threading.Lock()

    def key(self, alert: Alert) -> tuple[object, ...]:
        """The identity of an alert for de-duplication."""
        fields = tuple(str(alert.get(f)) for f in self.key_fields)
        return (alert.rule, alert.hostname, *fields)

    def is_duplicate(self, alert: Alert, open_window: bool = True) -> bool:
        """True when an equal alert opened a window that is still open; otherwise the alert
        opens one, unless `open_window` is false."""
        if self.window <= 0:
            return False
        now = self._clock()
        key = self.key(alert)
        with self._lock:
            if len(self._seen) > 10_000:
                self._expire(now)
            opened = self._seen.get(key)
            if opened is not None and now - opened < self.window:
                return True
            if open_window:
                self._seen[key] = now
            return False

    def _expire(self, now: float) -> None:
        for key in [k for k, t in self._seen.items() if now - t >= self.window]:
            del self._seen[key]
