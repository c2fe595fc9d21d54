"""Tokens never reach the access log: `access_token=` values in logged URLs are masked."""

from __future__ import annotations

import logging
import re

_TOKEN = re.compile(r"((?:^|[?&])access(?:_|%5f)token=)[^&#\s]*", re.IGNORECASE)
REDACTED = "REDACTED"


def redact(text: str) -> str:
    """`text` with every access_token query value replaced by REDACTED."""
    return _TOKEN.sub(rf"\g<1>{REDACTED}", text)


class RedactTokens(logging.Filter):
    """A logging filter for uvicorn's access logger (and any record carrying a URL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install(logger_name: str = "uvicorn.access") -> None:
    """Add the filter to `logger_name` (idempotent)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactTokens) for f in logger.filters):
        logger.addFilter(RedactTokens())
