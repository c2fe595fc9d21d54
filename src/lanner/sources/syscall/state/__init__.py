"""State rebuilt from the event stream: threads, fds, users (libsinsp's tables)."""

from __future__ import annotations

from .fds import FdInfo, FdTable
from .parser import StateEngine
from .threads import ThreadInfo, ThreadTable
from .users import Group, User, UserTable

__all__ = [
    "FdInfo",
    "FdTable",
    "Group",
    "StateEngine",
    "ThreadInfo",
    "ThreadTable",
    "User",
    "UserTable",
]
