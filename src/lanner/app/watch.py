"""Polling watcher for watch_config_files: a callback when any watched file changes."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

log = logging.getLogger("lanner")

Signature = tuple[tuple[str, int, int, int], ...]


def signature(paths: Iterable[str | Path]) -> Signature:
    """(path, mtime_ns, size, inode) of each file, and of every file in a directory."""
    items: list[tuple[str, int, int, int]] = []
    for p in paths:
        path = Path(p)
        files = sorted(f for f in path.iterdir() if f.is_file()) if path.is_dir() else [path]
        for f in files:
            try:
                st = os.stat(f)
            except OSError:
                items.append((str(f), -1, -1, -1))
                continue
            items.append((str(f), st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(items)


class FileWatcher:
    """Calls ``on_change`` once a change has settled (two equal polls after a difference)."""

    def __init__(
        self,
        paths: Callable[[], list[str]],
        on_change: Callable[[], object],  # its result is ignored
        interval: float = 0.5,
    ) -> None:
        self.paths = paths
        self.on_change = on_change
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lanner-watch", daemon=True)

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        self._thread.join(5.0)

    def _run(self) -> None:
        last = signature(self.paths())
        while not self._stop.wait(self.interval):
            now = signature(self.paths())
            if now == last:
                continue
            # let an editor finish writing: wait until the files stop changing
            while not self._stop.wait(self.interval):
                again = signature(self.paths())
                if again == now:
                    break
                now = again
            last = now
            try:
                self.on_change()
            except Exception:  # a reload problem must not end the watcher
                log.exception("reload after a file change failed")
            last = signature(self.paths())
