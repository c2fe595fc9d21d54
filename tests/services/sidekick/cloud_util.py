"""Servers for the cloud and broker outputs: moto (AWS APIs) in server mode, RabbitMQ,
mosquitto, and a TCP relay that a test switches off to make its target unreachable."""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx

from helpers.moto_server import AWS as AWS_ENV  # fake credentials and region for moto
from helpers.moto_server import moto_server as aws_server
from helpers.tcp_relay import TcpRelay

from .helpers import Process, free_port, wait_port, wait_until
from .servers import need


@contextmanager
def moto_server(tmp: Path) -> Iterator[str]:
    """moto's AWS API server (PyPI `moto[server]`) on 127.0.0.1, Lambda without Docker (an
    invocation answers with the event it was given); yields its URL."""
    with aws_server(tmp, MOTO_RECORDER_FILEPATH=str(tmp / "moto-recording")) as url:
        httpx.post(url + "/moto-api/config", json={"lambda": {"use_docker": False}})
        yield url


class Relay(TcpRelay):
    """A TCP relay on a loopback port to `target`, open from the start; `down()` closes it
    (connections refused and cut), `up()` opens it again on the same port."""

    def __init__(self, target_port: int) -> None:
        super().__init__(target_port)
        self.up()

    def serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target))
        except OSError:
            client.close()
            return
        self.track(client, upstream)
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


@contextmanager
def rabbitmq_server(tmp: Path) -> Iterator[int]:
    """Debian's rabbitmq-server on 127.0.0.1 (node data under `tmp`); yields the AMQP port."""
    need("rabbitmq-server", "rabbitmq-server")
    # the node itself, not /usr/sbin's wrapper (which switches to the rabbitmq user)
    binary = "/usr/lib/rabbitmq/bin/rabbitmq-server"
    port, dist = free_port(), free_port()
    base = tmp / "rabbitmq"
    base.mkdir(exist_ok=True)
    conf = base / "rabbitmq.conf"
    conf.write_text(
        f"listeners.tcp.1 = 127.0.0.1:{port}\nloopback_users.guest = true\n"
        "management.tcp.port = 0\n"
    )
    node = f"lanner{port}@localhost"
    env = {
        **os.environ,
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist),
        "RABBITMQ_BASE": str(base),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_PID_FILE": str(base / "pid"),
        "HOME": str(base),
        "ERL_CRASH_DUMP": str(base / "erl_crash.dump"),
    }
    (base / "enabled_plugins").write_text("[].\n")
    proc = Process([binary], env, tmp / "rabbitmq.log", cwd=str(base))
    try:
        wait_port(port, proc, timeout=90)
        yield port
    finally:
        proc.stop()


@contextmanager
def mosquitto(
    tmp: Path, port: int | None = None, tls: tuple[Path, Path] | None = None
) -> Iterator[int]:
    """Debian's mosquitto on 127.0.0.1 with anonymous access (TLS with `tls` = (certificate
    chain, key) files); yields its port."""
    binary = need("mosquitto", "mosquitto")
    port = port or free_port()
    conf = tmp / f"mosquitto-{port}.conf"
    text = f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
    if tls:
        text += f"certfile {tls[0]}\nkeyfile {tls[1]}\n"
        if os.geteuid() == 0:  # else mosquitto runs as its own user, who cannot read tmp
            text += "user root\n"
    conf.write_text(text)
    proc = Process([binary, "-c", str(conf)], None, tmp / f"mosquitto-{port}.log")
    try:
        wait_port(port, proc)
        yield port
    finally:
        proc.stop()


__all__ = ["AWS_ENV", "Relay", "mosquitto", "moto_server", "rabbitmq_server", "wait_until"]


def event(payload: dict[str, Any]) -> dict[str, Any]:
    """A relayed event without its `uuid` (checked to be one), to compare with the alert
    posted: Falcosidekick adds a UUID to every event it forwards."""
    body = dict(payload)
    uid = body.pop("uuid")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", uid), uid
    return body
