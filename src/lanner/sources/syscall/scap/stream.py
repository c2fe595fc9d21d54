"""Open a capture (plain or gzip, detected by magic) and read it in chunks."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

from lanner.exceptions import ScapError

GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 20
MAX_BLOCK = 1 << 30
_HDR = struct.Struct("<II")
_U32 = struct.Struct("<I")


def open_capture(source: str | Path | BinaryIO) -> BinaryIO:
    """Open a path or wrap a binary file object, transparently decompressing gzip."""
    if isinstance(source, (str, Path)):
        f: BinaryIO = open(source, "rb")  # noqa: SIM115 - returned to the caller
    else:
        f = source
    magic = f.read(2)
    if f.seekable():
        f.seek(-len(magic), 1)
    else:
        f = _Prefixed(magic, f)  # type: ignore[assignment]
    if magic == GZIP_MAGIC:
        return _GzipStream(f)  # type: ignore[return-value]
    return f


class _GzipStream(io.RawIOBase):
    """Incremental gzip decompression that hands out every byte decoded before damage.

    ``gzip.GzipFile`` drops the data of a read call that hits a truncated stream; this
    returns it first and raises on the following read. Concatenated members are read.
    """

    RAW_CHUNK = 1 << 16

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        self._buf = bytearray()
        self._done = False
        self._error: Exception | None = None

    def readable(self) -> bool:
        return True

    @property
    def raw_file(self) -> BinaryIO:
        """The compressed file underneath (its position measures progress)."""
        return self._raw

    def _fill(self) -> None:
        d = self._d
        if d.eof:
            data = d.unused_data or self._raw.read(self.RAW_CHUNK)
            if not data.strip(b"\0"):
                if not self._raw.read(self.RAW_CHUNK).strip(b"\0"):
                    self._done = True
                    return
                self._error = _bad_gzip("garbage after a gzip member")
                return
            self._d = d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        else:
            data = self._raw.read(self.RAW_CHUNK)
            if not data:
                self._error = EOFError("gzip stream ended before its end-of-stream marker")
                return
        try:
            self._buf += d.decompress(data)
        except zlib.error as exc:
            self._error = _bad_gzip(str(exc))

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            n = 1 << 62
        while len(self._buf) < n and not self._done and self._error is None:
            self._fill()
        if not self._buf and self._error is not None:
            raise self._error
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()


def _bad_gzip(message: str) -> OSError:
    import gzip  # only for its error class, on a damaged file

    return gzip.BadGzipFile(message)


class _Prefixed(io.RawIOBase):
    """A read-only stream that replays already-read bytes before the rest of a stream."""

    def __init__(self, prefix: bytes, rest: BinaryIO) -> None:
        self._prefix = prefix
        self._rest = rest

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        head, self._prefix = self._prefix, b""
        if n is None or n < 0:
            return head + self._rest.read()
        if len(head) >= n:
            self._prefix = head[n:]
            return head[:n]
        return head + self._rest.read(n - len(head))

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._rest.close()
        super().close()


def read_chunk(read: object, n: int, offset: int) -> bytes:
    """Read up to ``n`` bytes (fewer only at the end), turning I/O errors into ScapError."""
    parts: list[bytes] = []
    got = 0
    while got < n:
        try:
            part = _read(read, n - got, offset + got)
        except ScapError:
            if parts:
                break  # hand out what was read; the next read reports the damage
            raise
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _read(read: object, n: int, offset: int) -> bytes:
    try:
        return read(n)  # type: ignore[operator]
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise ScapError(f"cannot decompress capture: {exc}", offset) from exc
