"""The coalescing transport under sidekick's HTTP server: one write per loop turn."""

from __future__ import annotations

import asyncio

from lanner.services.sidekick.httpserver import CoalescingTransport


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
