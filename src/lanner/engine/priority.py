"""Falco's eight rule priorities, most severe first."""

from __future__ import annotations

import enum


class Priority(enum.IntEnum):
    """A rule priority; a lower value is more severe, as in Falco."""

    EMERGENCY = 0
    ALERT = 1
    CRITICAL = 2
    ERROR = 3
    WARNING = 4
    NOTICE = 5
    INFORMATIONAL = 6
    DEBUG = 7

    @property
    def label(self) -> str:
        """The spelling Falco prints in alerts: ``Warning``, ``Informational``..."""
        return self.name.capitalize()

    @property
    def short_label(self) -> str:
        """The short spelling of Falco's summary: ``Info`` for Informational."""
        return "Info" if self is Priority.INFORMATIONAL else self.label

    @classmethod
    def parse(cls, text: str) -> Priority:
        """Read a priority name in any case; ``info`` is accepted for Informational."""
        key = str(text).strip().upper()
        if key == "INFO":
            return cls.INFORMATIONAL
        try:
            return cls[key]
        except KeyError:
            raise ValueError(f"Invalid priority '{text}'") from None
