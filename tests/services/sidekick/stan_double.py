"""A DOUBLE of a NATS Streaming server (nats-streaming-server), for the STAN output's tests.

NATS Streaming is not packaged for Debian and cannot be built here, so this double plays its
server side of the client protocol as a client of a real nats-server, with the protocol's
protobuf messages (`lanner.services.sidekick.stan.protocol_pb2`): ConnectRequest /
ConnectResponse on `_STAN.discover.<cluster>` (client id rules, a duplicate id refused while
the old client still answers its heartbeat inbox), PubMsg / PubAck on
`_STAN.pub.<cluster>.<subject>` (a PubMsg from an unknown client or connection is refused,
as the server does), Ping / PingResponse, CloseRequest / CloseResponse. It keeps what it
stored in memory, in order; a new double (a restarted server) knows no clients.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass, field

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from lanner.services.sidekick.stan import protocol_pb2 as pb

CLIENT_ID = re.compile(r"[A-Za-z0-9_-]+")


@dataclass
class Stored:
    """One message the double acknowledged (or, with `withhold_acks`, stored silently)."""

    client_id: str
    subject: str
    data: bytes
    guid: str
    acked: bool


@dataclass
class StanDouble:
    """The server side of NATS Streaming for one cluster id, on a NATS connection."""

    url: str
    cluster_id: str
    withhold_acks: int = 0  # store the next N messages but send no PubAck for them
    tls: ssl.SSLContext | None = None  # for a tls:// url
    stored: list[Stored] = field(default_factory=list)
    connects: list[str] = field(default_factory=list)  # client ids, one per accepted connect
    closes: list[str] = field(default_factory=list)
    pings: int = 0
    clients: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # id: (connID, hb inbox)
    _nc: Client | None = None

    @property
    def pub_prefix(self) -> str:
        """Where clients publish (the server's `_STAN.pub.<cluster>`)."""
        return f"_STAN.pub.{self.cluster_id}"

    async def start(self) -> StanDouble:
        """Connect to NATS and serve the cluster's subjects."""
        self._nc = await nats.connect(self.url, allow_reconnect=False, tls=self.tls)
        discover = f"_STAN.discover.{self.cluster_id}"
        await self._nc.subscribe(discover, cb=self._on_connect)
        await self._nc.subscribe(discover + ".pings", cb=self._on_ping)
        await self._nc.subscribe(self.pub_prefix + ".>", cb=self._on_publish)
        await self._nc.subscribe(f"_STAN.close.{self.cluster_id}", cb=self._on_close)
        await self._nc.flush()
        return self

    async def stop(self) -> None:
        """Disconnect (the server going away, with all it knew about clients)."""
        if self._nc is not None:
            await self._nc.close()

    def subjects(self) -> list[str]:
        """The subjects of the acknowledged messages, in order."""
        return [m.subject for m in self.stored if m.acked]

    async def _reply(self, subject: str, message: object) -> None:
        assert self._nc is not None
        await self._nc.publish(subject, message.SerializeToString())  # type: ignore[attr-defined]

    async def _on_connect(self, msg: Msg) -> None:
        assert self._nc is not None
        try:
            req = pb.ConnectRequest.FromString(msg.data)
        except Exception:
            await self._reply(
                msg.reply, pb.ConnectResponse(error="stan: invalid connection request")
            )
            return
        if not req.heartbeatInbox:
            await self._reply(
                msg.reply, pb.ConnectResponse(error="stan: invalid connection request")
            )
            return
        if not CLIENT_ID.fullmatch(req.clientID):
            error = "stan: invalid clientID: only alphanumeric and `-` or `_` characters allowed"
            await self._reply(msg.reply, pb.ConnectResponse(error=error))
            return
        old = self.clients.get(req.clientID)
        if old is not None:
            try:  # the old client still answering its heartbeats: a duplicate
                await self._nc.request(old[1], b"", timeout=0.5)
                error = "stan: clientID already registered"
                await self._reply(msg.reply, pb.ConnectResponse(error=error))
                return
            except Exception:
                pass  # the old one is gone: replaced
        self.clients[req.clientID] = (req.connID, req.heartbeatInbox)
        self.connects.append(req.clientID)
        response = pb.ConnectResponse(
            pubPrefix=self.pub_prefix,
            subRequests=f"_STAN.sub.{self.cluster_id}",
            unsubRequests=f"_STAN.unsub.{self.cluster_id}",
            subCloseRequests=f"_STAN.subclose.{self.cluster_id}",
            closeRequests=f"_STAN.close.{self.cluster_id}",
            protocol=1,
        )
        if req.protocol >= 1:
            response.pingRequests = f"_STAN.discover.{self.cluster_id}.pings"
            response.pingInterval = req.pingInterval
            response.pingMaxOut = req.pingMaxOut
        await self._reply(msg.reply, response)

    async def _on_publish(self, msg: Msg) -> None:
        try:
            pub = pb.PubMsg.FromString(msg.data)
        except Exception:
            await self._reply(msg.reply, pb.PubAck(error="stan: invalid publish request"))
            return
        known = self.clients.get(pub.clientID)
        valid = (
            pub.guid
            and msg.subject == f"{self.pub_prefix}.{pub.subject}"
            and known is not None
            and (not pub.connID or pub.connID == known[0])
        )
        if not valid:
            await self._reply(
                msg.reply, pb.PubAck(guid=pub.guid, error="stan: invalid publish request")
            )
            return
        ack = self.withhold_acks <= 0
        self.withhold_acks -= 0 if ack else 1
        self.stored.append(Stored(pub.clientID, pub.subject, pub.data, pub.guid, ack))
        if ack:
            await self._reply(msg.reply, pb.PubAck(guid=pub.guid))

    async def _on_ping(self, msg: Msg) -> None:
        self.pings += 1
        ping = pb.Ping.FromString(msg.data)
        if any(conn_id == ping.connID for conn_id, _ in self.clients.values()):
            await self._reply(msg.reply, pb.PingResponse())
        else:
            error = "stan: client has been replaced or is no longer registered"
            await self._reply(msg.reply, pb.PingResponse(error=error))

    async def _on_close(self, msg: Msg) -> None:
        req = pb.CloseRequest.FromString(msg.data)
        if self.clients.pop(req.clientID, None) is None:
            await self._reply(msg.reply, pb.CloseResponse(error="stan: unknown clientID"))
            return
        self.closes.append(req.clientID)
        await self._reply(msg.reply, pb.CloseResponse())
