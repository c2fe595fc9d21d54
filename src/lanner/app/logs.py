"""Lanner's own logs (not alerts): log_level, log_stderr, log_syslog, as Falco."""

from __future__ import annotations

import logging
import os
import sys
import time

from lanner.app.config import Config

LEVELS = {
    "emergency": logging.CRITICAL,
    "alert": logging.CRITICAL,
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "notice": logging.INFO,
    "info": logging.INFO,
    "debug": logging.DEBUG,
}


class _FalcoFormatter(logging.Formatter):
    """``Wed Nov 25 09:05:40 2026: message`` (ISO 8601 with time_format_iso_8601)."""

    def __init__(self, iso8601: bool) -> None:
        super().__init__()
        self.iso8601 = iso8601

    def format(self, record: logging.LogRecord) -> str:
        if self.iso8601:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(record.created))
        else:
            stamp = time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(record.created))
        text = f"{stamp}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def setup_logging(cfg: Config) -> logging.Logger:
    """Configure the ``lanner`` logger from the configuration (idempotent)."""
    logger = logging.getLogger("lanner")
    for handler in list(logger.handlers):
        if getattr(handler, "_lanner", False):
            logger.removeHandler(handler)
            handler.close()
    logger.setLevel(LEVELS.get(str(cfg.get("log_level", "info")), logging.INFO))
    logger.propagate = False
    iso = cfg.boolean("time_format_iso_8601")
    if cfg.boolean("log_stderr"):
        h: logging.Handler = logging.StreamHandler(sys.stderr)
        h.setFormatter(_FalcoFormatter(iso))
        h._lanner = True  # type: ignore[attr-defined]
        logger.addHandler(h)
    if cfg.boolean("log_syslog") and os.path.exists("/dev/log"):
        from logging.handlers import SysLogHandler

        try:
            sh = SysLogHandler(address="/dev/log")
        except OSError:
            pass
        else:
            sh.ident = "lanner: "
            sh._lanner = True  # type: ignore[attr-defined]
            logger.addHandler(sh)
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    return logger
