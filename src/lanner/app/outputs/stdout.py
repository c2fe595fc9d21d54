"""stdout_output: one line per alert on standard output."""

from __future__ import annotations

import sys
from typing import Any, BinaryIO

from lanner.app.outputs.base import Message, Output
from lanner.app.outputs.registry import register


@register
class StdoutOutput(Output):
    """Writes each alert line to stdout (or another binary stream)."""

    name = "stdout"
    config_key = "stdout_output"

    @classmethod
    def from_config(
        cls, section: dict[str, Any], stdout: BinaryIO | None, **common: Any
    ) -> StdoutOutput:
        return cls(stdout, **common)

    def __init__(self, stream: BinaryIO | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stream = stream if stream is not None else sys.stdout.buffer

    def write(self, msg: Message) -> None:
        self.stream.write(msg.line + b"\n")

    def flush(self) -> None:
        self.stream.flush()
