"""A DOUBLE of an Azure Event Hubs namespace on loopback (no Event Hubs server can run here).

It speaks what the official client (``azure-eventhub``) speaks, AMQP 1.0, built on Apache
Qpid Proton's container (python-qpid-proton), in plain AMQP as the client's
``UseDevelopmentEmulator=true`` connection strings ask for, or with ``tls=True`` over TLS as
the service (a trustme certificate for 127.0.0.1, its CA in ``ca_file``):

- SASL ANONYMOUS (or none, as the emulator mode sends), then claims-based security: a
  ``put-token`` request on the ``$cbs`` node whose shared access signature
  (``SharedAccessSignature sr=..&sig=..&se=..&skn=..``, the HMAC-SHA256 of the quoted
  resource URI and expiry with the policy's key) is checked, or whose ``jwt`` token is one
  of ``jwt_tokens`` (as Microsoft Entra ID would have issued); ``status-code`` 202 when
  valid, 401 otherwise;
- the ``$management`` node: ``READ`` of ``com.microsoft:eventhub`` (name, created_at,
  partition_count, partition_ids) and of ``com.microsoft:partition`` (sequence numbers,
  offsets, enqueued time, emptiness);
- send links to ``<hub>`` (round robin over partitions, or by ``x-opt-partition-key``) and to
  ``<hub>/Partitions/<id>``; single messages and the client's batches (message format
  0x80013700, each data section one encoded message);
- receive links from ``<hub>/ConsumerGroups/<group>/Partitions/<id>`` with the selector
  filter (``amqp.annotation.x-opt-offset``, ``x-opt-sequence-number`` or
  ``x-opt-enqueued-time``, ``>``/``>=``), each event carrying ``x-opt-sequence-number``,
  ``x-opt-offset``, ``x-opt-enqueued-time`` (and ``x-opt-partition-key``) annotations.

One difference from the service is bridged in front of Proton: the client's AMQP stack
(``azure.eventhub._pyamqp``) reads every field of a performative by position, while AMQP
lets a peer leave trailing null fields out, which Proton does (a ``begin`` of five fields
instead of eight). :class:`FrameRelay`, the port the client connects to, relays both ways
and writes those trailing nulls out in the frames going to the client, as the service's own
frames have them; nothing else is changed.

Events live in the double's ``store`` across :meth:`EventHubsDouble.down` /
:meth:`EventHubsDouble.up` (an outage: every connection cut, the port refused), so tests of
retries and restarts see the same hub again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import select
import socket
import ssl
import struct
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote_plus

from proton import Data, Described, Message, symbol, timestamp, ulong
from proton.handlers import MessagingHandler
from proton.reactor import ApplicationEvent, Container, EventInjector

from helpers.polling import free_port
from helpers.tcp_relay import TcpRelay

DATA_SECTION = ulong(0x75)
# performative descriptor -> number of fields (AMQP 1.0, parts 2.7 and 5.3.3: SASL)
ARITY = {0x10: 10, 0x11: 8, 0x12: 14, 0x13: 11, 0x14: 11, 0x15: 6, 0x16: 3, 0x17: 1, 0x18: 1,
         0x40: 1, 0x41: 3, 0x42: 1, 0x43: 1, 0x44: 2}  # fmt: skip
SELECTOR = re.compile(
    r"amqp\.annotation\.(x-opt-offset|x-opt-sequence-number|x-opt-enqueued-time)\s*(>=?)\s*'?(-?\d+|@latest)'?"
)


@dataclass
class StoredEvent:
    """One event as the hub keeps it."""

    body: bytes
    sequence: int
    offset: int
    enqueued_ms: int
    partition_key: str | None = None
    properties: dict[Any, Any] = field(default_factory=dict)
    raw: Message | None = None


@dataclass
class Store:
    """The hub's partitions and what the double saw (kept across down/up)."""

    hub: str
    partitions: int
    created_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    events: dict[str, list[StoredEvent]] = field(default_factory=dict)
    tokens: list[tuple[str, int]] = field(default_factory=list)  # (audience, status)
    token_kinds: list[tuple[str, int]] = field(default_factory=list)  # (token type, status)
    requests: list[tuple[str, str]] = field(default_factory=list)  # ($management op, type)
    receivers: list[tuple[str, str, str]] = field(default_factory=list)  # (group, part, filter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _next: int = 0

    def __post_init__(self) -> None:
        for pid in self.ids():
            self.events.setdefault(pid, [])

    def ids(self) -> list[str]:
        """The partition ids."""
        return [str(i) for i in range(self.partitions)]

    def pick(self, msg: Message) -> str:
        """The partition for a message sent to the hub: by partition key, else round robin."""
        key = (msg.annotations or {}).get(symbol("x-opt-partition-key"))
        with self.lock:
            if key is not None:
                return str(int(hashlib.sha256(str(key).encode()).hexdigest(), 16) % self.partitions)
            self._next += 1
            return str((self._next - 1) % self.partitions)

    def append(self, pid: str, msg: Message, body: bytes) -> StoredEvent:
        """Store one event in partition `pid`."""
        key = (msg.annotations or {}).get(symbol("x-opt-partition-key"))
        with self.lock:
            part = self.events[pid]
            offset = (part[-1].offset + len(part[-1].body) + 100) if part else 0
            stored = StoredEvent(
                body=body,
                sequence=len(part),
                offset=offset,
                enqueued_ms=int(time.time() * 1000),
                partition_key=None if key is None else str(key),
                properties=dict(msg.properties or {}),
                raw=msg,
            )
            part.append(stored)
            return stored

    def bodies(self) -> list[bytes]:
        """Every event's body, partition by partition."""
        with self.lock:
            return [e.body for pid in self.ids() for e in self.events[pid]]


