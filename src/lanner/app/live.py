"""Live event streams: producer threads feeding the run loop through a bounded queue.

``-e -`` reads JSON lines on stdin, ``-e FILE --follow`` follows a file as ``tail -F``,
and the k8s audit webhook offers what it receives. Producers hand over batches (what one
read returned, or one webhook request), so the queue costs little per event.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from lanner.sources.syscall.pipeline import RingBatch

log = logging.getLogger("lanner")

TICK = object()  # yielded by LiveFeed.events when no event arrived for a while
CHUNK = 1 << 16
Item = tuple[str, Any]


def parse_event_line(line: bytes, where: str) -> Item | None:
    """One JSON-lines event as (source, event); None (and a log line) when unusable."""
    if not line.strip():
        return None
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        log.warning("%s: skipped, not JSON: %s", where, exc)
        return None
    if not isinstance(obj, dict):
        log.warning("%s: skipped, not a JSON object", where)
        return None
    source = obj.pop("source", "syscall") if isinstance(obj.get("source"), str) else "syscall"
    return source, obj


class LineDecoder:
    """Turns byte chunks into events, keeping a partial last line for the next chunk."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.pending = b""
        self.lineno = 0

    def feed(self, chunk: bytes) -> list[Item]:
        """The events of the complete lines in ``pending + chunk``."""
        lines = (self.pending + chunk).split(b"\n")
        self.pending = lines.pop()
        return self._parse(lines)

    def finish(self) -> list[Item]:
        """The event of a last line without a newline, if any."""
        rest, self.pending = self.pending, b""
        return self._parse([rest]) if rest.strip() else []

    def _parse(self, lines: list[bytes]) -> list[Item]:
        items = []
        for line in lines:
            self.lineno += 1
            item = parse_event_line(line, f"{self.name}:{self.lineno}")
            if item is not None:
                items.append(item)
        return items


class LiveFeed:
    """A bounded queue of event batches between producer threads and the run loop.

    Line readers wait when it is full (backpressure: nothing is lost, the writer of the
    pipe or file waits); ``offer`` (network receivers) drops and counts instead.
    """

    def __init__(
        self, capacity: int = 64, on_drop: Callable[[str, int], None] | None = None
    ) -> None:
        self.queue: queue.Queue[list[Item]] = queue.Queue(maxsize=max(capacity, 1))
        self.on_drop = on_drop
        # per-source conversion of a decoded JSON line into that source's events
        self.adapters: dict[str, Callable[[Any], list[Any]]] = {}
        self.stopping = threading.Event()
        self.received: dict[str, int] = {}  # events queued, by source
        self.failed: list[str] = []  # inputs that stopped on an error
        self._producers = 0
        self._done = 0
        self._lock = threading.Lock()

    def put(self, batch: list[Item]) -> bool:
        """Queue a batch, waiting for room; False once the feed is stopping."""
        if not batch:
            return not self.stopping.is_set()
        while not self.stopping.is_set():
            try:
                self.queue.put(batch, timeout=0.2)
            except queue.Full:
                continue
            self._count(batch)
            return True
        return False

    def _count(self, batch: list[Item]) -> None:
        with self._lock:
            for source, n in _by_source(batch).items():
                self.received[source] = self.received.get(source, 0) + n

    def put_lines(self, items: list[Item]) -> bool:
        """Queue decoded JSON-lines events, converted when their source has an adapter."""
        if self.adapters:
            converted: list[Item] = []
            for source, obj in items:
                adapter = self.adapters.get(source)
                if adapter is None:
                    converted.append((source, obj))
                    continue
                try:
                    converted.extend((source, ev) for ev in adapter(obj))
                except ValueError as exc:
                    log.warning("skipped a %s event: %s", source, exc)
            items = converted
        return self.put(items)

    def offer(self, batch: list[Item]) -> bool:
        """Queue a batch if there is room, else count its events as dropped."""
        try:
            self.queue.put_nowait(batch)
            self._count(batch)
            return True
        except queue.Full:
            if self.on_drop is not None:
                for source, n in _by_source(batch).items():
                    self.on_drop(source, n)
            return False

    def add_producer(self, target: Callable[[LiveFeed], None], name: str) -> None:
        """Run ``target(feed)`` on a thread; the feed ends when every producer returned."""
        with self._lock:
            self._producers += 1

        def run() -> None:
            try:
                target(self)
            except Exception:
                log.exception("input %s failed", name)
                with self._lock:
                    self.failed.append(name)
            finally:
                with self._lock:
                    self._done += 1

        threading.Thread(target=run, name=f"lanner-in-{name}", daemon=True).start()

    def hold(self) -> None:
        """Keep the feed open until :meth:`stop` (for receivers such as the webhook)."""
        with self._lock:
            self._producers += 1

    def stop(self) -> None:
        """Make producers return and the consumer finish."""
        self.stopping.set()

    def events(self, tick: float = 0.2) -> Iterator[Any]:
        """Items as they come, ``TICK`` when idle; ends when all producers are done.
        Syscall batches stay whole: ``SyscallPipeline.merge`` expands them."""
        get = self.queue.get
        while True:
            try:
                batch = get(timeout=tick)
            except queue.Empty:
                with self._lock:
                    finished = self._done >= self._producers
                if (finished and self.queue.empty()) or self.stopping.is_set():
                    return
                yield TICK
                continue
            yield from batch


