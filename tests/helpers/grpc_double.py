"""gRPC servers on loopback that play a Google API in tests (DOUBLES, not Google's servers).

Google's own emulators cannot be installed here (the Pub/Sub emulator ships with the
gcloud SDK only), so the tests run gRPC servers answering the published RPCs with the
request and response message types of Google's own client packages.
"""

from __future__ import annotations

from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc

from helpers.polling import free_port


def serve(handlers: list[Any], port: int, workers: int = 8) -> grpc.Server:
    """A started insecure server on ``127.0.0.1:port`` with these generic handlers."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
    server.add_generic_rpc_handlers(tuple(handlers))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server


def serializer(message: Any) -> bytes:
    """A proto-plus message (Google's client types) as bytes."""
    return bytes(type(message).serialize(message))


@dataclass
class GrpcDouble:
    """A gRPC server on loopback with one unary method, recording its requests."""

    method: str
    request_type: Any
    reply: Any
    port: int = 0
    requests: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        service, name = self.method.strip("/").rsplit("/", 1)

        def handle(request: Any, context: Any) -> Any:
            self.requests.append(request)
            return self.reply(request)

        handler = grpc.unary_unary_rpc_method_handler(
            handle, request_deserializer=self.request_type.deserialize,
            response_serializer=serializer,
        )  # fmt: skip
        self.port = self.port or free_port()
        self.start(grpc.method_handlers_generic_handler(service, {name: handler}))

    def start(self, handler: Any = None) -> None:
        self._handler = handler or self._handler
        self.server = serve([self._handler], self.port, workers=4)

    def stop(self) -> None:
        self.server.stop(0).wait()
