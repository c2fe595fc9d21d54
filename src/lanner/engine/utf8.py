"""Strings from the kernel and captures made printable: invalid UTF-8 becomes U+FFFD.

Event strings are decoded with ``surrogateescape`` so that no byte is lost on the way
(paths round-trip into captures unchanged). Outputs must be valid UTF-8: as Falco does
for its JSON alerts, each byte that is not part of a valid sequence prints as U+FFFD
(``b"a\\x80z"`` -> ``"a\\ufffdz"``); lone surrogates from any other origin do too.
"""

from __future__ import annotations

import codecs

_ERRORS = "lanner-bytes-back"
_REPLACEMENT = "\ufffd".encode()


def _bytes_back(err: UnicodeError) -> tuple[bytes, int]:
    """Encode error handler: ``surrogateescape``'s U+DC80..U+DCFF back to their byte,
    any other surrogate to U+FFFD."""
    if not isinstance(err, UnicodeEncodeError):
        raise err
    out = bytearray()
    for ch in err.object[err.start : err.end]:
        cp = ord(ch)
        out += bytes((cp - 0xDC00,)) if 0xDC80 <= cp <= 0xDCFF else _REPLACEMENT
    return bytes(out), err.end


codecs.register_error(_ERRORS, _bytes_back)


def valid_utf8(text: str) -> str:
    """``text`` when it encodes to UTF-8, else the same text with every byte that was not
    valid UTF-8 (and every lone surrogate) replaced by U+FFFD."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", _ERRORS).decode("utf-8", "replace")
    return text
