"""The output base: a bounded queue drained by a worker thread, spilled to disk when full.

An alert handed to an output is not lost to a full queue. The producer (the event loop)
waits at most ``max_wait`` seconds for room; if the output is still behind, the alert
and every later one go to a spill file (an unlinked temporary file) until the worker has
written them all back, in order. Only when the spill cannot take more (``spill_max_bytes``
or a failing disk) is an alert dropped, and then it is counted and logged. Replays wait
for room without a bound instead (``block``).
"""

from __future__ import annotations

import logging
import queue
import struct
import threading
import time
from typing import IO, Any, BinaryIO

from lanner.engine.priority import Priority
from lanner.records import FrozenRecord, Record

log = logging.getLogger("lanner.outputs")

_STOP = object()
_REOPEN = object()
_SPILLED = object()  # the producer started spilling: drain the spill after what is queued
_FRAME = struct.Struct("<IIIBB")  # line, rule and source lengths; priority; is_json
DEFAULT_MAX_WAIT = 1.0  # seconds the event loop waits for room before spilling
DEFAULT_SPILL_MAX_BYTES = 256 * 1024 * 1024
_LOG_EVERY = 10.0  # seconds between repeated drop/error log lines of one output


class Message(FrozenRecord):
    """One formatted alert, shared by every output."""

    __slots__ = __match_args__ = ("line", "priority", "rule", "source", "is_json")
    line: bytes  # the alert as text or JSON, without a newline
    priority: Priority
    rule: str
    source: str
    is_json: bool

    def __init__(
        self, line: bytes, priority: Priority, rule: str, source: str, is_json: bool
    ) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "line", line)
        setattr_(self, "priority", priority)
        setattr_(self, "rule", rule)
        setattr_(self, "source", source)
        setattr_(self, "is_json", is_json)


class OutputStats(Record):
    """Counters of one output; kept across reloads by the metrics registry."""

    __slots__ = __match_args__ = ("sent", "errors", "dropped", "retries", "queue_depth", "spilled")
    sent: int
    errors: int
    dropped: int
    retries: int
    queue_depth: int
    spilled: int  # alerts that went through the spill file

    def __init__(
        self,
        sent: int = 0,
        errors: int = 0,
        dropped: int = 0,
        retries: int = 0,
        queue_depth: int = 0,
        spilled: int = 0,
    ) -> None:
        self.sent = sent
        self.errors = errors
        self.dropped = dropped
        self.retries = retries
        self.queue_depth = queue_depth
        self.spilled = spilled


class Spill:
    """A FIFO of messages in an unlinked temporary file, bounded in bytes; thread-safe.

    ``active`` is true from the first :meth:`put` until :meth:`take` found it empty, so
    the producer keeps order by spilling everything while it is active.
    """

    def __init__(self, directory: str | None, max_bytes: int) -> None:
        self.directory = directory or None
        self.max_bytes = max_bytes
        self.active = False
        self.count = 0
        self.lock = threading.Lock()
        self._file: IO[bytes] | None = None
        self._read = 0
        self._write = 0

    def put(self, msg: Message) -> bool | None:
        """Append ``msg``: True when this started the spill (it was inactive), False when
        it was already active, None (nothing kept) when full or the file failed."""
        rule = msg.rule.encode("utf-8", "surrogatepass")
        source = msg.source.encode("utf-8", "surrogatepass")
        head = _FRAME.pack(len(msg.line), len(rule), len(source), int(msg.priority), msg.is_json)
        record = head + msg.line + rule + source
        with self.lock:
            if self._write - self._read + len(record) > self.max_bytes:
                return None
            try:
                if self._file is None:
                    import tempfile  # only when an output stalls: kept off start-up

                    self._file = tempfile.TemporaryFile(  # noqa: SIM115 (kept open)
                        dir=self.directory, prefix="lanner-spill-"
                    )
                self._file.seek(self._write)
                self._file.write(record)
            except OSError as exc:
                log.error("output spill file: %s", exc)
                return None
            self._write += len(record)
            self.count += 1
            started, self.active = not self.active, True
            return started

    def take(self, most: int = 256) -> list[Message]:
        """Up to ``most`` messages, oldest first; [] (and inactive) once drained."""
        with self.lock:
            if self._file is None or self.count == 0:
                self.active = False
                self._reset()
                return []
            out: list[Message] = []
            self._file.flush()
            self._file.seek(self._read)
            while self.count and len(out) < most:
                n_line, n_rule, n_source, prio, is_json = _FRAME.unpack(
                    self._file.read(_FRAME.size)
                )
                data = self._file.read(n_line + n_rule + n_source)
                rule = data[n_line : n_line + n_rule].decode("utf-8", "surrogatepass")
                source = data[n_line + n_rule :].decode("utf-8", "surrogatepass")
                out.append(Message(data[:n_line], Priority(prio), rule, source, bool(is_json)))
                self._read += _FRAME.size + len(data)
                self.count -= 1
            return out

    def _reset(self) -> None:
        self._read = self._write = 0
        if self._file is not None:
            try:
                self._file.truncate(0)
            except OSError:
                self._file.close()
                self._file = None

    def close(self) -> int:
        """Drop the file; how many messages it still held."""
        with self.lock:
            left, self.count = self.count, 0
            self.active = False
            if self._file is not None:
                self._file.close()
                self._file = None
            self._read = self._write = 0
            return left


