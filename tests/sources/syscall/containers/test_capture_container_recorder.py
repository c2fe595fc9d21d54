"""ContainerRecorder: the container events ``lanner capture`` writes, once per container."""

from __future__ import annotations

import time

from lanner.exceptions import LookupFailed
from lanner.sources.syscall.containers.capture import ContainerRecorder, info_from_container_json
from lanner.sources.syscall.containers.info import ContainerInfo
from lanner.sources.syscall.containers.store import MetadataStore
from lanner.sources.syscall.event_table import PPME_CONTAINER_JSON_2_E


def _until(check, timeout: float = 5.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = check()
        if out:
            return out
        time.sleep(0.02)
    return check()


def test_one_event_per_container_with_metadata() -> None:
    store = MetadataStore()
    known = {"aaaaaaaaaaaa": ContainerInfo(id="aaaaaaaaaaaa", name="web", runtime="docker")}
    store.add_resolver(lambda cid: known.get(cid))
    rec = ContainerRecorder(store)
    for cid in ("host", "aaaaaaaaaaaa", "bbbbbbbbbbbb", "aaaaaaaaaaaa"):
        rec.see(cid)
    assert _until(rec.settled)
    events = rec.due(ts=7)
    assert [(e.type, e.tid, e.ts) for e in events] == [(PPME_CONTAINER_JSON_2_E, -1, 7)]
    assert info_from_container_json(events[0].raw(0) or b"") == known["aaaaaaaaaaaa"]
    assert rec.due(ts=8) == [] and rec.written == 1
    rec.see("aaaaaaaaaaaa")  # seen again: no second event
    assert rec.due(ts=9) == []
    store.close()


def test_metadata_that_comes_late_is_written_then() -> None:
    store = MetadataStore()
    store.MAX_BACKOFF = 0.0
    answers = {"n": 0}

    def flaky(cid: str) -> ContainerInfo | None:
        answers["n"] += 1
        if answers["n"] == 1:
            raise LookupFailed("engine is restarting")
        return ContainerInfo(id=cid, name="late")

    store.add_resolver(flaky)
    rec = ContainerRecorder(store, retry_interval=0.0)
    rec.see("cccccccccccc")
    assert _until(rec.settled)
    assert rec.due() == [] and rec.waiting()  # failed: retried when asked again
    events = _until(lambda: rec.due())
    assert len(events) == 1 and not rec.waiting()
    store.close()


def test_no_runtime_nothing_waits() -> None:
    store = MetadataStore()
    rec = ContainerRecorder(store)
    rec.see("dddddddddddd")
    assert rec.settled() and rec.due() == [] and not rec.waiting()
    store.close()
