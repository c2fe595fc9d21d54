"""Store internals that the API tests cannot force: SQLite's two full-text plans."""

from __future__ import annotations

from pathlib import Path

import pytest
from ui_seed import make_alerts

from lanner.services.ui.alerts import from_alert
from lanner.services.ui.query import EventFilter
from lanner.services.ui.store.sqlite import SQLiteStore

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


def walk(store: SQLiteStore, flt: EventFilter) -> list[int]:
    return [r["id"] for r in store.iter_events(flt, 10_000, chunk=13)]


@pytest.mark.parametrize("query", QUERIES)
def test_scan_plan_and_index_plan_agree(tmp_path: Path, query: str) -> None:
    store = SQLiteStore(tmp_path / "ui.db")
    store.insert([from_alert(a) for a in make_alerts(300, 1_800_000_000 * 10**9)])
    filters = [EventFilter(query=query), EventFilter(query=query, hostnames=("node-2",))]
    for flt in filters:
        store.fts_scan_threshold = 10**9  # always list matches through FTS5
        listed = walk(store, flt)
        store.fts_scan_threshold = 1  # always walk the time index and check text
        scanned = walk(store, flt)
        assert listed == scanned
        assert store.newer(flt, 0, 1000) == sorted(
            (r for r in store.iter_events(flt, 1000)), key=lambda r: r["id"]
        )
    if query != "nothing-like-this":
        assert listed or query == "seq 17"
    store.close()
