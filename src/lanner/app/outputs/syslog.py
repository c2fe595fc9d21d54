"""syslog_output: RFC 3164 datagrams to the local syslog socket, priority as Falco."""

from __future__ import annotations

import os
import socket
import time
from typing import Any, BinaryIO

from lanner.app.outputs.base import Message, Output
from lanner.app.outputs.registry import register

FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6,
    "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11, "local0": 16, "local1": 17,
    "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}  # fmt: skip
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def syslog_header(pri: int, ident: str, now: float | None = None) -> str:
    """``<PRI>Mmm dd hh:mm:ss ident[pid]: `` as glibc's syslog(3) writes it."""
    t = time.localtime(now)
    stamp = f"{_MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    return f"<{pri}>{stamp} {ident}[{os.getpid()}]: "


@register
class SyslogOutput(Output):
    """Sends each alert as one syslog message.

    Like Falco (``syslog(priority, msg)`` with the default facility), the syslog severity
    is the rule priority (Emergency 0 … Debug 7) and the facility is ``user`` unless
    configured. ``address`` is a Unix datagram socket path (default ``/dev/log``) or
    ``udp://host:port``.
    """

    name = "syslog"
    config_key = "syslog_output"

    @classmethod
    def from_config(
        cls, section: dict[str, Any], stdout: BinaryIO | None, **common: Any
    ) -> SyslogOutput:
        return cls(
            str(section.get("address") or "/dev/log"),
            str(section.get("facility") or "user"),
            str(section.get("ident") or ""),
            **common,
        )

    def __init__(
        self,
        address: str = "/dev/log",
        facility: str = "user",
        ident: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.address = address or "/dev/log"
        self.facility = FACILITIES[facility]
        self.ident = ident or "lanner"
        self._sock: socket.socket | None = None

    def _connect(self) -> socket.socket:
        self._disconnect()
        if self.address.startswith("udp://"):
            host, _, port = self.address[6:].rpartition(":")
            info = socket.getaddrinfo(host.strip("[]"), int(port), type=socket.SOCK_DGRAM)[0]
            sock = socket.socket(info[0], socket.SOCK_DGRAM)
            sock.connect(info[4])
        else:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                sock.connect(self.address)
            except OSError:
                sock.close()
                raise
        self._sock = sock
        return sock

    def _disconnect(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def write(self, msg: Message) -> None:
        pri = self.facility * 8 + int(msg.priority)
        data = syslog_header(pri, self.ident).encode() + msg.line
        sock = self._sock or self._connect()
        try:
            sock.send(data)
        except OSError:
            # the syslog daemon restarted: reconnect once, then let the error count
            self._connect().send(data)

    def reopen(self) -> None:
        self._disconnect()

    def shutdown(self) -> None:
        self._disconnect()
