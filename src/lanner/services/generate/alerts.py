"""Where ``lanner generate test`` reads the alerts of a running ``lanner run``: its JSON file
output (followed like ``tail -F``), or its http_output (a local receiver is opened)."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson


class AlertFeed:
    """Alerts received so far (decoded JSON objects), appended by a background reader."""

    def __init__(self) -> None:
        self.alerts: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        self.bad_lines = 0

    def push(self, raw: bytes) -> None:
        """Add one alert from its JSON text; non-JSON lines are counted and skipped."""
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self.bad_lines += 1
            return
        if isinstance(doc, dict):
            with self.cond:
                self.alerts.append(doc)
                self.cond.notify_all()

    def mark(self) -> int:
        """A position: alerts from here on are newer."""
        with self.cond:
            return len(self.alerts)

    def wait_for(
        self, rule: str, marker: str, timeout: float, start: int = 0
    ) -> dict[str, Any] | None:
        """The first alert from ``start`` on of ``rule`` whose output (or output fields)
        contains ``marker``; None after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        pos = start
        with self.cond:
            while True:
                while pos < len(self.alerts):
                    alert = self.alerts[pos]
                    pos += 1
                    if alert_matches(alert, rule, marker):
                        return alert
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def close(self) -> None:
        """Stop reading."""


def alert_matches(alert: dict[str, Any], rule: str, marker: str) -> bool:
    """True when ``alert`` is of ``rule`` and mentions ``marker``."""
    if alert.get("rule") != rule:
        return False
    if marker in str(alert.get("output", "")):
        return True
    fields = alert.get("output_fields")
    return isinstance(fields, dict) and any(marker in str(v) for v in fields.values())


class FileAlerts(AlertFeed):
    """Follows a file of JSON alerts from its current end (rotation and truncation too)."""

    def __init__(self, path: str | Path, poll: float = 0.05, from_start: bool = False) -> None:
        super().__init__()
        self.path = Path(path)
        self.poll = poll
        self._stop = threading.Event()
        self._offset = 0 if from_start else self._size()
        self._ident = self._stat_id()
        self._thread = threading.Thread(target=self._run, name="generate-alerts", daemon=True)
        self._thread.start()

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def _stat_id(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_dev, st.st_ino)

    def _run(self) -> None:
        pending = b""
        while not self._stop.is_set():
            ident = self._stat_id()
            if ident != self._ident:  # created, replaced or rotated: read the new file
                self._ident, self._offset, pending = ident, 0, b""
            try:
                with open(self.path, "rb") as fh:
                    if os.fstat(fh.fileno()).st_size < self._offset:
                        self._offset, pending = 0, b""
                    fh.seek(self._offset)
                    data = fh.read()
                    self._offset = fh.tell()
            except FileNotFoundError:
                data = b""
            if data:
                pending += data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        self.push(line)
                continue
            self._stop.wait(self.poll)

    def close(self) -> None:
        """Stop following."""
        self._stop.set()
        self._thread.join(2)


class HttpAlerts(AlertFeed):
    """Receives alerts POSTed by ``http_output`` (one JSON object per request) on a local
    port; ``url`` is what lanner run's ``http_output.url`` must be."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__()
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                for line in body.splitlines():
                    if line.strip():
                        feed.push(line)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port: int = self.server.server_address[1]
        self.url = f"http://{host}:{self.port}/"
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="generate-http", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop the receiver."""
        self.server.shutdown()
        self.server.server_close()


def open_alerts(spec: str) -> AlertFeed:
    """``http://HOST:PORT/...`` opens a receiver on that address; anything else is a file."""
    if spec.startswith(("http://", "https://")):
        parts = urlsplit(spec)
        if parts.scheme == "https":
            raise ValueError("the alert receiver speaks plain HTTP: use an http:// URL")
        return HttpAlerts(parts.hostname or "127.0.0.1", parts.port or 80)
    return FileAlerts(spec)


@contextlib.contextmanager
def alerts_from(spec: str) -> Iterator[AlertFeed]:
    """:func:`open_alerts` as a context manager."""
    feed = open_alerts(spec)
    try:
        yield feed
    finally:
        feed.close()