def message_body(msg: Message) -> bytes:
    """An event's body as bytes (data section; a string or other value encoded as text)."""
    body = msg.body
    if isinstance(body, bytes | memoryview):
        return bytes(body)
    if isinstance(body, list) and body and all(isinstance(b, bytes | memoryview) for b in body):
        return b"".join(bytes(b) for b in body)
    return str(body).encode()


def split_batch(raw: bytes) -> list[bytes]:
    """The encoded messages inside a batch message: each of its data sections."""
    data = Data()
    remaining = memoryview(raw)
    inner: list[bytes] = []
    while len(remaining):
        data.clear()
        used = data.decode(bytes(remaining))
        if used <= 0:
            break
        remaining = remaining[used:]
        data.rewind()
        data.next()
        value = data.get_object()
        if isinstance(value, Described) and value.descriptor == DATA_SECTION:
            inner.append(bytes(value.value))
    return inner


def batch_messages(raw: bytes) -> list[Message]:
    """The events of a batch (format 0x80013700: every data section an encoded message),
    or [] for a single event. Proton does not expose a delivery's message format, so the
    sections are looked at: all of them must decode as messages with a body section."""
    inner = split_batch(raw)
    messages = []
    for blob in inner:
        if not blob.startswith(b"\x00\x53"):
            return []
        m = Message()
        try:
            m.decode(blob)
        except Exception:
            return []
        messages.append(m)
    return messages


def check_sas(token: str, key_name: str, key: str, now: float) -> str | None:
    """None when `token` is a valid shared access signature of `key_name`/`key`, else why."""
    prefix = "SharedAccessSignature "
    if not token.startswith(prefix):
        return "not a shared access signature"
    parts = {k: v[0] for k, v in parse_qs(token[len(prefix) :]).items()}
    try:
        resource, signature, expiry = parts["sr"], parts["sig"], int(parts["se"])
    except (KeyError, ValueError):
        return "sr, sig and se are required"
    if parts.get("skn") != key_name:
        return f"unknown policy {parts.get('skn')!r}"
    if expiry < now:
        return "token expired"
    signed = f"{quote_plus(resource)}\n{expiry}".encode()
    expected = base64.b64encode(hmac.new(key.encode(), signed, hashlib.sha256).digest()).decode()
    if not hmac.compare_digest(expected, signature):
        return "signature does not match"
    return None


