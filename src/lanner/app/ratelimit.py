"""Falco's token bucket for outputs: ``rate`` tokens a second, at most ``max_burst``."""

from __future__ import annotations

import threading
import time


class TokenBucket:
    """A token bucket that starts full; ``rate`` 0 disables throttling."""

    def __init__(self, rate: float, max_burst: int) -> None:
        self.rate = float(rate)
        self.max_burst = float(max_burst)
        self.tokens = self.max_burst
        self.last = time.monotonic()
        self._lock = threading.Lock()

    def claim(self, now: float | None = None) -> bool:
        """Take one token if there is one."""
        if self.rate <= 0:
            return True
        with self._lock:
            now = time.monotonic() if now is None else now
            self.tokens = min(self.max_burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return True
            return False
