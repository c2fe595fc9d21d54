"""Open a capture (plain or gzip, detected by magic) and walk its blocks in chunks."""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import ScapError

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

    def _fill(self) -> None:
        d = self._d
        if d.eof:
            data = d.unused_data or self._raw.read(self.RAW_CHUNK)
            if not data.strip(b"\0"):
                if not self._raw.read(self.RAW_CHUNK).strip(b"\0"):
                    self._done = True
                    return
                self._error = gzip.BadGzipFile("garbage after a gzip member")
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
            self._error = gzip.BadGzipFile(str(exc))

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


def iter_blocks(f: BinaryIO) -> Iterator[tuple[int, int, bytes, int, int]]:
    """Yield ``(offset, block_type, buffer, body_start, body_end)`` for each block.

    The body is ``buffer[body_start:body_end]``; the buffer is a chunk shared by several
    blocks so callers can decode in place without copying. Raises :class:`ScapError` on a
    truncated or inconsistent block, after yielding every good block before it.
    """
    read = f.read
    try:
        buf = read(CHUNK)
    except (OSError, EOFError) as exc:
        raise ScapError(f"cannot read capture: {exc}", 0) from exc
    pos = 0
    base = 0  # stream offset of buf[0]
    unpack_hdr = _HDR.unpack_from
    unpack_u32 = _U32.unpack_from
    while True:
        avail = len(buf) - pos
        if avail < 8:
            more = _read(read, CHUNK, base + len(buf))
            if not more:
                if avail == 0:
                    return
                raise ScapError(f"truncated block header: {avail} of 8 bytes", base + pos)
            buf = buf[pos:] + more
            base += pos
            pos = 0
            continue
        btype, blen = unpack_hdr(buf, pos)
        if blen < 12 or blen > MAX_BLOCK:
            raise ScapError(f"invalid block length {blen} for block type {btype:#x}", base + pos)
        if avail < blen:
            need = blen - avail
            more = _read(read, max(CHUNK, need), base + len(buf))
            if len(more) < need:
                # Might be a short read from gzip: keep reading until satisfied or EOF.
                parts = [more]
                got = len(more)
                while got < need:
                    extra = _read(read, max(CHUNK, need - got), base + len(buf) + got)
                    if not extra:
                        break
                    parts.append(extra)
                    got += len(extra)
                more = b"".join(parts)
                if got < need:
                    raise ScapError(
                        f"truncated block of type {btype:#x}: {avail + got} of {blen} bytes",
                        base + pos,
                    )
            buf = buf[pos:] + more
            base += pos
            pos = 0
        end = pos + blen
        (trailer,) = unpack_u32(buf, end - 4)
        if trailer != blen:
            raise ScapError(
                f"block trailer length {trailer} differs from header length {blen}", base + pos
            )
        yield base + pos, btype, buf, pos + 8, end - 4
        pos = end


def _read(read: object, n: int, offset: int) -> bytes:
    try:
        return read(n)  # type: ignore[operator,no-any-return]
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ScapError(f"cannot decompress capture: {exc}", offset) from exc
