"""The dispatcher in-process: concurrency, ordering, spool reload, unexpected output errors."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, ClassVar

from prometheus_client import CollectorRegistry

from lanner.exceptions import DeliveryError
from lanner.services.sidekick.alert import Alert
from lanner.services.sidekick.delivery import Dispatcher, RetryPolicy, Spool
from lanner.services.sidekick.outputs.base import Output, OutputContext
from lanner.services.sidekick.stats import Stats

from .helpers import make_alert

FAST = RetryPolicy(backoff=0.01, maxbackoff=0.02)


class Recorder(Output):
    """An output that records rules, optionally blocking until `gate` opens."""

    kind = "recorder"
    family = "test"
    enable_key = None
    options: ClassVar[dict] = {}

    def __init__(
        self, fail: int = 0, gate: asyncio.Event | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__({}, OutputContext())
        self.sent: list[str] = []
        self.fail = fail
        self.gate = gate
        self.retry_after = retry_after
        self.active = 0
        self.peak = 0

    async def send(self, alert: Alert) -> None:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.fail:
                self.fail -= 1
                raise DeliveryError("down", self.retry_after)
            if alert.rule == "bug":
                raise KeyError("a bug in the output")
            self.sent.append(alert.rule)
        finally:
            self.active -= 1


def alert(rule: str) -> Alert:
    return Alert.from_dict(make_alert(rule=rule))


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_concurrency_delivers_in_parallel() -> None:
    async def main() -> None:
        gate = asyncio.Event()
        out = Recorder(gate=gate)
        d = Dispatcher([out], Stats(CollectorRegistry()), FAST, concurrency=3)
        await d.start()
        for i in range(5):
            d.submit(alert(f"r{i}"))
        while out.active < 3:
            await asyncio.sleep(0.01)
        assert out.active == 3 and d.pending() == 5
        gate.set()
        assert await d.drain(10)
        await d.stop()
        assert sorted(out.sent) == [f"r{i}" for i in range(5)] and out.peak == 3

    run(main())


def test_single_consumer_keeps_order_through_failures() -> None:
    async def main() -> None:
        out = Recorder(fail=3)
        stats = Stats(CollectorRegistry())
        d = Dispatcher([out], stats, FAST)
        await d.start()
        for i in range(5):
            d.submit(alert(f"r{i}"))
        d.submit(alert("bug"))
        d.submit(alert("after bug"))
        assert await d.drain(10)
        await d.stop()
        assert out.sent == [f"r{i}" for i in range(5)] + ["after bug"]
        assert stats.snapshot()["recorder"] == {"failed": 3, "retried": 3, "sent": 6, "dropped": 1}

    run(main())


def test_spool_overflow_is_reloaded(tmp_path: Path) -> None:
    async def main() -> None:
        gate = asyncio.Event()
        out = Recorder(gate=gate)
        d = Dispatcher([out], Stats(CollectorRegistry()), FAST, queuesize=2, spooldir=str(tmp_path))
        await d.start()
        for i in range(7):
            d.submit(alert(f"r{i}"))
        assert len(d.workers["recorder"].queue) == 2  # the rest wait in the spool
        gate.set()
        while len(out.sent) < 7:
            await asyncio.sleep(0.01)
        await d.stop()
        assert out.sent == [f"r{i}" for i in range(7)]
        assert Spool(tmp_path).pending("recorder") == []

    run(main())


def test_retry_after_hint_replaces_back_off() -> None:
    async def main() -> None:
        out = Recorder(fail=2, retry_after=0.0)
        # an hour of back-off: only the target's Retry-After hint lets this finish in time
        slow = RetryPolicy(backoff=3600, maxbackoff=3600)
        d = Dispatcher([out], Stats(CollectorRegistry()), slow)
        await d.start()
        d.submit(alert("limited"))
        assert await d.drain(20)
        await d.stop()
        assert out.sent == ["limited"]

    run(main())


def test_spool_failure_refuses_the_alert(tmp_path: Path) -> None:
    import httpx

    from lanner.services.sidekick.app import create_app
    from lanner.services.sidekick.config import load_config

    async def main() -> None:
        env = {"FILE_PATH": str(tmp_path / "out.jsonl"), "DELIVERY_SPOOLDIR": str(tmp_path / "sp")}
        app = create_app(load_config(None, env))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://sidekick") as c:
                assert (await c.post("/", json=make_alert())).status_code == 200
                app.state.dispatcher.spool.db.close()  # the disk goes away
                resp = await c.post("/", json=make_alert())
                assert resp.status_code == 503
                assert resp.json()["error"].startswith("spool unavailable")
                assert app.state.stats.snapshot()["input"] == {"accepted": 1, "failed": 1}

    run(main())
