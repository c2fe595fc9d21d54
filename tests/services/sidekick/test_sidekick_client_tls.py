"""Outputs over TLS: a custom CA (tlsclient), mutual TLS (mutualtlsclient), checkcert."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme

from lanner.exceptions import DeliveryError

from .helpers import make_alert
from .outputs_util import outputs_from_env, send


class HttpsReceiver:
    """An HTTPS server recording JSON bodies and the client certificate's subject."""

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self.bodies: list[Any] = []
        self.peers: list[Any] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.bodies.append(json.loads(body))
                outer.peers.append(self.connection.getpeercert())  # type: ignore[attr-defined]
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pki(tmp: Path) -> Iterator[dict[str, Any]]:
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    client = ca.issue_cert("sidekick-client")
    ca.cert_pem.write_to_path(tmp / "ca.crt")
    client.cert_chain_pems[0].write_to_path(tmp / "client.crt")
    client.private_key_pem.write_to_path(tmp / "client.key")
    yield {"ca": ca, "server": server, "dir": tmp}


def server_ctx(pki: dict[str, Any], require_client: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    pki["server"].configure_cert(ctx)
    if require_client:
        pki["ca"].configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def test_custom_ca_and_checkcert(pki: dict[str, Any]) -> None:
    receiver = HttpsReceiver(server_ctx(pki, require_client=False))
    try:
        # the system CAs do not know this server: refused, and retried (not dropped)
        with pytest.raises(DeliveryError, match="ConnectError"):
            send(outputs_from_env({"WEBHOOK_ADDRESS": receiver.url})["webhook"], make_alert())
        env = {"WEBHOOK_ADDRESS": receiver.url, "TLSCLIENT_CACERTFILE": str(pki["dir"] / "ca.crt")}
        send(outputs_from_env(env)["webhook"], make_alert(rule="with ca"))
        env = {"WEBHOOK_ADDRESS": receiver.url, "WEBHOOK_CHECKCERT": "false"}
        send(outputs_from_env(env)["webhook"], make_alert(rule="no check"))
        assert [b["rule"] for b in receiver.bodies] == ["with ca", "no check"]
    finally:
        receiver.close()


def test_mutual_tls_client_certificate(pki: dict[str, Any]) -> None:
    receiver = HttpsReceiver(server_ctx(pki, require_client=True))
    d = pki["dir"]
    try:
        env = {
            "WEBHOOK_ADDRESS": receiver.url,
            "WEBHOOK_MUTUALTLS": "true",
            "MUTUALTLSCLIENT_CERTFILE": str(d / "client.crt"),
            "MUTUALTLSCLIENT_KEYFILE": str(d / "client.key"),
            "MUTUALTLSCLIENT_CACERTFILE": str(d / "ca.crt"),
        }
        send(outputs_from_env(env)["webhook"], make_alert())
        (peer,) = receiver.peers
        assert peer is not None
        assert receiver.bodies == [make_alert()]
        # the same output without mutualtls presents no certificate: the server refuses it
        env["WEBHOOK_MUTUALTLS"] = "false"
        env["TLSCLIENT_CACERTFILE"] = str(d / "ca.crt")
        with pytest.raises(DeliveryError):
            send(outputs_from_env(env)["webhook"], make_alert())
        assert len(receiver.bodies) == 1
    finally:
        receiver.close()
