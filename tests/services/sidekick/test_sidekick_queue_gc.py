"""A backlog waits as bytes: every field survives to the output, after full garbage
collections, with and without a spool; a growing queue adds no object the collector walks."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from pathlib import Path
from typing import ClassVar

import orjson
import pytest
from prometheus_client import CollectorRegistry

from lanner.services.sidekick import delivery
from lanner.services.sidekick.alert import Alert, Priority
from lanner.services.sidekick.delivery import PACK_AFTER, Dispatcher, RetryPolicy
from lanner.services.sidekick.enrich import Enricher
from lanner.services.sidekick.ingest import Ingest
from lanner.services.sidekick.outputs.base import Output, OutputContext, alert_uuid, falco_payload
from lanner.services.sidekick.stats import Stats

from .helpers import make_alert

FAST = RetryPolicy(backoff=0.01, maxbackoff=0.02)


class Keeper(Output):
    """Keeps every alert it is given, once `gate` opens."""

    kind = "keeper"
    family = "test"
    enable_key = None
    options: ClassVar[dict] = {}

    def __init__(
        self, gate: asyncio.Event, kind: str = "keeper", minimum: Priority | None = None
    ) -> None:
        super().__init__({"minimumpriority": minimum}, OutputContext())
        self.kind = kind  # type: ignore[misc]  # two of them in one dispatcher
        self.gate = gate
        self.got: list[Alert] = []

    async def send(self, alert: Alert) -> None:
        await self.gate.wait()
        self.got.append(alert)


def bodies() -> list[bytes]:
    """Alerts as Falco and other clients send them: extra and nested keys, a received
    uuid, a lower-case priority, null and empty optional fields, absent ones, big ints."""
    full = make_alert(rule="full", **{"proc.pid": 4242, "evt.num": 2**63 + 5, "x.f": 0.1})
    full["uuid"] = "5a1d1e0e-0000-4000-8000-000000000001"
    full["extra"] = {"nested": [1, 2.5, None, True, {"k": "v"}], "empty": {}}
    lower = make_alert(priority="warning", rule="lower-case priority")
    nulls = {
        "rule": "nulls",
        "priority": "Critical",
        "time": "2023-11-14T16:14:13.012345678Z",
        "output": "",
        "tags": None,
        "output_fields": None,
        "hostname": "",
    }
    bare = {"rule": "bare", "priority": "Notice", "time": "2023-11-14T16:14:13Z"}
    unicode = make_alert(rule="ünïcode ✓", **{"fd.name": "/tmp/\u00e9\u6f22\U0001f600"})
    return [orjson.dumps(b) for b in (full, lower, nulls, bare, unicode)]


def expected(body: bytes, enricher: Enricher) -> Alert:
    """The alert as checked and enriched in hand, before it is queued."""
    return enricher.apply(Alert.from_dict(orjson.loads(body)))


def same_for_outputs(got: Alert, want: Alert) -> None:
    """Everything an output reads of an alert is the same."""
    for name in ("rule", "priority", "time", "output", "source", "hostname", "tags"):
        assert getattr(got, name) == getattr(want, name), name
    assert got.output_fields == want.output_fields
    assert [(k, type(v)) for k, v in got.output_fields.items()] == [
        (k, type(v)) for k, v in want.output_fields.items()
    ]
    assert list(got.to_dict().items()) == list(want.to_dict().items())  # order too
    assert got.json() == orjson.dumps(want.to_dict())
    assert alert_uuid(got) == alert_uuid(want)
    assert falco_payload(got) == falco_payload(want)


@pytest.mark.parametrize("pack_after", [0, 3], ids=["all-packed", "mixed"])
@pytest.mark.parametrize("spool", [False, True], ids=["memory", "spool"])
def test_queued_alert_delivered_after_full_collections_carries_every_field(
    tmp_path: Path, spool: bool, pack_after: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behind the first `pack_after` alerts of a queue, alerts wait as their JSON."""
    monkeypatch.setattr(delivery, "PACK_AFTER", pack_after)
    enricher = Enricher(
        customfields={"cluster": "prod"}, customtags=["lanner"], outputfieldformat=""
    )
    sent = bodies()

    async def main() -> tuple[list[Alert], list[Alert]]:
        gate = asyncio.Event()
        every, severe = Keeper(gate), Keeper(gate, "severe", Priority.CRITICAL)
        stats = Stats(CollectorRegistry())
        spooldir = str(tmp_path / "spool") if spool else ""
        d = Dispatcher([every, severe], stats, FAST, spooldir=spooldir)
        await d.start()
        ingest = Ingest(d, enricher, stats)
        answers: list[tuple[int, bytes]] = []
        for body in sent:
            now = ingest.handle_soon(body, b"application/json", lambda *a: answers.append(a))
            if now is not None:
                answers.append(now)
        # one NDJSON batch too (a separate path: submit_many)
        answers.append(ingest.handle(b"\n".join(sent), b"application/x-ndjson"))
        await asyncio.sleep(0.05)
        assert [status for status, _ in answers] == [200] * (len(sent) + 1)
        assert d.pending() == 2 * len(sent) + 2  # all to `every`, "nulls" twice to `severe`
        for _ in range(3):
            gc.collect()
        gate.set()
        assert await d.drain(10)
        await d.stop()
        return every.got, severe.got

    every, severe = asyncio.run(asyncio.wait_for(main(), 30))
    want = [expected(b, enricher) for b in sent] * 2
    assert len(every) == len(want)
    for got, one in zip(every, want, strict=True):
        same_for_outputs(got, one)
    assert [a.rule for a in severe] == ["nulls", "nulls"]
    same_for_outputs(severe[0], want[2])
    assert every[0].raw["uuid"] == "5a1d1e0e-0000-4000-8000-000000000001"
    assert every[0].output_fields["evt.num"] == 2**63 + 5
    assert every[0].output_fields["cluster"] == "prod" and every[0].tags[-1] == "lanner"


