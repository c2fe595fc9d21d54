"""Which sources and event streams ``lanner run`` can use, and how ``-e`` is recognised.

Replays (``-e FILE``) are iterated directly. Live streams (``-e -`` for JSON lines on
stdin, ``--follow`` for a file being appended to, the k8s audit webhook) are producer
threads feeding a :class:`LiveFeed`, which the run loop consumes.
"""

from __future__ import annotations

import gzip
import logging
import os
import queue
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from lanner.engine.fields import SourceSpec
from lanner.sources.memory import dict_source, read_json_lines

SCAP_MAGIC = b"\x0a\x0d\x0d\x0a"
GZIP_MAGIC = b"\x1f\x8b"
JSON_SOURCES = ("syscall", "k8s_audit", "aws_cloudtrail", "json")


class InputError(Exception):
    """An input that cannot be read, with the reason."""


@dataclass(slots=True)
class Replay:
    """A file to replay: its sources and a (source, event) stream."""

    sources: list[SourceSpec]
    events: Iterator[tuple[str, Any]]


def capture_kind(path: Path) -> str:
    """``scap`` for (gzipped) capture files, ``jsonl`` for JSON lines."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
            if head[:2] == GZIP_MAGIC:
                with gzip.open(path, "rb") as gz:
                    head = gz.read(4)
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None
    return "scap" if head == SCAP_MAGIC else "jsonl"


def syscall_capture_source() -> tuple[SourceSpec, Any] | None:
    """The real syscall source and its capture reader, when the package provides them."""
    try:
        from lanner.sources.syscall import read_capture, syscall_source  # type: ignore[attr-defined]
    except ImportError:
        return None
    return syscall_source(), read_capture


def open_replay(path: str | Path) -> Replay:
    """Prepare the replay of a capture file or a JSON-lines event file."""
    p = Path(path)
    kind = capture_kind(p)
    if kind == "scap":
        found = syscall_capture_source()
        if found is None:
            raise InputError(f"{p}: reading .scap captures needs the syscall source")
        spec, read_capture = found
        return Replay([spec], (("syscall", ev) for ev in read_capture(p)))
    sources = [dict_source(name, dynamic=True) for name in JSON_SOURCES]

    def events() -> Iterator[tuple[str, Any]]:
        for obj in read_json_lines(p):
            source = (
                obj.pop("source", "syscall") if isinstance(obj.get("source"), str) else "syscall"
            )
            yield source, obj

    return Replay(sources, events())


def json_line_sources() -> list[SourceSpec]:
    """The sources of JSON-lines events: ad-hoc dicts whose ``source`` key names them."""
    return [dict_source(name, dynamic=True) for name in JSON_SOURCES]


# Falco plugin names -> the Lanner source that replaces them (json only extracts fields)
PLUGIN_SOURCES: dict[str, str | None] = {
    "k8saudit": "k8s_audit",
    "k8saudit-eks": "k8s_audit",
    "k8saudit-gke": "k8s_audit",
    "cloudtrail": "aws_cloudtrail",
    "json": None,
}


def plugin_sources(load_plugins: list[str]) -> set[str] | None:
    """The sources ``load_plugins`` enables (with syscall); None when the list is empty.

    Lanner's sources are built in, so an empty list keeps them all; a plugin name Lanner
    has no equivalent for is reported by the caller.
    """
    if not load_plugins:
        return None
    wanted = {"syscall"}
    for name in load_plugins:
        source = PLUGIN_SOURCES.get(name)
        if source:
            wanted.add(source)
    return wanted


def default_sources() -> list[SourceSpec]:
    """The sources known when no replay file decides them (for -V, -L, --list)."""
    found = syscall_capture_source()
    if found is not None:
        return [found[0]] + [dict_source(n, dynamic=True) for n in JSON_SOURCES[1:]]
    return [dict_source(name, dynamic=True) for name in JSON_SOURCES]


# -- live streams ---------------------------------------------------------------------------

log = logging.getLogger("lanner")

TICK = object()  # yielded by LiveFeed when no event arrived for a while
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


class LiveFeed:
    """A bounded queue between producer threads and the run loop.

    Line readers block when it is full (backpressure, nothing lost); ``offer`` (used by
    network receivers) drops and counts instead.
    """

    def __init__(self, capacity: int = 10000, on_drop: Callable[[str], None] | None = None) -> None:
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=capacity)
        self.on_drop = on_drop
        # per-source conversion of a decoded JSON line into that source's events
        self.adapters: dict[str, Callable[[Any], list[Any]]] = {}
        self.stopping = threading.Event()
        self._producers = 0
        self._done = 0
        self._lock = threading.Lock()

    def put(self, item: Item) -> bool:
        """Queue an event, waiting for room; False once the feed is stopping."""
        while not self.stopping.is_set():
            try:
                self.queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def put_line_event(self, item: Item) -> bool:
        """Queue a JSON-lines event, converted when its source has an adapter."""
        adapter = self.adapters.get(item[0])
        if adapter is None:
            return self.put(item)
        try:
            events = adapter(item[1])
        except ValueError as exc:
            log.warning("skipped a %s event: %s", item[0], exc)
            return True
        return all(self.put((item[0], ev)) for ev in events)

    def offer(self, item: Item) -> bool:
        """Queue an event if there is room, else count a drop."""
        try:
            self.queue.put_nowait(item)
            return True
        except queue.Full:
            if self.on_drop is not None:
                self.on_drop(item[0])
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

    def drain(self) -> dict[str, int]:
        """Remove what is still queued (after a stop): events not evaluated, by source."""
        left: dict[str, int] = {}
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return left
            left[item[0]] = left.get(item[0], 0) + 1

    def events(self, tick: float = 0.2) -> Iterator[Any]:
        """Events as they come, ``TICK`` when idle; ends when all producers are done."""
        while True:
            try:
                yield self.queue.get(timeout=tick)
                continue
            except queue.Empty:
                pass
            with self._lock:
                finished = self._done >= self._producers
            if (finished and self.queue.empty()) or self.stopping.is_set():
                return
            yield TICK


def read_stream(stream: BinaryIO, name: str = "stdin") -> Callable[[LiveFeed], None]:
    """A producer reading JSON lines from a binary stream until EOF."""

    def produce(feed: LiveFeed) -> None:
        for lineno, line in enumerate(iter(stream.readline, b""), 1):
            item = parse_event_line(line, f"{name}:{lineno}")
            if item is not None and not feed.put_line_event(item):
                return

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
        pending = b""
        lineno = 0
        try:
            while not feed.stopping.is_set():
                if fh is None:
                    try:
                        fh = open(p, "rb")  # noqa: SIM115 - held open while following
                    except FileNotFoundError:
                        feed.stopping.wait(poll)
                        continue
                    st = os.fstat(fh.fileno())
                    ident, pending, lineno = (st.st_dev, st.st_ino), b"", 0
                chunk = fh.readline()
                if chunk:
                    pending += chunk
                    if not pending.endswith(b"\n"):
                        continue
                    lineno += 1
                    item = parse_event_line(pending, f"{p}:{lineno}")
                    pending = b""
                    if item is not None and not feed.put_line_event(item):
                        return
                    continue
                try:
                    st = os.stat(p)
                    replaced = (st.st_dev, st.st_ino) != ident or st.st_size < fh.tell()
                except FileNotFoundError:
                    replaced = False  # renamed away; wait for the new file
                    if feed.stopping.wait(poll):
                        return
                    if p.exists():
                        replaced = True
                if replaced:
                    fh.close()
                    fh = None
                    continue
                feed.stopping.wait(poll)
        finally:
            if fh is not None:
                fh.close()

    return produce


def k8s_audit_live() -> tuple[SourceSpec, Callable[[Any], list[Any]]] | None:
    """The real k8s_audit source and a converter of audit JSON into its events."""
    try:
        from lanner.sources.k8s_audit.payload import parse_payload
        from lanner.sources.k8s_audit.source import k8s_audit_source
    except ImportError:
        return None

    def convert(obj: Any) -> list[Any]:
        return list(parse_payload(obj).events)

    return k8s_audit_source(), convert