class _Handler(MessagingHandler):  # type: ignore[misc]
    """The namespace: CBS, management, send and receive links."""

    def __init__(self, double: EventHubsDouble) -> None:
        super().__init__(prefetch=0, auto_accept=False, auto_settle=True)
        self.double = double
        self.store = double.store
        self.acceptor: Any = None
        self.container: Any = None
        self.readers: list[dict[str, Any]] = []  # {link, pid, next}

    # --- lifecycle
    def on_start(self, event: Any) -> None:
        self.container = event.container
        self.acceptor = event.container.listen(f"127.0.0.1:{self.double.amqp_port}")
        self.double._listening.set()

    def on_shutdown(self, event: Any) -> None:  # an ApplicationEvent from down()
        if self.acceptor is not None:
            self.acceptor.close()
        for conn in list(self.double._connections):
            conn.close()
        self.container.stop()

    def on_connection_bound(self, event: Any) -> None:
        # SASL ANONYMOUS, as the service offers it to token (CBS) clients over TLS; a client
        # that skips SASL (the emulator mode) is let in too
        sasl = event.transport.sasl()
        sasl.allow_insecure_mechs = True
        sasl.allowed_mechs("ANONYMOUS")
        event.transport.require_auth(False)

    def on_connection_opening(self, event: Any) -> None:
        self.double._connections.add(event.connection)
        event.connection.properties = {symbol("product"): "lanner-eventhubs-double"}

    def on_connection_closed(self, event: Any) -> None:
        self.double._connections.discard(event.connection)
        self.readers = [r for r in self.readers if r["link"].connection is not event.connection]

    def on_disconnected(self, event: Any) -> None:
        self.double._connections.discard(event.connection)
        self.readers = [r for r in self.readers if r["link"].connection is not event.connection]

    # --- links
    def on_link_opening(self, event: Any) -> None:
        link = event.link
        if link.is_sender:  # the client receives
            address = link.remote_source.address or ""
            link.source.copy(link.remote_source)
            link.target.copy(link.remote_target)
            node = self.node(address)
            if node.startswith("$"):
                link.open()
                return
            match = re.fullmatch(
                rf"{re.escape(self.store.hub)}/ConsumerGroups/([^/]+)/Partitions/([^/]+)", node
            )
            if not match or match.group(2) not in self.store.events:
                self.refuse(link, "amqp:not-found", f"no such entity {node!r}")
                return
            if not getattr(link.connection, "eh_authorized", False):
                self.refuse(link, "amqp:unauthorized-access", "no valid token for this connection")
                return
            group, pid = match.group(1), match.group(2)
            selector = self.selector(link.remote_source)
            with self.store.lock:
                self.store.receivers.append((group, pid, selector))
            link.open()
            self.readers.append({"link": link, "pid": pid, "next": self.start_at(pid, selector)})
        else:  # the client sends
            address = link.remote_target.address or ""
            link.target.copy(link.remote_target)
            link.source.copy(link.remote_source)
            node = self.node(address)
            if node.startswith("$"):
                link.open()
                link.flow(100)
                return
            ok = node == self.store.hub or (
                node.startswith(f"{self.store.hub}/Partitions/")
                and node.rsplit("/", 1)[1] in self.store.events
            )
            if not ok:
                self.refuse(link, "amqp:not-found", f"no such entity {node!r}")
                return
            if not getattr(link.connection, "eh_authorized", False):
                self.refuse(link, "amqp:unauthorized-access", "no valid token for this connection")
                return
            link.max_message_size = 1024 * 1024
            link.open()
            link.flow(100)

    @staticmethod
    def refuse(link: Any, condition: str, description: str) -> None:
        """Attach then detach with an error, as the service does."""
        from proton import Condition

        link.open()
        link.condition = Condition(condition, description)
        link.close()

    @staticmethod
    def node(address: str) -> str:
        """The entity path of a link address (`amqp://host/hub/...` or `hub/...`)."""
        address = re.sub(r"^amqps?://[^/]+/", "", address)
        return address.strip("/")

    @staticmethod
    def selector(terminus: Any) -> str:
        """The selector filter's text ('' without one)."""
        filters = terminus.filter
        filters.rewind()
        if not filters.next():
            return ""
        found = filters.get_object()
        if isinstance(found, dict):
            for value in found.values():
                if isinstance(value, Described):
                    return str(value.value)
        return ""

    def start_at(self, pid: str, selector: str) -> int:
        """The index of the first event the selector lets through."""
        events = self.store.events[pid]
        match = SELECTOR.search(selector)
        if not match:
            return len(events)  # no filter: new events only
        what, op, value = match.groups()
        if value == "@latest":
            return len(events)
        number = int(value)
        if what == "x-opt-offset" and number == -1:
            return 0
        for i, e in enumerate(events):
            seen = {"x-opt-offset": e.offset, "x-opt-sequence-number": e.sequence,
                    "x-opt-enqueued-time": e.enqueued_ms}[what]  # fmt: skip
            if seen > number or (op == ">=" and seen == number):
                return i
        return len(events)

    def on_sendable(self, event: Any) -> None:
        self.pump()

    def pump(self) -> None:
        """Send each reader the stored events it has credit for."""
        for reader in self.readers:
            link = reader["link"]
            events = self.store.events[reader["pid"]]
            while link.credit > 0 and reader["next"] < len(events):
                stored = events[reader["next"]]
                msg = Message(
                    body=stored.body,
                    properties=stored.properties or None,
                    annotations={
                        symbol("x-opt-sequence-number"): stored.sequence,
                        symbol("x-opt-offset"): str(stored.offset),
                        symbol("x-opt-enqueued-time"): timestamp(stored.enqueued_ms),
                        **(
                            {symbol("x-opt-partition-key"): stored.partition_key}
                            if stored.partition_key is not None
                            else {}
                        ),
                    },
                )
                link.send(msg)
                reader["next"] += 1

    # --- incoming messages
    def on_delivery(self, event: Any) -> None:
        delivery, link = event.delivery, event.link
        if not link.is_receiver or delivery.partial or not delivery.readable:
            return super().on_delivery(event)
        raw = link.recv(delivery.pending)
        link.advance()
        node = self.node(link.target.address or "")
        if node in ("$cbs", "$management"):
            msg = Message()
            msg.decode(raw)
            delivery.update(delivery.ACCEPTED)
            delivery.settle()
            self.request(link.connection, node, msg)
        else:
            pid = node.rsplit("/", 1)[1] if "/Partitions/" in node else None
            outer = Message()
            outer.decode(raw)
            messages = batch_messages(raw)
            pid = pid or self.store.pick(outer)  # a batch goes to one partition
            for m in messages or [outer]:
                self.store.append(pid, m, message_body(m))
            delivery.update(delivery.ACCEPTED)
            delivery.settle()
            self.double.received.set()
            self.pump()
        link.flow(1)
        return None

    def request(self, connection: Any, node: str, msg: Message) -> None:
        """Answer a $cbs or $management request on the node's response link."""
        props = msg.properties or {}
        operation = str(props.get("operation", ""))
        kind = str(props.get("type", ""))
        with self.store.lock:
            self.store.requests.append((operation, kind))
        status, body = 200, None
        if node == "$cbs":
            token = str(msg.body)
            if kind == "jwt":  # a Microsoft Entra ID access token
                bearer = token.removeprefix("Bearer ")
                why = None if bearer in self.double.jwt_tokens else "unknown bearer token"
            else:
                why = check_sas(token, self.double.key_name, self.double.key, time.time())
            status = 202 if why is None else 401
            with self.store.lock:
                self.store.tokens.append((str(props.get("name", "")), status))
                self.store.token_kinds.append((kind, status))
            if why is None:
                connection.eh_authorized = True  # kept on Proton's record of it
            reply = Message(
                correlation_id=msg.id,
                properties={"status-code": status, "status-description": why or "Accepted"},
            )
        else:
            if (
                not getattr(connection, "eh_authorized", False)
                and not self.double.anonymous_management
            ):
                status, why = 401, "no valid token"
            elif operation != "READ":
                status, why = 400, f"unsupported operation {operation!r}"
            elif kind == "com.microsoft:eventhub":
                why = None
                body = {
                    "name": self.store.hub,
                    "type": kind,
                    "created_at": timestamp(self.store.created_ms),
                    "partition_count": self.store.partitions,
                    "partition_ids": self.store.ids(),
                }
            elif kind == "com.microsoft:partition":
                pid = str(props.get("partition", ""))
                if pid not in self.store.events:
                    status, why = 404, f"no partition {pid!r}"
                else:
                    why = None
                    body = self.partition_info(pid)
            else:
                status, why = 400, f"unsupported type {kind!r}"
            reply = Message(
                body=body,
                correlation_id=msg.id,
                properties={"status-code": status, "status-description": why or "OK"},
            )
        for link in self.senders(connection, node):
            link.send(reply)
            return

    def partition_info(self, pid: str) -> dict[str, Any]:
        """The partition properties the client reads."""
        events = self.store.events[pid]
        last = events[-1] if events else None
        return {
            "name": self.store.hub,
            "type": "com.microsoft:partition",
            "partition": pid,
            "begin_sequence_number": 0 if events else -1,
            "last_enqueued_sequence_number": last.sequence if last else -1,
            "last_enqueued_offset": str(last.offset) if last else "-1",
            "last_enqueued_time_utc": timestamp(last.enqueued_ms if last else 0),
            "is_partition_empty": not events,
        }

    def senders(self, connection: Any, node: str) -> list[Any]:
        """This connection's open links sending from `node`."""
        from proton import Endpoint

        found = []
        link = connection.link_head(Endpoint.LOCAL_ACTIVE)
        while link:
            if link.is_sender and self.node(link.source.address or "") == node:
                found.append(link)
            link = link.next(Endpoint.LOCAL_ACTIVE)
        return found


