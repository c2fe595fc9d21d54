"""Lanner: runtime threat detection and response, compatible with Falco rules."""

__version__ = "0.1.0"
