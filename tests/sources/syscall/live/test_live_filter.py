"""The probe's kernel-side filter on this host: failed calls no rule can match are dropped
in the kernel, what rules and the state engine need still arrives, and a new selection (a
rules reload) widens it."""

from __future__ import annotations

import ctypes
import errno
import socket
import sys
import textwrap
from pathlib import Path

from live_testutil import run_and_collect

from lanner.engine.loader import load_rules
from lanner.sources.syscall import syscall_source
from lanner.sources.syscall.event import Event
from lanner.sources.syscall.pipeline import SyscallPipeline
from lanner.sources.syscall.probe import LiveCapture
from lanner.sources.syscall.probe.filters import rule_outcomes
from lanner.sources.syscall.probe.syscalls import ANY, FAIL, INPROGRESS, OK, SYSCALL_NR

OPENS = ("open", "openat", "openat2")


def outcomes(tmp_path: Path, *conditions: str) -> dict[str, int] | None:
    """What rules with these conditions need, as ``lanner run`` computes it."""
    text = "".join(
        f"- rule: r{i}\n  desc: d\n  condition: {c}\n  output: o\n  priority: WARNING\n"
        for i, c in enumerate(conditions)
    )
    path = tmp_path / f"rules-{len(list(tmp_path.glob('rules-*')))}.yaml"
    path.write_text(text)
    loaded = load_rules([path], [syscall_source()])
    assert loaded.successful, loaded.results
    return rule_outcomes(r.expr for r in loaded.ruleset)


def kernel_mask(cap: LiveCapture, name: str) -> int:
    """The value of the probe's selection map for a syscall, read from the kernel."""
    probe = cap.probe
    assert probe is not None
    key, val = ctypes.c_uint32(SYSCALL_NR[name]), ctypes.c_uint8()
    assert (
        probe._lib.bpf_map_lookup_elem(probe.interesting_fd, ctypes.byref(key), ctypes.byref(val))
        == 0
    )
    return val.value


def program(tmp_path: Path, port: int) -> list[str]:
    """A child that opens a file (ok) and a missing one (fails), closes a bad fd (fails),
    changes directory and opens a relative name, fails a mkdir and connects a
    non-blocking socket to a loopback listener (EINPROGRESS)."""
    code = f"""
        import errno, os, socket
        os.close(os.open({str(tmp_path / "present")!r}, os.O_RDONLY))
        for call in (lambda: os.open({str(tmp_path / "missing")!r}, os.O_RDONLY),
                     lambda: os.close(987),
                     lambda: os.mkdir({str(tmp_path)!r})):
            try:
                call()
            except OSError:
                pass
        os.chdir({str(tmp_path / "sub")!r})
        os.close(os.open("rel", os.O_RDONLY))
        s = socket.socket()
        s.setblocking(False)
        assert s.connect_ex(("127.0.0.1", {port})) == errno.EINPROGRESS
        s.close()
    """
    return [sys.executable, "-c", textwrap.dedent(code)]


def seen(events: list[Event], tmp_path: Path) -> dict[str, list[int]]:
    """Result codes per event type, of the child's calls on tmp_path (or fd 987)."""
    out: dict[str, list[int]] = {}
    for e in events:
        if e.name in OPENS and str(tmp_path) not in e.arg("name") and e.arg("name") != "rel":
            continue
        if e.name == "close" and e.arg("fd") != 987 and e.res < 0:
            continue
        if e.name == "mkdir" and e.arg("path") != str(tmp_path):
            continue
        out.setdefault("open" if e.name in OPENS else e.name, []).append(e.res)
    return out


def test_failed_calls_no_rule_needs_are_dropped_in_the_kernel(
    live_ready: None, tmp_path: Path
) -> None:
    (tmp_path / "present").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "rel").write_text("x")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    rules = tmp_path / "rules"
    rules.mkdir()
    # the rules want successful opens only, and failed mkdirs only
    first = outcomes(
        rules,
        "evt.type in (open, openat) and fd.num >= 0",
        "evt.type = mkdir and evt.failed = true",
    )
    assert first == {"open": OK, "openat": OK, "mkdir": FAIL}
    types = {"open", "openat", "mkdir"}
    cap = LiveCapture(event_types=types, snapshot=False)
    cap.outcomes = first
    try:
        with SyscallPipeline(cap) as pipe:
            assert kernel_mask(cap, "openat") == OK
            assert kernel_mask(cap, "mkdir") == FAIL
            assert kernel_mask(cap, "close") == OK  # the state engine's need only
            assert kernel_mask(cap, "connect") == OK | INPROGRESS
            assert cap.probe is not None and cap.probe.selection[SYSCALL_NR["mkdir"]] == FAIL
            _proc, events = run_and_collect(pipe, program(tmp_path, port))
            got = seen(events, tmp_path)
            # the failed open and the failed close are not sent; successes are
            assert got["open"] and all(r >= 3 for r in got["open"]), got
            assert len(got["open"]) == 2  # present, and sub/rel after the chdir
            assert all(r == 0 for r in got["close"]), got
            # the state engine's events arrive: the chdir, the connect under way
            assert [e.res for e in events if e.name == "chdir"] == [0]
            assert -errno.EINPROGRESS in [e.res for e in events if e.name == "connect"]
            rel = [e for e in events if e.name in OPENS and e.arg("name") == "rel"]
            assert rel and rel[0].fdinfo is not None
            assert rel[0].fdinfo.name == str(tmp_path / "sub" / "rel")
            # the failed mkdir a rule wants arrives, and only it
            assert got["mkdir"] == [-errno.EEXIST]

            # a reload adds a rule on failed opens: the filter widens
            cap.outcomes = outcomes(
                rules,
                "evt.type in (open, openat) and fd.num >= 0",
                "evt.type = mkdir and evt.failed = true",
                "evt.type in (open, openat) and evt.res = ENOENT",
            )
            cap.set_event_types(types)
            assert kernel_mask(cap, "openat") == ANY
            _proc, events = run_and_collect(pipe, program(tmp_path, port))
            got = seen(events, tmp_path)
            assert -errno.ENOENT in got["open"], got
            assert len(got["open"]) == 3
            assert all(r == 0 for r in got["close"]), got  # still only the state's closes
    finally:
        listener.close()


def test_no_outcomes_sends_every_outcome(live_ready: None, tmp_path: Path) -> None:
    """Without a rule analysis (``lanner capture``, a custom base set) nothing is dropped."""
    (tmp_path / "present").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "rel").write_text("x")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        cap = LiveCapture(event_types={"open", "openat", "close", "mkdir"}, snapshot=False)
        with SyscallPipeline(cap) as pipe:
            assert kernel_mask(cap, "openat") == ANY and kernel_mask(cap, "close") == ANY
            _proc, events = run_and_collect(pipe, program(tmp_path, listener.getsockname()[1]))
    got = seen(events, tmp_path)
    assert -errno.ENOENT in got["open"] and -errno.EBADF in got["close"], got
    assert got["mkdir"] == [-errno.EEXIST]
