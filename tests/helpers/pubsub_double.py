"""A DOUBLE of Google Cloud Pub/Sub (not Google's service, nor its emulator, which cannot be
installed here): a gRPC server on loopback answering the published RPCs of
``google.pubsub.v1.Subscriber`` (StreamingPull, Pull, Acknowledge, ModifyAckDeadline) and
``google.pubsub.v1.Publisher/Publish`` with the message types of Google's own package, so
Google's official client (``google-cloud-pubsub``, pointed at it by
``PUBSUB_EMULATOR_HOST``) talks to it as to Pub/Sub.

Delivery follows Pub/Sub's documented contract: a message is outstanding from its delivery
until acknowledged; an ack deadline that passes (or a ModifyAckDeadline of 0 seconds, a
nack) puts it back for redelivery with ``delivery_attempt`` + 1; acknowledged messages are
never delivered again. Unknown subscriptions answer NOT_FOUND, denied ones
PERMISSION_DENIED, with Google's messages.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf import empty_pb2
from google.pubsub_v1.types import (
    AcknowledgeRequest,
    ModifyAckDeadlineRequest,
    PublishRequest,
    PublishResponse,
    PubsubMessage,
    PullRequest,
    PullResponse,
    ReceivedMessage,
    StreamingPullRequest,
    StreamingPullResponse,
)

from helpers.grpc_double import serializer, serve
from helpers.polling import free_port


def _empty(_message: Any) -> bytes:
    return empty_pb2.Empty().SerializeToString()


@dataclass
class Subscription:
    """One subscription's messages: waiting, outstanding (ack id -> deadline), acked."""

    name: str
    topic: str
    ack_deadline: float = 10.0
    backlog: deque[str] = field(default_factory=deque)
    outstanding: dict[str, tuple[str, float]] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    acked: list[str] = field(default_factory=list)


