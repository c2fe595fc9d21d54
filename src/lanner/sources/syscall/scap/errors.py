"""Errors raised while reading a capture file."""

from __future__ import annotations


class ScapError(Exception):
    """A capture file is corrupt, truncated or not a capture at all.

    ``offset`` is the byte offset in the (decompressed) stream where the problem was found.
    """

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} (at byte offset {offset})")
        self.reason = message
        self.offset = offset
