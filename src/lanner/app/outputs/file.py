"""file_output: append alerts to a file, reopening it when it is rotated by rename."""

from __future__ import annotations

import os
from typing import IO, Any, BinaryIO

from lanner.app.outputs.base import Message, Output
from lanner.app.outputs.registry import register


@register
class FileOutput(Output):
    """Appends one line per alert.

    With ``keep_alive`` the file stays open; before each write its path is checked, and
    when logrotate renamed or removed it a new file is opened at the configured path.
    Without ``keep_alive`` the file is opened and closed for every alert (as Falco).
    """

    name = "file"
    config_key = "file_output"

    @classmethod
    def from_config(
        cls, section: dict[str, Any], stdout: BinaryIO | None, **common: Any
    ) -> FileOutput:
        return cls(str(section.get("filename", "")), bool(section.get("keep_alive")), **common)

    def __init__(self, filename: str, keep_alive: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not filename:
            raise ValueError("file_output.filename is empty")
        self.filename = filename
        self.keep_alive = keep_alive
        self._fh: IO[bytes] | None = None
        self._id: tuple[int, int] | None = None

    def _open(self) -> IO[bytes]:
        self._close()
        fh = open(self.filename, "ab")  # noqa: SIM115 - kept open across writes
        st = os.fstat(fh.fileno())
        self._fh, self._id = fh, (st.st_dev, st.st_ino)
        return fh

    def _close(self) -> None:
        if self._fh is not None:
            try:
                self._fh.close()
            finally:
                self._fh, self._id = None, None

    def _rotated(self) -> bool:
        try:
            st = os.stat(self.filename)
        except FileNotFoundError:
            return True
        return (st.st_dev, st.st_ino) != self._id

    def write(self, msg: Message) -> None:
        data = msg.line + b"\n"
        if not self.keep_alive:
            with open(self.filename, "ab") as once:
                once.write(data)
            return
        fh = self._fh
        if fh is None or self._rotated():
            if fh is not None:
                fh.flush()
            fh = self._open()
        fh.write(data)

    def flush(self) -> None:
        if self._fh is not None:
            self._fh.flush()

    def reopen(self) -> None:
        self._close()

    def shutdown(self) -> None:
        self._close()
