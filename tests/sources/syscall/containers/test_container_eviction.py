"""Container metadata goes when the container's last thread is gone (libsinsp's
``remove_inactive_containers``), and the cache is capped."""

from __future__ import annotations

import io
import threading

from syscall_testutil import block, event, proc_v1, section_header

from lanner.exceptions import LookupFailed
from lanner.sources.syscall import event_table as et
from lanner.sources.syscall import read_capture
from lanner.sources.syscall.containers.announce import ContainerAnnouncer
from lanner.sources.syscall.containers.info import ContainerInfo
from lanner.sources.syscall.containers.store import MetadataStore
from lanner.sources.syscall.state import StateEngine

A, B = "a" * 12, "b" * 12
S = 1_000_000_000  # one second of event time


def _spawn(tid: int, ts: int, container: str) -> bytes:
    """The child side of a clone: a new process of ``container`` (64 hex from 12)."""
    cgroups = b"cpu=/docker/" + (container * 6)[:64].encode() + b"\0"
    return event(
        et.PPME_SYSCALL_CLONE_20_X,
        tid,
        ts,
        res=0,
        exe="sh",
        comm="sh",
        pid=tid,
        ptid=50,
        cgroups=cgroups,
    )


def _capture(*evs: bytes) -> bytes:
    procs = block(
        0x202,
        proc_v1(1, 1, 0, "systemd", "/sbin/init", [], "/")
        + proc_v1(50, 50, 1, "containerd-shim", "/usr/bin/containerd-shim", [], "/"),
    )
    return section_header() + procs + b"".join(evs)


def _close(tid: int, ts: int) -> bytes:
    return event(et.PPME_SYSCALL_CLOSE_E, tid, ts, fd=9)


def _exit(tid: int, ts: int) -> bytes:
    return event(et.PPME_PROCEXIT_1_E, tid, ts, reaper_tid=1)


def _run(data: bytes, ann: ContainerAnnouncer) -> list[tuple[int, list[str], list[str]]]:
    """Feed the events to the announcer as the live pipeline does. After each event:
    its time in seconds, the containers cached, the containers announced."""
    steps = []
    for e in read_capture(io.BytesIO(data), StateEngine()):
        due = ann.check(e)
        steps.append((e.ts // S, ann.store.known(), [d.thread.container_id for d in due]))
    return steps


def test_container_goes_with_its_last_thread_and_a_used_one_stays() -> None:
    store = MetadataStore()
    for cid in (A, B):
        store.put(ContainerInfo(id=cid, name=cid))
    ann = ContainerAnnouncer(store, sweep_interval=10)
    data = _capture(
        _spawn(200, 1 * S, A),  # the first event: the first sweep is due at 11 s
        _spawn(210, 1 * S, A),
        _spawn(300, 1 * S, B),
        _exit(200, 3 * S),
        _close(300, 15 * S),  # sweep: 210 still runs in A; the next one is due at 25 s
        _exit(210, 16 * S),  # A's last thread
        _close(300, 20 * S),
        _close(300, 26 * S),  # sweep: A has no thread any more, B has
    )
    known = {ts: cached for ts, cached, _ in _run(data, ann)}
    assert known[15] == [A, B]
    assert known[16] == known[20] == [A, B]
    assert known[26] == [B]
    assert store.get(A) is None and store.get(B).name == B  # type: ignore[union-attr]
    assert store.evicted == 1


def test_a_container_back_after_eviction_is_announced_again() -> None:
    ann = ContainerAnnouncer(MetadataStore(), sweep_interval=10)  # no runtime: at once
    data = _capture(
        _spawn(200, 1 * S, A),
        _spawn(300, 1 * S, B),
        _exit(200, 3 * S),
        _close(300, 12 * S),  # sweep: A is gone
        _spawn(400, 13 * S, A),  # docker restart keeps the id
        _close(400, 14 * S),
    )
    announced = [(ts, cids) for ts, _, cids in _run(data, ann) if cids]
    assert announced == [(1, [A]), (1, [B]), (13, [A])]


def test_no_sweep_before_an_interval_of_event_time() -> None:
    store = MetadataStore()
    store.put(ContainerInfo(id=A))
    ann = ContainerAnnouncer(store)  # 30 s, as libsinsp
    data = _capture(_spawn(200, 1 * S, A), _exit(200, 2 * S), _close(1, 30 * S), _close(1, 32 * S))
    known = {ts: cached for ts, cached, _ in _run(data, ann)}
    assert known[30] == [A]
    assert known[32] == []


def test_sweep_drops_settled_lookups_and_back_off_but_not_running_ones() -> None:
    store = MetadataStore()
    release = threading.Event()

    def resolver(cid: str) -> ContainerInfo | None:
        if cid == A:
            raise LookupFailed("engine down")
        if cid == B:
            release.wait(10)
            return ContainerInfo(id=cid)
        return None  # unknown to the runtime

    store.add_resolver(resolver)
    unknown = "c" * 12
    store.wait(A, 10)
    store.wait(unknown, 10)
    store.get(B)  # in flight until released
    assert A in store._backoff and unknown in store._pending
    assert store.sweep(set()) == [A, unknown]
    assert store._pending.keys() == {B} and not store._backoff and not store._retry_at
    release.set()
    assert store.wait(B, 10) is not None  # the running lookup landed
    assert store.sweep({B}) == []  # in use
    assert store.sweep(set()) == [B]
    assert store.known() == [] and store._pending == {}
    store.close()


def test_cap_given_to_the_store() -> None:
    store = MetadataStore(max_containers=2)
    for cid in (A, B, "c" * 12):
        store.put(ContainerInfo(id=cid))
    assert store.known() == [B, "c" * 12]