class PubSubDouble:
    """Pub/Sub on ``127.0.0.1:port`` (a double); ``publish`` adds a message as a log sink
    would, the client reads it through StreamingPull or Pull."""

    def __init__(self, project: str = "test-project") -> None:
        self.project = project
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.subscriptions: dict[str, Subscription] = {}
        self.messages: dict[str, PubsubMessage] = {}
        self.denied: set[str] = set()  # subscriptions answered PERMISSION_DENIED
        self.calls: list[str] = []  # the RPCs called, in order
        self.deliveries: list[tuple[str, int]] = []  # (message id, attempt)
        self.lock = threading.Condition()
        self._ids = 0
        self._stop = threading.Event()
        self.server = serve([self._handler()], self.port)
        threading.Thread(target=self._expire, daemon=True).start()

    # -- test side ---------------------------------------------------------------------
    def path(self, kind: str, name: str) -> str:
        return f"projects/{self.project}/{kind}/{name}"

    def create_subscription(self, name: str, topic: str = "audit", ack_deadline: float = 10) -> str:
        """A subscription to ``topic``; its full path."""
        path = self.path("subscriptions", name)
        with self.lock:
            self.subscriptions[path] = Subscription(path, self.path("topics", topic), ack_deadline)
        return path

    def publish(self, topic: str, data: bytes, **attributes: str) -> str:
        """Publish to ``topic``: every subscription of it gets the message; its id."""
        message = PubsubMessage(data=data, attributes=attributes)
        return self._publish(self.path("topics", topic), message)

    def acked(self, subscription: str) -> list[str]:
        with self.lock:
            return list(self.subscriptions[self.path("subscriptions", subscription)].acked)

    def pending(self, subscription: str) -> int:
        """Messages not acknowledged yet (waiting or outstanding)."""
        with self.lock:
            sub = self.subscriptions[self.path("subscriptions", subscription)]
            return len(sub.backlog) + len(sub.outstanding)

    def stop(self) -> None:
        self._stop.set()
        with self.lock:
            self.lock.notify_all()
        self.server.stop(0).wait()

    # -- the service -------------------------------------------------------------------
    def _publish(self, topic: str, message: PubsubMessage) -> str:
        with self.lock:
            self._ids += 1
            mid = str(self._ids)
            stored = PubsubMessage(message)
            stored.message_id = mid
            stored.publish_time = datetime.now(UTC)
            self.messages[mid] = stored
            for sub in self.subscriptions.values():
                if sub.topic == topic:
                    sub.backlog.append(mid)
            self.lock.notify_all()
        return mid

    def _subscription(self, name: str, context: Any) -> Subscription:
        if name in self.denied:
            context.abort(grpc.StatusCode.PERMISSION_DENIED,
                          "User not authorized to perform this action.")  # fmt: skip
        sub = self.subscriptions.get(name)
        if sub is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"Resource not found (resource={name}).")
        assert sub is not None
        return sub

    def _take(self, sub: Subscription, limit: int, deadline: float) -> list[ReceivedMessage]:
        """Deliver up to ``limit`` waiting messages (the caller holds the lock)."""
        out = []
        while sub.backlog and len(out) < limit:
            mid = sub.backlog.popleft()
            attempt = sub.attempts.get(mid, 0) + 1
            sub.attempts[mid] = attempt
            ack_id = f"{sub.name}#{mid}#{attempt}"
            sub.outstanding[ack_id] = (mid, time.monotonic() + deadline)
            self.deliveries.append((mid, attempt))
            out.append(ReceivedMessage(ack_id=ack_id, message=self.messages[mid],
                                       delivery_attempt=attempt))  # fmt: skip
        return out

    def _expire(self) -> None:
        """Messages whose ack deadline passed go back to the backlog (redelivery)."""
        while not self._stop.wait(0.1):
            now = time.monotonic()
            with self.lock:
                for sub in self.subscriptions.values():
                    for ack_id, (mid, deadline) in list(sub.outstanding.items()):
                        if deadline <= now:
                            del sub.outstanding[ack_id]
                            sub.backlog.appendleft(mid)
                            self.lock.notify_all()

    def _modify(self, sub: Subscription, ack_ids: list[str], seconds: list[int] | int) -> None:
        for i, ack_id in enumerate(ack_ids):
            found = sub.outstanding.get(ack_id)
            if found is None:
                continue  # acked or expired: ignored, as Pub/Sub does
            secs = seconds if isinstance(seconds, int) else seconds[i]
            sub.outstanding[ack_id] = (found[0], time.monotonic() + secs)
            if secs == 0:  # a nack: redelivered at once
                del sub.outstanding[ack_id]
                sub.backlog.appendleft(found[0])
        self.lock.notify_all()

    def _ack(self, sub: Subscription, ack_ids: list[str]) -> None:
        for ack_id in ack_ids:
            found = sub.outstanding.pop(ack_id, None)
            if found is not None and found[0] not in sub.acked:
                sub.acked.append(found[0])

    def _streaming_pull(self, requests: Any, context: Any) -> Any:
        self.calls.append("StreamingPull")
        first: StreamingPullRequest = next(requests)
        with self.lock:
            sub = self._subscription(first.subscription, context)
        deadline = float(first.stream_ack_deadline_seconds or sub.ack_deadline)
        limit = first.max_outstanding_messages or 1000
        mine: set[str] = set()

        def read() -> None:  # acks and deadlines sent on the stream itself
            try:
                for req in requests:
                    with self.lock:
                        self._ack(sub, list(req.ack_ids))
                        self._modify(sub, list(req.modify_deadline_ack_ids),
                                     list(req.modify_deadline_seconds))  # fmt: skip
            except grpc.RpcError:
                pass

        threading.Thread(target=read, daemon=True).start()
        while context.is_active() and not self._stop.is_set():
            with self.lock:
                mine &= set(sub.outstanding)
                room = limit - len(mine)
                got = self._take(sub, room, deadline) if room > 0 else []
                if not got:
                    self.lock.wait(0.2)
                    continue
                mine.update(m.ack_id for m in got)
            yield StreamingPullResponse(received_messages=got)

    def _pull(self, request: PullRequest, context: Any) -> PullResponse:
        self.calls.append("Pull")
        with self.lock:
            sub = self._subscription(request.subscription, context)
            end = time.monotonic() + 2
            while not sub.backlog and time.monotonic() < end and not self._stop.is_set():
                self.lock.wait(0.2)
            got = self._take(sub, request.max_messages or 100, sub.ack_deadline)
        return PullResponse(received_messages=got)

    def _acknowledge(self, request: AcknowledgeRequest, context: Any) -> Any:
        self.calls.append("Acknowledge")
        with self.lock:
            self._ack(self._subscription(request.subscription, context), list(request.ack_ids))
        return None

    def _modify_ack_deadline(self, request: ModifyAckDeadlineRequest, context: Any) -> Any:
        self.calls.append("ModifyAckDeadline")
        with self.lock:
            sub = self._subscription(request.subscription, context)
            self._modify(sub, list(request.ack_ids), int(request.ack_deadline_seconds))
        return None

    def _publish_rpc(self, request: PublishRequest, context: Any) -> PublishResponse:
        self.calls.append("Publish")
        ids = [self._publish(request.topic, m) for m in request.messages]
        return PublishResponse(message_ids=ids)

    def _handler(self) -> Any:
        unary = grpc.unary_unary_rpc_method_handler
        subscriber = {
            "StreamingPull": grpc.stream_stream_rpc_method_handler(
                self._streaming_pull, request_deserializer=StreamingPullRequest.deserialize,
                response_serializer=serializer),
            "Pull": unary(self._pull, request_deserializer=PullRequest.deserialize,
                          response_serializer=serializer),
            "Acknowledge": unary(self._acknowledge,
                                 request_deserializer=AcknowledgeRequest.deserialize,
                                 response_serializer=_empty),
            "ModifyAckDeadline": unary(self._modify_ack_deadline,
                                       request_deserializer=ModifyAckDeadlineRequest.deserialize,
                                       response_serializer=_empty),
        }  # fmt: skip
        publisher = {
            "Publish": unary(self._publish_rpc, request_deserializer=PublishRequest.deserialize,
                             response_serializer=serializer),
        }  # fmt: skip

        class Both(grpc.GenericRpcHandler):
            def service(self, details: Any) -> Any:
                service, _, name = details.method.strip("/").rpartition("/")
                table = {"google.pubsub.v1.Subscriber": subscriber,
                         "google.pubsub.v1.Publisher": publisher}.get(service, {})  # fmt: skip
                return table.get(name)

        return Both()