def test_queue_adds_no_tracked_object_per_alert() -> None:
    """A growing queue is not walked by full collections (it was five objects an alert):
    from 1,000 to 3,000 queued alerts, the collector tracks no more objects."""
    body = orjson.dumps(make_alert())

    async def main() -> tuple[int, int, int]:
        gate = asyncio.Event()
        outs = [Keeper(gate), Keeper(gate, "second")]
        stats = Stats(CollectorRegistry())
        d = Dispatcher(list(outs), stats, FAST, queuesize=10_000)
        await d.start()
        ingest = Ingest(d, Enricher(customtags=["t"]), stats)
        await asyncio.sleep(0)
        for _ in range(1000):  # past PACK_AFTER
            assert ingest.handle(body)[0] == 200
        gc.collect()
        before = len(gc.get_objects())
        for _ in range(2000):
            assert ingest.handle(body)[0] == 200
        gc.collect()
        after = len(gc.get_objects())
        pending = d.pending()
        gate.set()
        assert await d.drain(10)
        await d.stop()
        return before, after, pending

    before, after, pending = asyncio.run(asyncio.wait_for(main(), 30))
    assert PACK_AFTER < 1000 and pending >= 2 * 3000 - 2  # a consumer may hold one
    assert after - before < 100, f"{after - before} tracked objects for 2,000 queued alerts"


def test_a_queued_alert_holds_about_its_json_length() -> None:
    """Memory under overload: an entry is its JSON and a pair (about 400 bytes for a
    300-byte alert; 1,600 as an Alert; 4,400 with the buffer orjson wrote into)."""
    body = orjson.dumps(make_alert())

    async def main() -> int:
        gate = asyncio.Event()
        stats = Stats(CollectorRegistry())
        d = Dispatcher([Keeper(gate)], stats, FAST, queuesize=10_000)
        await d.start()
        ingest = Ingest(d, Enricher(), stats)
        for _ in range(PACK_AFTER + 100):  # past the alerts held as they are
            ingest.handle(body)
        await asyncio.sleep(0)
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(2000):
                ingest.handle(body)
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        gate.set()
        assert await d.drain(10)
        await d.stop()
        return grown

    grown = asyncio.run(asyncio.wait_for(main(), 30))
    assert grown / 2000 < len(body) + 250, f"{grown / 2000:.0f} bytes per queued alert"


def test_an_alert_json_cannot_hold_is_queued_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    """A value orjson cannot encode (an int over 64 bits, set by code, not JSON) still
    reaches the output without a spool, as the very alert submitted."""
    monkeypatch.setattr(delivery, "PACK_AFTER", 0)
    alert = Alert.from_dict(make_alert(rule="huge"))
    alert.output_fields["big"] = 2**70

    async def main() -> list[Alert]:
        gate = asyncio.Event()
        out = Keeper(gate)
        d = Dispatcher([out], Stats(CollectorRegistry()), FAST)
        await d.start()
        assert d.submit(alert) == ["keeper"]
        gate.set()
        assert await d.drain(10)
        await d.stop()
        return out.got

    assert asyncio.run(asyncio.wait_for(main(), 30)) == [alert]


def test_pack_unpack_round_trip_keeps_what_outputs_read() -> None:
    enricher = Enricher(customfields={"c": "v"}, customtags=["x"])
    for body in bodies():
        alert = expected(body, enricher)
        again = Alert.unpack(alert.pack())
        same_for_outputs(again, alert)
        assert again == Alert.from_dict(orjson.loads(alert.pack()))  # as a spool reload reads
        assert again.packed == alert.pack() and not alert.packed


def test_started_process_leaves_its_start_up_objects_out_of_collections() -> None:
    """`lanner sidekick` (create_app with freeze_gc) moves what exists once it started out of
    the collector's generations: a later full collection walks only what came after."""
    import httpx

    from lanner.services.sidekick.app import create_app
    from lanner.services.sidekick.config import load_config

    async def main() -> tuple[int, int]:
        app = create_app(load_config(None, {"DELIVERY_SPOOLDIR": "none"}), freeze_gc=True)
        async with app.router.lifespan_context(app):
            frozen, walked = gc.get_freeze_count(), len(gc.get_objects())
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://sidekick") as c:
                assert (await c.post("/", json=make_alert())).status_code == 200
        return frozen, walked

    try:
        frozen, walked = asyncio.run(asyncio.wait_for(main(), 30))
    finally:
        gc.unfreeze()  # this test process goes on
    assert frozen > 20_000 and walked < frozen // 10, (frozen, walked)
