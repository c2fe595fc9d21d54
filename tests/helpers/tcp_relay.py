"""A TCP relay on a loopback port that a test switches off and on again: ``down()`` refuses
new connections and cuts the open ones, ``up()`` accepts again on the same port (an outage
of the target as the client sees it). Subclasses say what becomes of one connection."""

from __future__ import annotations

import socket
import threading
from contextlib import suppress

from helpers.polling import free_port


class TcpRelay:
    """Listens on 127.0.0.1:``port`` once ``up()`` is called; each accepted connection is
    handed to :meth:`serve` on its own thread. The sockets given to :meth:`track` are cut
    by ``down()``."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.port = free_port()
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def up(self) -> None:
        """Accept connections."""
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def down(self) -> None:
        """Stop accepting and cut every open connection."""
        if self._server is not None:
            with suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def track(self, *conns: socket.socket) -> None:
        """Sockets ``down()`` cuts."""
        with self._lock:
            self._conns += conns

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(client,), daemon=True).start()

    def serve(self, client: socket.socket) -> None:
        """One accepted connection: to the target and back."""
        raise NotImplementedError