class Output:
    """Base of every output: ``send`` waits at most ``max_wait`` s, then spills.

    The queue is a C ``SimpleQueue`` (a fraction of a microsecond per alert) bounded by
    counting: ``send`` is called by one thread at a time (the daemon serialises emits),
    the worker alone counts what it took. Subclasses implement :meth:`write` and may
    override :meth:`flush`, :meth:`reopen` and :meth:`shutdown`. When ``buffered`` is
    false each message is flushed on its own, otherwise whenever the queue runs empty.
    """

    name = "output"
    config_key = ""  # the configuration section whose ``enabled`` turns it on

    @classmethod
    def from_config(cls, section: dict[str, Any], stdout: BinaryIO | None, **common: Any) -> Output:
        """The output its configuration ``section`` describes; ``common`` are the queue
        settings every output takes (:meth:`__init__`), ``stdout`` the process's output."""
        raise NotImplementedError(f"{cls.__name__} cannot be built from configuration")

    def __init__(
        self,
        *,
        capacity: int = 10000,
        buffered: bool = False,
        block: bool = False,
        stats: OutputStats | None = None,
        max_wait: float = DEFAULT_MAX_WAIT,
        spill_dir: str | None = None,
        spill_max_bytes: int = DEFAULT_SPILL_MAX_BYTES,
    ) -> None:
        self.queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.capacity = max(capacity, 0)  # 0: unbounded
        self.buffered = buffered
        self.block = block
        self.max_wait = max(max_wait, 0.0)
        self.spill = Spill(spill_dir, spill_max_bytes)
        self._last_spill_log = 0.0
        self._writing = False  # the worker is inside write()
        self.write_started = 0.0  # monotonic time the current write() began; 0: none
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
        """Queue a message. When the queue is full wait up to ``max_wait`` s (without a
        bound with ``block``), then spill; False when it was dropped (counted, logged)."""
        if self.spill.active:  # keep order: while anything is spilled, spill
            return self._spill(msg)
        if (
            self.capacity
            and self._put_n - self._got_n >= self.capacity
            and not self._wait_for_room(None if self.block else self.max_wait)
        ):
            return self._spill(msg)
        self._put_n += 1
        self.queue.put(msg)
        return True

    def _full(self) -> bool:
        return self._put_n - self._got_n >= self.capacity

    def _wait_for_room(self, timeout: float | None) -> bool:
        """Wait until the queue has room: False after ``timeout`` s or when stopping."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._full() and self._thread is not None and not self.stopping.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            self._want_room = True
            self._room.wait(0.05)  # the timeout covers a wake-up that raced the flag
            self._room.clear()
        self._want_room = False
        return not self._full()

    def _spill(self, msg: Message) -> bool:
        started = self.spill.put(msg)
        if started is None:
            self._drop("the spill file is full or failing")
            return False
        self.stats.spilled += 1
        if started:
            self.queue.put(_SPILLED)  # the worker drains the spill after what is queued
            now = time.monotonic()
            if now - self._last_spill_log >= _LOG_EVERY:
                log.warning(
                    "%s output: queue full (%d) for %.1fs, spilling alerts to disk "
                    "(%d spilled so far)",
                    self.name,
                    self.capacity,
                    self.max_wait,
                    self.stats.spilled,
                )
                self._last_spill_log = now
        return True

    def _drop(self, why: str = "queue full") -> None:
        self.stats.dropped += 1
        now = time.monotonic()
        if now - self._last_drop_log >= _LOG_EVERY or self.stats.dropped == 1:
            log.error(
                "%s output: %s, alert LOST (%d alert(s) lost so far)",
                self.name,
                why,
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
        dropped = self.stats.dropped
        self.queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.stopping.set()
            self._thread.join(1.0)
        self.stats.dropped += max(0, self._put_n - self._got_n) + self.spill.close()
        if self._thread.is_alive() and self._writing:  # a write that never returned
            self._writing = False
            self.stats.dropped += 1
        if self.stats.dropped > dropped:
            log.error("%s output: stopped with %d alert(s) undelivered, LOST",
                      self.name, self.stats.dropped - dropped)  # fmt: skip
        self._thread = None

    @property
    def depth(self) -> int:
        """Messages waiting in the queue and the spill."""
        return max(0, self._put_n - self._got_n) + self.spill.count

    # -- worker side ---------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is _STOP:
                self._drain_spill()
                break
            if item is _REOPEN:
                self._guard(self.reopen)
                continue
            if item is _SPILLED:
                self._drain_spill()
                continue
            self._got_n += 1
            if self._want_room:
                self._room.set()
            self._deliver(item)
            if not self.buffered or self.queue.empty():
                self._guard(self.flush)
        self._guard(self.flush)
        self._guard(self.shutdown)

    def _deliver(self, item: Message) -> None:
        self._writing = True
        self.write_started = time.monotonic()
        try:
            self.write(item)
            if self._writing:  # else close() gave up on it and counted it lost
                self.stats.sent += 1
        except Exception as exc:
            self.stats.errors += 1
            self._log_error(exc)
        self.write_started = 0.0
        self._writing = False

    def _drain_spill(self) -> None:
        """Write back what was spilled, oldest first, until the spill is empty."""
        while not self.stopping.is_set():
            try:
                batch = self.spill.take()
            except Exception as exc:  # a corrupt or vanished spill file
                lost = self.spill.close()
                self.stats.dropped += lost
                log.error("%s output: spill file unreadable (%s): %d alert(s) LOST",
                          self.name, exc, lost)  # fmt: skip
                return
            if not batch:
                return
            for item in batch:
                if self.stopping.is_set():
                    self.stats.dropped += 1  # counted with what close() finds left
                    continue
                self._deliver(item)
                if not self.buffered:
                    self._guard(self.flush)
            self._guard(self.flush)

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
