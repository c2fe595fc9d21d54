"""The ``syscall`` event source: .scap capture files, the thread/fd state engine, fields.

``read_capture(path)`` yields events with state applied; ``syscall_source()`` describes
their fields to the rule engine.
"""

from __future__ import annotations

from .capture import read_capture
from .event import Event
from .source import syscall_source

__all__ = ["Event", "read_capture", "syscall_source"]
