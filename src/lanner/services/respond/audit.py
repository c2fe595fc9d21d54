"""The audit trail: one JSON line per action taken, refused, failed or simulated."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = ("ok", "failed", "dry_run", "skipped")


@dataclass
class AuditRecord:
    """What was done, to what, because of which alert and rule, and how it went."""

    action: str
    target: str
    result: str  # one of RESULTS
    detail: str
    response_rule: str
    alert_rule: str
    alert_time: str
    dry_run: bool
    attempts: int = 0
    changes: dict[str, Any] = field(default_factory=dict)
    time: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def to_dict(self) -> dict[str, Any]:
        """The record as a JSON-ready dict."""
        return asdict(self)


class AuditLog:
    """Appends records to a JSONL file (if given) and keeps the latest in memory."""

    def __init__(self, path: str | Path | None = None, keep: int = 1000) -> None:
        self.path = Path(path) if path else None
        self.recent: deque[AuditRecord] = deque(maxlen=keep)
        self._lock = threading.Lock()
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: AuditRecord) -> None:
        """Record one action outcome; a write error is reported, never raised."""
        line = json.dumps(record.to_dict(), default=str, sort_keys=True)
        with self._lock:
            self.recent.append(record)
            if self.path is None:
                return
            try:
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write(line + "\n")
            except OSError as exc:
                import logging

                logging.getLogger(__name__).error("audit log %s: %s", self.path, exc)
