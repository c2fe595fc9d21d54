"""The syscall pipeline: state in event order, container events into the store it is given,
the tee, counters (live behaviour: tests/sources/syscall/live and tests/e2e)."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

from syscall_testutil import SYSDIG, block, capture, event, proc_v1, raw_bytes, section_header

from lanner.sources.syscall import event_table as et
from lanner.sources.syscall import syscall_source
from lanner.sources.syscall.containers.capture import container_event
from lanner.sources.syscall.containers.info import ContainerInfo
from lanner.sources.syscall.containers.store import MetadataStore
from lanner.sources.syscall.pipeline import CaptureFile, SyscallPipeline
from lanner.sources.syscall.scap.writer import ScapWriter, encode_event

S = 1_000_000_000
CID = "c0ffee123456"


def _in_container(tid: int, ts: int, cid: str) -> bytes:
    """The child side of a clone: a new process of container ``cid``."""
    cgroups = b"cpu=/docker/" + (cid * 6)[:64].encode() + b"\0"
    return event(
        et.PPME_SYSCALL_CLONE_20_X, tid, ts, res=0, exe="sh", comm="sh", pid=tid, ptid=1,
        cgroups=cgroups,
    )  # fmt: skip


def _capture(name: str, image: str) -> bytes:
    """A process, then the container event of ``CID`` (as libsinsp writes it), then a
    process of that container opening a file."""
    procs = block(0x202, proc_v1(1, 1, 0, "systemd", "/sbin/init", [], "/"))
    info = ContainerInfo(id=CID, name=name, image=image, runtime="docker")
    return (
        section_header()
        + procs
        + event(et.PPME_SYSCALL_CLOSE_E, 1, 1 * S, fd=3)
        + encode_event(container_event(info, 2 * S))
        + _in_container(200, 3 * S, CID)
        + event(et.PPME_SYSCALL_OPENAT_2_X, 200, 4 * S, fd=3, dirfd=-100, name="/etc/shadow")
    )


def _field(store: MetadataStore | None, name: str):  # type: ignore[no-untyped-def]
    f, arg = syscall_source(store).fields.resolve(name)  # type: ignore[misc]
    return f.bind(arg)


def test_replayed_container_events_fill_the_given_store() -> None:
    store = MetadataStore()
    pipe = SyscallPipeline(CaptureFile(io.BytesIO(_capture("web", "nginx:1.25"))), store)
    name, image = _field(store, "container.name"), _field(store, "container.image")
    seen = [(e.name, e.thread and e.thread.container_id, name(e), image(e)) for e in pipe]
    assert seen[-1] == ("openat", CID, "web", "nginx:1.25")
    assert seen[0] == ("close", "host", "host", None)  # before: the host, no metadata
    assert store.peek(CID) is not None and store.peek(CID).name == "web"  # type: ignore[union-attr]
    assert (pipe.events_read, pipe.events_out, pipe.bad_container_events) == (4, 4, 0)


def test_two_pipelines_keep_their_containers_apart() -> None:
    """Same container id, different metadata in two captures: each store has its own,
    and the fields bound to each store read only that one."""
    one, two = MetadataStore(), MetadataStore()
    a = list(SyscallPipeline(CaptureFile(io.BytesIO(_capture("alpha", "a:1"))), one))
    b = list(SyscallPipeline(CaptureFile(io.BytesIO(_capture("beta", "b:2"))), two))
    assert _field(one, "container.name")(a[-1]) == "alpha"
    assert _field(two, "container.name")(b[-1]) == "beta"
    assert _field(one, "container.name")(b[-1]) == "alpha"  # store one knows only alpha
    assert one.peek(CID).image == "a:1" and two.peek(CID).image == "b:2"  # type: ignore[union-attr]
    # without a store: no metadata anywhere, and nothing kept
    bare = list(SyscallPipeline(CaptureFile(io.BytesIO(_capture("gamma", "g:3")))))
    assert _field(None, "container.name")(bare[-1]) is None
    assert one.peek(CID).name == "alpha" and two.peek(CID).name == "beta"  # type: ignore[union-attr]


def test_event_types_select_what_is_handed_out_state_sees_all() -> None:
    pipe = SyscallPipeline(
        CaptureFile(io.BytesIO(_capture("web", "nginx"))), MetadataStore(), event_types={"openat"}
    )
    out = list(pipe)
    assert [e.name for e in out] == ["openat"]
    assert out[0].thread is not None and out[0].thread.container_id == CID  # clone applied
    assert pipe.store is not None and pipe.store.peek(CID) is not None  # container read
    assert pipe.events_read == 4 and pipe.events_out == 1


def test_state_is_as_at_each_event() -> None:
    """A thread's exit is applied after the events before it were handed out: an event
    that precedes the exit still sees the thread, and the exit removes it afterwards."""
    data = (
        section_header()
        + block(0x202, proc_v1(1, 1, 0, "systemd", "/sbin/init", [], "/"))
        + _in_container(300, 1 * S, CID)
        + event(et.PPME_SYSCALL_CLOSE_E, 300, 2 * S, fd=3)
        + event(et.PPME_PROCEXIT_1_E, 300, 3 * S, reaper_tid=1)
        + event(et.PPME_SYSCALL_CLOSE_E, 1, 4 * S, fd=3)
    )
    pipe = SyscallPipeline(CaptureFile(io.BytesIO(data)))
    alive = [300 in pipe.state.threads.threads for _ in pipe]
    assert alive == [True, True, True, False]


def test_tee_writes_a_capture_sysdig_reads(tmp_path: Path) -> None:
    """The tee of a replay is the same capture for sysdig: same lines as the original."""
    assert SYSDIG is not None, "sysdig is installed by scripts/setup.sh"
    src = capture("curl_google.scap")
    out = tmp_path / "tee.scap.gz"
    with ScapWriter(out) as w:
        pipe = SyscallPipeline(CaptureFile(src), MetadataStore(), event_types={"open"}, tee=w)
        handed = sum(1 for _ in pipe)
    assert 0 < handed < pipe.events_read == pipe.events_teed  # all read, all teed

    def lines(path: Path) -> list[str]:
        r = subprocess.run([SYSDIG, "-r", str(path)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout.splitlines()

    want = lines(src)
    assert len(want) > 500 and lines(out) == want


def test_tee_filter_writes_only_matching_events(tmp_path: Path) -> None:
    out = tmp_path / "opens.scap"
    with ScapWriter(out) as w:
        pipe = SyscallPipeline(
            CaptureFile(io.BytesIO(raw_bytes("curl_google.scap"))),
            tee=w,
            tee_filter=lambda e: e.name == "open",
        )
        total = sum(1 for _ in pipe)
    again = list(SyscallPipeline(CaptureFile(out)))
    assert again and {e.name for e in again} == {"open"} and len(again) < total
    # the metadata went too: the opens resolve their process from the written proc list
    assert all(e.thread is not None and e.thread.comm for e in again)
