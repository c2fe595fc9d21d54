"""Errors of the live probe."""

from __future__ import annotations


class ProbeUnavailable(RuntimeError):
    """Live capture cannot start; the message says exactly what is missing."""
