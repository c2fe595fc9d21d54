"""Retention by age and by count, on both stores."""

from __future__ import annotations

import asyncio

from ui_seed import make_alerts

from lanner.services.ui.alerts import from_alert
from lanner.services.ui.query import EventFilter
from lanner.services.ui.retention import Retention
from lanner.services.ui.store import Store

NOW = 1_800_000_000_000_000_000
MINUTE = 60_000_000_000


def seqs(store: Store) -> list[int]:
    rows = store.iter_events(EventFilter(), 10_000)
    return sorted(int(r["alert"]["output"].rsplit("seq=", 1)[1]) for r in rows)


def test_prune_by_age(store: Store) -> None:
    store.insert([from_alert(a) for a in make_alerts(30, NOW)])
    removed = Retention(max_age_ns=10 * MINUTE).apply(store, now_ns=NOW)
    assert removed == 19
    assert seqs(store) == list(range(19, 30))  # times NOW-10min .. NOW are kept
    assert store.count(EventFilter(tags=("filesystem",))) == sum(
        "filesystem" in a["tags"] for a in make_alerts(30, NOW)[19:]
    )
    assert store.count(EventFilter(query="seq")) == 11  # search index pruned too


def test_prune_by_count_keeps_newest_stored(store: Store) -> None:
    store.insert([from_alert(a) for a in make_alerts(30, NOW)])
    assert Retention(max_count=7).apply(store, now_ns=NOW) == 23
    assert seqs(store) == list(range(23, 30))
    assert Retention(max_count=7).apply(store, now_ns=NOW) == 0


def test_no_limits_is_inactive(store: Store) -> None:
    store.insert([from_alert(a) for a in make_alerts(5, NOW)])
    retention = Retention()
    assert not retention.active
    assert retention.apply(store, now_ns=NOW) == 0 and len(seqs(store)) == 5


def test_background_task_prunes(store: Store) -> None:
    store.insert([from_alert(a) for a in make_alerts(10, NOW)])
    retention = Retention(max_count=3, interval_seconds=0.01)

    async def run_briefly() -> None:
        task = asyncio.create_task(retention.run(store))
        for _ in range(200):
            await asyncio.sleep(0.02)
            if store.count(EventFilter()) == 3:
                break
        task.cancel()

    asyncio.run(run_briefly())
    assert seqs(store) == [7, 8, 9]
