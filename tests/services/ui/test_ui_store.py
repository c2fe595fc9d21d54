"""Store internals the API tests cannot force: each store's two full-text plans agree."""

from __future__ import annotations

import pytest
from ui_seed import make_alerts

from lanner.services.ui.alerts import from_alert
from lanner.services.ui.query import EventFilter
from lanner.services.ui.store import Store

QUERIES = [
    "xmrig",
    "shadow python3",
    "sha*",
    "etc passwd",
    "mitre",
    "seq 17",
    "1*",
    "nothing-like-this",
    "web 1",
]


def walk(store: Store, flt: EventFilter) -> list[int]:
    return [r["id"] for r in store.iter_events(flt, 10_000, chunk=13)]


def force_plan(store: Store, by_ids: bool) -> None:
    """Make the store list matching ids (True) or walk the time index (False)."""
    if hasattr(store, "fts_scan_threshold"):  # SQLite
        store.fts_scan_threshold = 10**9 if by_ids else 1
    else:  # PostgreSQL
        store.fts_list_threshold = 10**9 if by_ids else 1


@pytest.fixture
def seeded(store: Store) -> Store:
    store.insert([from_alert(a) for a in make_alerts(300, 1_800_000_000 * 10**9)])
    return store


@pytest.mark.parametrize("query", QUERIES)
def test_full_text_plans_agree(seeded: Store, query: str) -> None:
    for flt in (EventFilter(query=query), EventFilter(query=query, hostnames=("node-2",))):
        force_plan(seeded, by_ids=True)
        listed = walk(seeded, flt)
        count = seeded.count(flt)
        force_plan(seeded, by_ids=False)
        assert walk(seeded, flt) == listed
        assert seeded.count(flt) == count == len(listed)
        # the live stream's per-row check agrees too
        assert [r["id"] for r in seeded.newer(flt, 0, 1000)] == sorted(listed)
    assert bool(listed) == (query != "nothing-like-this")


def test_tag_page_walk_matches_tag_counts(seeded: Store) -> None:
    ids = walk(seeded, EventFilter(tags=("container",)))
    assert len(ids) == seeded.count(EventFilter(tags=("container",))) > 0
    stats = seeded.stats(EventFilter(since_ns=0), 3600 * 10**9)
    assert dict(stats["tag"])["container"] == len(ids)
    stats = seeded.stats(EventFilter(), 3600 * 10**9)
    assert dict(stats["tag"])["container"] == len(ids)
