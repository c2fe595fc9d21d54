"""Reading .scap capture files (plain or gzip), as written by sysdig and Falco."""

from __future__ import annotations

from .reader import (
    FdList,
    InterfaceList,
    ProcList,
    Record,
    ScapReader,
    SectionHeader,
    UserList,
    read_records,
)

__all__ = [
    "FdList",
    "InterfaceList",
    "ProcList",
    "Record",
    "ScapReader",
    "SectionHeader",
    "UserList",
    "read_records",
]
