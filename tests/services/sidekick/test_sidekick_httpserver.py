"""The coalescing transport under sidekick's HTTP server: one write per loop turn."""

from __future__ import annotations

import asyncio
import json

import uvicorn
from uvicorn.server import ServerState

from lanner.services.sidekick.app import create_app
from lanner.services.sidekick.config import load_config
from lanner.services.sidekick.httpserver import FastPath, protocol_for
from lanner.services.sidekick.turnwrites import CoalescingTransport

from .helpers import make_alert


class FakeTransport:
    """Records what reaches the real transport."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 1)}.get(name, default)


def test_writes_of_one_turn_go_out_together_and_close_flushes() -> None:
    async def run() -> FakeTransport:
        real = FakeTransport()
        t = CoalescingTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
        t.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
        t.write(b"{}")
        assert real.writes == [] and t.get_write_buffer_size() == 40
        await asyncio.sleep(0)
        assert real.writes == [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"]
        t.write(b"last")
        t.close()  # flushed before closing, not lost
        assert real.writes[-1] == b"last" and real.closed
        assert t.get_extra_info("peername") == ("127.0.0.1", 1)  # the rest is the real one's
        return real

    real = asyncio.run(run())
    assert len(real.writes) == 2


def test_the_connections_written_to_in_one_turn_are_flushed_together_at_its_end() -> None:
    """Answers to requests read in one loop turn leave after all of them were handled, one
    write per connection, from one callback: none is sent while the turn still runs."""

    async def run() -> tuple[FakeTransport, FakeTransport, list[list[bytes]]]:
        loop = asyncio.get_running_loop()
        one, two = FakeTransport(), FakeTransport()
        a = CoalescingTransport(one, loop)  # type: ignore[arg-type]
        b = CoalescingTransport(two, loop)  # type: ignore[arg-type]
        seen: list[list[bytes]] = []
        a.write(b"a1")
        b.write(b"b1")
        loop.call_soon(lambda: seen.append(one.writes + two.writes))  # queued after the flush
        a.write(b"a2")
        assert one.writes == [] and two.writes == []
        await asyncio.sleep(0)
        b.write(b"b2")  # a later turn: flushed on its own
        await asyncio.sleep(0)
        return one, two, seen

    one, two, seen = asyncio.run(run())
    assert seen == [[b"a1a2", b"b1"]]
    assert one.writes == [b"a1a2"] and two.writes == [b"b1", b"b2"]


def test_a_connection_is_closed_after_keep_alive_idle_time_since_its_last_answer() -> None:
    """One idle check per connection: a connection answering within the keep-alive timeout
    stays open however long ago its first answer was; idle that long, it is closed."""

    async def run() -> list[tuple[str, int, bool]]:
        app = create_app(load_config(None, {"DELIVERY_SPOOLDIR": "none"}))
        config = uvicorn.Config(app, http=protocol_for(FastPath(app.state.ingest, "")))
        config.load()
        protocol = config.http_protocol_class(  # type: ignore[call-arg]
            config=config, server_state=ServerState(), app_state={}
        )
        protocol.timeout_keep_alive = 0.4
        real = FakeTransport()
        protocol.connection_made(real)
        body = json.dumps(make_alert()).encode()
        request = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (
            len(body),
            body,
        )
        seen: list[tuple[str, int, bool]] = []
        for step in range(4):  # 0.75 s of requests 0.25 s apart
            protocol.data_received(request)
            await asyncio.sleep(0.25)
            seen.append((f"request {step}", len(real.writes), real.closed))
        await asyncio.sleep(0.3)  # 0.55 s since the last answer
        seen.append(("idle", len(real.writes), real.closed))
        protocol.connection_lost(None)
        return seen

    seen = asyncio.run(run())
    assert seen == [
        ("request 0", 1, False),
        ("request 1", 2, False),
        ("request 2", 3, False),
        ("request 3", 4, False),
        ("idle", 4, True),
    ]
