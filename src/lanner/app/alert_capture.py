"""Falco's ``capture``: an alert opens a .scap file of the syscall events from it on.

With ``capture.enabled``, a syscall alert of a rule with ``capture: true`` (or of any rule
with ``capture.mode: all_rules``) opens ``<path_prefix>_<event ts, 20 digits>_<event
number, 20 digits>.scap`` (gzip-compressed, as Falco's dumper writes it). The file starts
with the state as at that event (machine, interfaces, users, threads, fds, containers), as
libsinsp's dumper does on open, then holds the triggering event and every syscall event
after it until one of Falco's stop conditions: the event time reaches the deadline (the
alert's time plus the rule's ``capture_duration`` or ``capture.default_duration`` ms; each
later match extends it, the latest deadline wins) or the file reaches
``capture.max_file_size_mb`` (then the internal alert ``Falco internal: capture size
limit reached``). The next capture is a new file. sysdig, ``lanner dump -e`` and
``lanner run -e`` read them.

The object is the syscall pipeline's tee (``write``/``event``: it sees every event read,
after its state was applied) and the daemon's hook (``matched``/``done``: the alerts of
the event being evaluated), so that, as in Falco, an event is written after its own
matches were taken into account.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from lanner.engine.alert import Alert, internal_alert
from lanner.engine.priority import Priority
from lanner.engine.rules import Rule
from lanner.sources.syscall.containers.capture import container_event
from lanner.sources.syscall.containers.store import MetadataStore
from lanner.sources.syscall.event import Event
from lanner.sources.syscall.scap.writer import ScapWriter, host_interfaces, host_machine_info
from lanner.sources.syscall.state import StateEngine
from lanner.sources.syscall.state.records import state_records

log = logging.getLogger("lanner")

SIZE_LIMIT_RULE = "Falco internal: capture size limit reached"


@dataclass(frozen=True, slots=True)
class CaptureSettings:
    """The ``capture`` section, checked against the configuration scheme."""

    path_prefix: str = "/tmp/falco"
    all_rules: bool = False
    default_duration_ms: int = 5000
    max_file_size_mb: int = 0

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> CaptureSettings:
        """From ``cfg.section("capture")`` (every key present, as the scheme's defaults)."""
        return cls(
            path_prefix=str(section["path_prefix"]),
            all_rules=section["mode"] == "all_rules",
            default_duration_ms=int(section["default_duration"]),
            max_file_size_mb=int(section["max_file_size_mb"]),
        )


def capture_path(prefix: str, ts: int, num: int) -> str:
    """Falco's file name: ``<prefix>_<ts>_<num>.scap``, both zero-padded to 20 digits."""
    return f"{prefix}_{ts:020d}_{num:020d}.scap"


class AlertCapture:
    """Writes the capture files the alerts open (see the module's docstring)."""

    def __init__(
        self,
        settings: CaptureSettings,
        state: StateEngine,
        store: MetadataStore | None,
        *,
        internal: Callable[[Alert], None] | None = None,
        hostname: str = "",
    ) -> None:
        self.settings = settings
        self.state = state
        self.store = store
        self.internal = internal  # the size-limit internal alert goes there
        self.hostname = hostname
        self.writer: ScapWriter | None = None
        self.path = ""
        self.deadline = 0  # event time (ns) at which the open capture stops, at least
        self.pending: Event | None = None  # read, not yet written or checked
        self.files: list[str] = []  # captures written (closed), in order
        self.errors = 0  # captures that could not be opened or written

    # -- the pipeline's tee -----------------------------------------------------------
    def write(self, rec: Any) -> None:
        """A metadata record read: the state engine holds it (written at each open)."""

    def event(self, ev: Event, flags: int | None = None) -> None:
        """An event read (its state applied): the previous one is settled first."""
        if self.pending is not None:
            self._settle(self.pending)
        self.pending = ev

    # -- the daemon's hooks -----------------------------------------------------------
    def matched(
        self, ev: Any, alerts: Iterable[Alert], rule_of: Callable[[str], Rule | None]
    ) -> None:
        """The alerts of the event being evaluated: extend the deadline, open a capture
        when one of them asks for it (Falco computes the deadline for every match)."""
        start = False
        ts = int(ev.ts)
        for alert in alerts:
            rule = rule_of(alert.rule)
            duration = rule.capture_duration if rule is not None else 0
            wants = self.settings.all_rules or (rule is not None and rule.capture)
            start = start or wants
            ms = duration if duration > 0 else self.settings.default_duration_ms
            self.deadline = max(self.deadline, ts + ms * 1_000_000)
        if start and self.writer is None and isinstance(ev, Event):
            self._open(ev)

    def done(self, ev: Any) -> None:
        """The event was evaluated: write it if a capture is open, then check the stop."""
        pending = self.pending
        if pending is not None and ev is pending:
            self.pending = None
            self._settle(pending)

    def close(self) -> None:
        """End of the run: the last event, then the open capture is closed."""
        if self.pending is not None:
            ev, self.pending = self.pending, None
            self._settle(ev)
        self._close()

    # -- inside -------------------------------------------------------------------------
    def _open(self, ev: Event) -> None:
        path = capture_path(self.settings.path_prefix, int(ev.ts), int(ev.num))
        try:
            # a new file only (no symlink followed), readable by its owner: a capture
            # holds command lines and environments
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            self.errors += 1
            log.error("capture: cannot create %s: %s", path, exc)
            return
        writer = ScapWriter(os.fdopen(fd, "wb"), compress=True, own=True)
        try:
            state = self.state
            if state.machine is None:  # live: the host's, as lanner capture writes them
                writer.write(host_machine_info())
                writer.write(host_interfaces())
            for rec in state_records(state):
                writer.write(rec)
            if self.store is not None:
                for cid in self.store.known():
                    info = self.store.peek(cid)
                    if info is not None:
                        writer.event(container_event(info, int(ev.ts)))
        except Exception as exc:  # a capture that fails never stops detection
            self.errors += 1
            log.error("capture: cannot write %s: %s", path, exc)
            with contextlib.suppress(OSError):
                writer.close()
            return
        self.writer, self.path = writer, path
        log.info("capture started: %s", path)

    def _settle(self, ev: Event) -> None:
        writer = self.writer
        if writer is None:
            return
        try:
            writer.event(ev)
        except Exception as exc:  # a capture that fails never stops detection
            self.errors += 1
            log.error("capture: cannot write %s: %s (closed)", self.path, exc)
            self._close()
            return
        limit = self.settings.max_file_size_mb * 1024 * 1024
        if int(ev.ts) >= self.deadline:
            self._close()
        elif limit and writer.file_bytes >= limit:  # approximate, as Falco's check
            written = writer.file_bytes
            self._close()
            self._size_limit(written)

    def _close(self) -> None:
        writer, self.writer = self.writer, None
        self.deadline = 0
        if writer is None:
            return
        try:
            writer.close()
        except OSError as exc:
            self.errors += 1
            log.error("capture: cannot finish %s: %s", self.path, exc)
            return
        self.files.append(self.path)
        log.info("capture written: %s (%d events)", self.path, writer.events_written)

    def _size_limit(self, written: int) -> None:
        """Falco's internal alert when a capture stops at max_file_size_mb."""
        if self.internal is None:
            return
        mb = self.settings.max_file_size_mb
        message = f"{SIZE_LIMIT_RULE}. Configured limit: {mb} MB."
        fields: dict[str, Any] = {"max_file_size_mb": mb, "written_bytes": written}
        now = time.time_ns()
        alert = internal_alert(SIZE_LIMIT_RULE, Priority.INFORMATIONAL, message, fields,
                               self.hostname, now)  # fmt: skip
        self.internal(alert)
