"""Falco's eight rule priorities: the contract's `Priority`, re-exported for the engine."""

from __future__ import annotations

from lanner.contract import Priority

__all__ = ["Priority"]