def _by_source(batch: list[Item]) -> dict[str, int]:
    """Events per source; a RingBatch payload holds many (the syscall ring's records)."""
    counts: dict[str, int] = {}
    for source, payload in batch:
        counts[source] = counts.get(source, 0) + (
            payload.records if type(payload) is RingBatch else 1
        )
    return counts


def read_stream(stream: BinaryIO, name: str = "stdin") -> Callable[[LiveFeed], None]:
    """A producer reading JSON lines from a binary stream until EOF."""

    def produce(feed: LiveFeed) -> None:
        decoder = LineDecoder(name)
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):
            read = getattr(stream, "read1", None) or stream.read
        else:
            # raw reads: a thread blocked here holds no lock of sys.stdin's buffer, which
            # the interpreter would otherwise wait for (and abort on) when Lanner exits
            def read(size: int) -> bytes:
                return os.read(fd, size)

        while True:
            chunk = read(CHUNK)  # what is available, up to CHUNK: low latency, batched
            if not chunk:
                break
            if not feed.put_lines(decoder.feed(chunk)):
                return
        feed.put_lines(decoder.finish())

    return produce


def stdin_producer() -> Callable[[LiveFeed], None]:
    """JSON lines on standard input (``-e -``)."""
    return read_stream(sys.stdin.buffer, "stdin")


def follow_file(path: str | Path, poll: float = 0.1) -> Callable[[LiveFeed], None]:
    """A producer like ``tail -F -n +1``: reads the file, then what is appended to it,
    reopening it from the start when it is replaced (rotation) or truncated."""
    p = Path(path)

    def produce(feed: LiveFeed) -> None:
        fh = None
        ident: tuple[int, int] | None = None
        decoder = LineDecoder(str(p))
        try:
            while not feed.stopping.is_set():
                if fh is None:
                    try:
                        fh = open(p, "rb")  # noqa: SIM115 - held open while following
                    except FileNotFoundError:
                        feed.stopping.wait(poll)
                        continue
                    st = os.fstat(fh.fileno())
                    ident, decoder = (st.st_dev, st.st_ino), LineDecoder(str(p))
                chunk = fh.read(CHUNK)
                if chunk:
                    if not feed.put_lines(decoder.feed(chunk)):
                        return
                    continue
                try:
                    st = os.stat(p)
                    replaced = (st.st_dev, st.st_ino) != ident or st.st_size < fh.tell()
                except FileNotFoundError:
                    replaced = False  # renamed away; wait for the new file
                    if feed.stopping.wait(poll):
                        return
                    replaced = p.exists()
                if replaced:
                    feed.put_lines(decoder.finish())  # the old file's unterminated line
                    fh.close()
                    fh = None
                    continue
                feed.stopping.wait(poll)
        finally:
            if fh is not None:
                fh.close()

    return produce


def syscall_producer(pipeline: Any, on_drops: Callable[[int], None]) -> Callable[[LiveFeed], None]:
    """Events of the running host from the eBPF probe, through a ``SyscallPipeline`` over
    a ``LiveCapture`` (not yet started).

    This thread starts the pipeline (the probe, then the /proc snapshot into the state)
    and queues the ring's records as taken, ``("syscall", RingBatch)``: the run loop
    walks them natively, applying the state to each event right before evaluating it
    (``pipeline.merge``). When the engine falls behind, this producer waits on the feed
    and the kernel ring fills: the probe counts what it then loses, reported through
    ``on_drops`` (read at most twice a second: a map lookup per CPU).
    """

    def produce(feed: LiveFeed) -> None:
        with pipeline:
            log.info("syscall capture started")
            next_drops = 0.0
            while not feed.stopping.is_set():
                batch = pipeline.read(0.25)
                if batch is not None and not feed.put([("syscall", batch)]):
                    break
                now = time.monotonic()
                if now >= next_drops:
                    next_drops = now + 0.5
                    on_drops(pipeline.drops)
            on_drops(pipeline.drops)

    return produce
