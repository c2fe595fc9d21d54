"""The output base: a bounded queue drained by a worker thread; losses are counted."""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

from lanner.engine.priority import Priority

log = logging.getLogger("lanner.outputs")

_STOP = object()
_REOPEN = object()
_LOG_EVERY = 10.0  # seconds between repeated drop/error log lines of one output


@dataclass(frozen=True, slots=True)
class Message:
    """One formatted alert, shared by every output."""

    line: bytes  # the alert as text or JSON, without a newline
    priority: Priority
    rule: str
    source: str
    is_json: bool


@dataclass(slots=True)
class OutputStats:
    """Counters of one output; kept across reloads by the metrics registry."""

    sent: int = 0
    errors: int = 0
    dropped: int = 0
    retries: int = 0
    queue_depth: int = 0


class Output:
    """Base of every output: ``send`` never blocks the caller unless asked to.

    The queue is a C ``SimpleQueue`` (a fraction of a microsecond per alert) bounded by
    counting: ``send`` is called by one thread at a time (the daemon serialises emits),
    the worker alone counts what it took. Subclasses implement :meth:`write` and may
    override :meth:`flush`, :meth:`reopen` and :meth:`shutdown`. When ``buffered`` is
    false each message is flushed on its own, otherwise whenever the queue runs empty.
    """

    name = "output"

    def __init__(
        self,
        *,
        capacity: int = 10000,
        buffered: bool = False,
        block: bool = False,
        stats: OutputStats | None = None,
    ) -> None:
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.capacity = max(capacity, 0)  # 0: unbounded
        self.buffered = buffered
        self.block = block
        self.stats = stats if stats is not None else OutputStats()
        self._put_n = 0  # messages queued (producer side)
        self._got_n = 0  # messages taken (worker side)
        self._room = threading.Event()
        self._want_room = False
        self._thread: threading.Thread | None = None
        self._last_drop_log = 0.0
        self._last_error_log = 0.0
        self.stopping = threading.Event()

    # -- producer side -------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread."""
        self._thread = threading.Thread(target=self._run, name=f"lanner-{self.name}", daemon=True)
        self._thread.start()

    def send(self, msg: Message) -> bool:
        """Queue a message; when the queue is full it is dropped and counted (or, with
        ``block``, waited for)."""
        if self.capacity and self._put_n - self._got_n >= self.capacity:
            if not self.block:
                self._drop()
                return False
            self._wait_for_room()
        self._put_n += 1
        self.queue.put(msg)
        return True

    def _wait_for_room(self) -> None:
        while self._put_n - self._got_n >= self.capacity and self._thread is not None:
            self._want_room = True
            self._room.wait(0.05)  # the timeout covers a wake-up that raced the flag
            self._room.clear()
        self._want_room = False

    def _drop(self) -> None:
        self.stats.dropped += 1
        now = time.monotonic()
        if now - self._last_drop_log >= _LOG_EVERY:
            log.warning(
                "%s output: queue full (%d), %d alert(s) dropped so far",
                self.name,
                self.capacity,
                self.stats.dropped,
            )
            self._last_drop_log = now

    def request_reopen(self) -> None:
        """Ask the worker to reopen its file or restart its program (SIGUSR1)."""
        self.queue.put(_REOPEN)

    def close(self, timeout: float = 10.0) -> None:
        """Flush what is queued, then stop the worker (waiting at most ``timeout``)."""
        if self._thread is None:
            return
        self.queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.stopping.set()
            left = self.depth
            log.error("%s output: stopped with %d alert(s) still queued", self.name, left)
            self.stats.dropped += left
        self._thread = None

    @property
    def depth(self) -> int:
        """Messages waiting in the queue."""
        return max(0, self._put_n - self._got_n)

    # -- worker side ---------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is _STOP:
                break
            if item is _REOPEN:
                self._guard(self.reopen)
                continue
            self._got_n += 1
            if self._want_room:
                self._room.set()
            try:
                self.write(item)
                self.stats.sent += 1
            except Exception as exc:
                self.stats.errors += 1
                self._log_error(exc)
            if not self.buffered or self.queue.empty():
                self._guard(self.flush)
        self._guard(self.flush)
        self._guard(self.shutdown)

    def _guard(self, fn: Any) -> None:
        try:
            fn()
        except Exception as exc:
            self.stats.errors += 1
            self._log_error(exc)

    def _log_error(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_error_log >= _LOG_EVERY or self.stats.errors == 1:
            log.error("%s output: %s (%d error(s) so far)", self.name, exc, self.stats.errors)
            self._last_error_log = now

    # -- hooks -----------------------------------------------------------------------------

    def write(self, msg: Message) -> None:
        """Deliver one message (raise to count an error)."""
        raise NotImplementedError

    def flush(self) -> None:
        """Push buffered data out."""

    def reopen(self) -> None:
        """Reopen files, restart programs."""

    def shutdown(self) -> None:
        """Release resources after the last message."""