def pad_frame(frame: bytes) -> bytes:
    """`frame` with its performative's trailing null fields written out (list32)."""
    _, doff, ftype, channel = struct.unpack(">IBBH", frame[:8])
    start = doff * 4
    body = frame[start:]
    if ftype not in (0, 1) or len(body) < 4 or body[0] != 0 or body[1] != 0x53:
        return frame
    want = ARITY.get(body[2])
    ctor = body[3]
    if want is None:
        return frame
    if ctor == 0x45:
        count, items, rest = 0, b"", body[4:]
    elif ctor == 0xC0:
        lsize, count = body[4], body[5]
        items, rest = body[6 : 5 + lsize], body[5 + lsize :]
    elif ctor == 0xD0:
        lsize, count = struct.unpack(">II", body[4:12])
        items, rest = body[12 : 8 + lsize], body[8 + lsize :]
    else:
        return frame
    if count >= want:
        return frame
    items += b"\x40" * (want - count)
    new_body = body[:3] + b"\xd0" + struct.pack(">II", len(items) + 4, want) + items + rest
    return (
        struct.pack(">IBBH", start + len(new_body), doff, ftype, channel)
        + frame[8:start]
        + new_body
    )


class FrameRelay(TcpRelay):
    """The public port: relays to Proton, padding the frames that go to the client (see the
    module doc); `down()` refuses and cuts connections, `up()` accepts again on that port."""

    def __init__(self, target_port: int, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(target_port)
        self.tls = tls

    def serve(self, client: socket.socket) -> None:
        """One connection: TLS handshake (when configured), then both directions in one
        thread (an SSL socket is not read and written from two threads)."""
        try:
            if self.tls is not None:
                client.settimeout(10)
                client = self.tls.wrap_socket(client, server_side=True)
                client.settimeout(None)
            upstream = socket.create_connection(("127.0.0.1", self.target))
        except (OSError, ssl.SSLError):
            client.close()
            return
        self.track(client, upstream)
        buf = b""
        with suppress(OSError, ValueError):
            while True:
                pending = isinstance(client, ssl.SSLSocket) and client.pending() > 0
                ready = [client] if pending else select.select([client, upstream], [], [], 1)[0]
                if client in ready:
                    data = client.recv(65536)
                    if not data:
                        break
                    upstream.sendall(data)
                if upstream in ready:
                    data = upstream.recv(65536)
                    if not data:
                        break
                    out, buf = pad_stream(buf + data)
                    if out:
                        client.sendall(out)
        for conn in (client, upstream):
            with suppress(OSError):
                conn.close()


def pad_stream(buf: bytes) -> tuple[bytes, bytes]:
    """The complete frames at the start of `buf`, padded, and the incomplete rest."""
    out = []
    while True:
        if buf[:4] == b"AMQP" and len(buf) >= 8:  # a protocol header (AMQP or SASL)
            out.append(buf[:8])
            buf = buf[8:]
            continue
        if len(buf) < 8:
            break
        size = struct.unpack(">I", buf[:4])[0]
        if len(buf) < size:
            break
        out.append(pad_frame(buf[:size]))
        buf = buf[size:]
    return b"".join(out), buf


class EventHubsDouble:
    """An Event Hubs namespace double with one hub, on 127.0.0.1 (see the module doc)."""

    def __init__(
        self,
        hub: str = "falco",
        partitions: int = 2,
        key_name: str = "RootManageSharedAccessKey",
        key: str = "c2VjcmV0LWtleS1mb3ItdGhlLWRvdWJsZQ==",
        anonymous_management: bool = False,
        tls: bool = False,
    ) -> None:
        self.store = Store(hub, partitions)
        self.jwt_tokens: set[str] = set()  # bearer tokens (Microsoft Entra ID's) accepted
        self.key_name = key_name
        self.key = key
        self.anonymous_management = anonymous_management
        self.amqp_port = free_port()  # Proton's
        self.received = threading.Event()
        self._connections: set[Any] = set()
        self._listening = threading.Event()
        self._injector = EventInjector()
        container = Container(_Handler(self))
        container.selectable(self._injector)
        self._thread = threading.Thread(target=container.run, daemon=True, name="eventhubs-double")
        self._thread.start()
        if not self._listening.wait(10):
            raise RuntimeError("the Event Hubs double did not start listening")
        context = None
        self.ca_file = ""
        if tls:  # as the service: AMQP over TLS (port 5671 there), a certificate for 127.0.0.1
            import tempfile

            import trustme

            ca = trustme.CA()
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
            with tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False) as fh:
                fh.write(ca.cert_pem.bytes())
            self.ca_file = fh.name
        self.relay = FrameRelay(self.amqp_port, context)
        self.port = self.relay.port  # the client's
        self.relay.up()

    @property
    def namespace(self) -> str:
        """The fully qualified namespace (host:port) for the client's TLS mode."""
        return f"127.0.0.1:{self.port}"

    def connection_string(self, key: str | None = None, entity: bool = False) -> str:
        """A namespace connection string for the client's emulator mode (plain AMQP)."""
        parts = [
            f"Endpoint=sb://127.0.0.1:{self.port}",
            f"SharedAccessKeyName={self.key_name}",
            f"SharedAccessKey={self.key if key is None else key}",
            "UseDevelopmentEmulator=true",
        ]
        if entity:
            parts.append(f"EntityPath={self.store.hub}")
        return ";".join(parts)

    def up(self) -> None:
        """End an outage: accept connections again on the same port."""
        self.relay.up()

    def down(self) -> None:
        """An outage: connections refused, open ones cut (events are kept)."""
        self.relay.down()

    def close(self) -> None:
        """Stop for good."""
        self.relay.down()
        if self.ca_file:
            Path(self.ca_file).unlink(missing_ok=True)
        self._injector.trigger(ApplicationEvent("shutdown"))
        self._thread.join(10)

    def bodies(self) -> list[bytes]:
        """Every stored event's body."""
        return self.store.bodies()

    def wait_bodies(self, count: int, timeout: float = 20) -> list[bytes]:
        """The bodies once at least `count` are stored (AssertionError after `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            bodies = self.bodies()
            if len(bodies) >= count:
                return bodies
            time.sleep(0.05)
        raise AssertionError(f"{len(self.bodies())} events stored, expected {count}")
