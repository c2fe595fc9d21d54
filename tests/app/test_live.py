"""Live inputs: line decoding, the bounded feed, and the eBPF probe end to end."""

from __future__ import annotations

import signal
import subprocess
import threading
from pathlib import Path

from lanner.app.live import TICK, LineDecoder, LiveFeed, read_stream

from .helpers import capturing_lanner, needs_probe, wait_until


def test_decoder_keeps_partial_lines_and_skips_bad_ones() -> None:
    dec = LineDecoder("t")
    assert dec.feed(b'{"a": 1}\n{"source": "k8s_audit", "b"') == [("syscall", {"a": 1})]
    assert dec.feed(b': 2}\nnot json\n[1]\n\n{"c": 3}') == [("k8s_audit", {"b": 2})]
    assert dec.finish() == [("syscall", {"c": 3})]
    assert dec.lineno == 6


def test_feed_ends_when_producers_finish_and_ticks_while_idle() -> None:
    feed = LiveFeed()
    release = threading.Event()

    def produce(f: LiveFeed) -> None:
        f.put([("syscall", {"n": 1})])
        release.wait(10)
        f.put([("syscall", {"n": 2}), ("json", {"n": 3})])

    feed.add_producer(produce, "test")
    seen = []
    for item in feed.events(tick=0.05):
        if item is TICK:
            release.set()
            continue
        seen.append(item[1]["n"])
    assert seen == [1, 2, 3]
    assert feed.received == {"syscall": 2, "json": 1}


def test_offer_drops_and_counts_when_full_put_waits() -> None:
    drops: dict[str, int] = {}
    feed = LiveFeed(capacity=1, on_drop=lambda s, n: drops.update({s: drops.get(s, 0) + n}))
    assert feed.offer([("k8s_audit", 1), ("k8s_audit", 2)])
    assert not feed.offer([("k8s_audit", 3), ("syscall", 4)])
    assert drops == {"k8s_audit": 1, "syscall": 1}
    waiting = threading.Thread(target=feed.put, args=([("syscall", 5)],))
    waiting.start()
    waiting.join(0.3)
    assert waiting.is_alive()  # a line reader waits for room instead of dropping
    events = feed.events()
    assert [next(events) for _ in range(2)] == [("k8s_audit", 1), ("k8s_audit", 2)]
    waiting.join(10)
    feed.stop()
    assert not feed.put([("syscall", 6)])  # a stopped feed refuses more


def test_adapters_convert_lines_of_a_source() -> None:
    import io

    feed = LiveFeed()
    feed.adapters["k8s_audit"] = lambda obj: [obj["x"], obj["x"] + 1]
    data = b'{"source": "k8s_audit", "x": 10}\n{"y": 1}\n'
    feed.add_producer(read_stream(io.BytesIO(data)), "bytes")
    items = [i for i in feed.events(tick=0.05) if i is not TICK]
    assert items == [("k8s_audit", 10), ("k8s_audit", 11), ("syscall", {"y": 1})]


@needs_probe()
def test_live_syscall_capture_with_the_ebpf_probe(tmp_path: Path) -> None:
    """``lanner run`` without -e captures this host's syscalls: reading a marker file
    raises the rule's alert; after a reload to a chmod rule, chmod does."""
    marker = tmp_path / "marker.txt"
    marker.write_text("x")
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "- rule: Marker read\n  desc: marker opened\n  priority: WARNING\n"
        f"  condition: evt.type in (open, openat, openat2) and fd.name = {marker}\n"
        '  output: "marker opened by %proc.name (file=%fd.name)"\n'
    )
    proc, out, err = capturing_lanner("-r", str(rules), "-o", "json_output=true")
    try:

        def opened() -> bool:
            subprocess.run(["cat", str(marker)], capture_output=True, check=True)
            return b'"rule":"Marker read"' in b"\n".join(out.snapshot())

        wait_until(opened, 60, "the alert of the live capture")
        # a reload to a rule on other syscalls: the kernel selection follows
        rules.write_text(
            "- rule: Marker chmod\n  desc: marker chmod-ed\n  priority: WARNING\n"
            f"  condition: evt.type in (chmod, fchmodat) and evt.arg.filename = {marker}\n"
            '  output: "marker chmod by %proc.name"\n'
        )
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "reload (SIGHUP)" in err.text(), 60, "the reload")

        def chmodded() -> bool:
            subprocess.run(["chmod", "600", str(marker)], check=True)
            return b"marker chmod by chmod" in b"\n".join(out.snapshot())

        wait_until(chmodded, 60, "the alert of the reloaded rule")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        out.join()
        text = out.text()
        assert f"marker opened by cat (file={marker})" in text
        assert "Marker chmod: " in text  # the summary after a live run
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
