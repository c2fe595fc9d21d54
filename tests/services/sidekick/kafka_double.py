"""A DOUBLE of a one-node Kafka broker on loopback (no Kafka server is packaged for Debian
or PyPI): it answers ApiVersions v0, Metadata v1 and Produce v3 with the request and
response structures of aiokafka's protocol module, and records the produced records
(record batches decoded by aiokafka's record reader). Enough for a producer, nothing more."""

from __future__ import annotations

import socket
import struct
import threading
from contextlib import suppress
from dataclasses import dataclass, field
from io import BytesIO

from aiokafka.protocol.admin import (
    ApiVersionResponse_v0,
    SaslAuthenticateRequest_v0,
    SaslAuthenticateResponse_v0,
    SaslHandShakeRequest_v1,
    SaslHandShakeResponse_v1,
)
from aiokafka.protocol.metadata import MetadataRequest_v1, MetadataResponse_v1
from aiokafka.protocol.produce import ProduceRequest_v3, ProduceResponse_v3
from aiokafka.record.default_records import DefaultRecordBatch

from .helpers import free_port

API_VERSIONS, METADATA, PRODUCE, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 3, 0, 17, 36
SASL_AUTHENTICATION_FAILED = 58


@dataclass
class KafkaDouble:
    """Records `(topic, partition, value)` per produced record; `partitions` per topic."""

    partitions: int = 2
    port: int = 0
    records: list[tuple[str, int, bytes]] = field(default_factory=list)
    requests: list[tuple[int, int, str]] = field(default_factory=list)  # key, version, client
    users: dict[str, str] = field(default_factory=dict)  # SASL PLAIN accounts, when any
    logins: list[tuple[str, bool]] = field(default_factory=list)  # (user, accepted)

    def __post_init__(self) -> None:
        self.port = self.port or free_port()
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self.start()

    def start(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(16)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            with suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        for conn in self._conns:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        self._conns.clear()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with suppress(OSError, ValueError):
            while True:
                size = struct.unpack(">i", _read(conn, 4))[0]
                data = BytesIO(_read(conn, size))
                # request header v1: api_key, api_version, correlation_id, client_id
                key, version, corr, length = struct.unpack(">hhih", data.read(10))
                client = data.read(length).decode() if length >= 0 else ""
                self.requests.append((key, version, client))
                body = self._answer(key, version, data)
                if body is None:
                    continue
                reply = struct.pack(">i", corr) + body
                conn.sendall(struct.pack(">i", len(reply)) + reply)

    def _answer(self, key: int, version: int, data: BytesIO) -> bytes | None:
        if key == API_VERSIONS:
            ranges = [(API_VERSIONS, 0, 0), (METADATA, 1, 1), (PRODUCE, 3, 3)]
            if self.users:
                ranges += [(SASL_HANDSHAKE, 1, 1), (SASL_AUTHENTICATE, 0, 0)]
            return ApiVersionResponse_v0(0, ranges).encode()
        if key == SASL_HANDSHAKE and version == 1:
            SaslHandShakeRequest_v1.decode(data)
            return SaslHandShakeResponse_v1(0, ["PLAIN"]).encode()
        if key == SASL_AUTHENTICATE and version == 0:
            # PLAIN (RFC 4616): authzid NUL authcid NUL password
            _, user, password = SaslAuthenticateRequest_v0.decode(data).sasl_auth_bytes.split(b"\0")
            name = user.decode()
            ok = self.users.get(name) == password.decode()
            self.logins.append((name, ok))
            code, message = (0, None) if ok else (SASL_AUTHENTICATION_FAILED, "bad credentials")
            return SaslAuthenticateResponse_v0(code, message, b"").encode()
        if key == METADATA and version == 1:
            request = MetadataRequest_v1.decode(data)
            topics = request.topics or []
            parts = [(0, p, 0, [0], [0]) for p in range(self.partitions)]
            return MetadataResponse_v1(
                [(0, "127.0.0.1", self.port, None)], 0, [(0, t, False, parts) for t in topics]
            ).encode()
        if key == PRODUCE and version == 3:
            request = ProduceRequest_v3.decode(data)
            answers = []
            for topic, partitions in request.topics:
                done = []
                for partition, raw in partitions:
                    batch = DefaultRecordBatch(raw)
                    for record in batch:
                        self.records.append((topic, partition, bytes(record.value or b"")))
                    done.append((partition, 0, len(self.records), -1))
                answers.append((topic, done))
            if request.required_acks == 0:
                return None  # acks=0: the broker answers nothing
            return ProduceResponse_v3(answers, 0).encode()
        raise ValueError(f"unsupported request {key} v{version}")


def _read(conn: socket.socket, size: int) -> bytes:
    out = b""
    while len(out) < size:
        chunk = conn.recv(size - len(out))
        if not chunk:
            raise OSError("closed")
        out += chunk
    return out
