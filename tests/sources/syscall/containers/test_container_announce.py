"""Falco's ``container`` event: emitted once per container when its lookup settles."""

from __future__ import annotations

import time
from types import SimpleNamespace

from lanner.exceptions import LookupFailed
from lanner.sources.syscall.containers.announce import ContainerAnnouncer
from lanner.sources.syscall.containers.info import ContainerInfo
from lanner.sources.syscall.containers.store import MetadataStore


def _event(cid: str, tid: int = 7) -> SimpleNamespace:
    return SimpleNamespace(thread=SimpleNamespace(container_id=cid, tid=tid), ts=123)


def _until_announced(ann: ContainerAnnouncer, cid: str, timeout: float = 10.0) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        due = ann.check(_event(cid))
        if due:
            return due
        time.sleep(0.01)
    return []


def test_announced_once_when_the_metadata_arrives() -> None:
    store = MetadataStore()
    store.add_resolver(lambda cid: ContainerInfo(id=cid, name="web", privileged=True))
    ann = ContainerAnnouncer(store, wait=3600)
    due = _until_announced(ann, "0123456789ab")
    assert len(due) == 1 and due[0].thread.container_id == "0123456789ab"
    assert store.get("0123456789ab").name == "web"  # the event sees the metadata
    assert ann.check(_event("0123456789ab")) == []  # once only
    assert ann.check(_event("host")) == []  # the host is no container
    store.close()


def test_announced_without_metadata_when_the_runtime_fails() -> None:
    store = MetadataStore()

    def failing(cid: str) -> ContainerInfo | None:
        raise LookupFailed("engine down")

    store.add_resolver(failing)
    ann = ContainerAnnouncer(store, wait=3600)  # not the cap: the failure settles it
    due = _until_announced(ann, "0123456789ab")
    assert len(due) == 1 and store.get("0123456789ab") is None
    store.close()


def test_announced_at_once_without_runtimes() -> None:
    ann = ContainerAnnouncer(MetadataStore(), wait=3600)
    assert len(ann.check(_event("0123456789ab"))) == 1


def test_hanging_runtime_is_announced_after_the_wait() -> None:
    store = MetadataStore()

    def hanging(cid: str) -> ContainerInfo | None:
        time.sleep(5)
        return None

    store.add_resolver(hanging)
    ann = ContainerAnnouncer(store, wait=0.2)
    assert len(_until_announced(ann, "0123456789ab")) == 1
    store.close()


def test_store_is_bounded_and_drops_settled_lookups() -> None:
    store = MetadataStore()
    store.MAX_CONTAINERS = 3
    store.add_resolver(lambda cid: ContainerInfo(id=cid, name=cid))
    for i in range(5):
        cid = f"{i:012x}"
        assert store.wait(cid, 10) is not None
    assert list(store._infos) == [f"{i:012x}" for i in (2, 3, 4)]  # the oldest went
    assert store._pending == {}  # answered lookups keep no future
    assert store.wait(f"{0:012x}", 10).name == f"{0:012x}"  # seen again: looked up again
    store.close()
