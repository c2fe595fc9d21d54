"""The live pipeline keeps the fds it tracks under its global cap and says so in metrics."""

from __future__ import annotations

import subprocess
import time

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from lanner.app.metrics import Stats
from lanner.app.prometheus import registry_for
from lanner.sources.syscall.pipeline import SyscallPipeline
from lanner.sources.syscall.probe import LiveCapture


def test_tracked_fds_stay_under_the_global_cap(live_ready: None) -> None:
    with SyscallPipeline(LiveCapture()) as pipe:  # the /proc snapshot: this host's fds
        assert pipe.fd_cap is not None
        evicted = pipe.fd_cap.enforce()  # counts; nothing evicted at the default cap
        tracked = pipe.fd_cap.tracked
        assert evicted == 0 and tracked > 50, "this host's processes hold few fds"
        pipe.fd_cap.max_fds = tracked // 2
        pipe.fd_cap.interval = 0.0
        # each ring batch checks the cap first; the probe ignores this process, so a child
        # makes the syscalls that fill the ring (an idle host may have none for a while)
        busy = subprocess.Popen(["sh", "-c", "while :; do cat /etc/hostname >/dev/null; done"])
        try:
            end = time.monotonic() + 10.0
            while time.monotonic() < end and pipe.state_counters()["fds_evicted"] == 0:
                pipe.poll(0.1)
        finally:
            busy.kill()
            busy.wait()
        counters = pipe.state_counters()
        assert counters["fds_evicted"] >= tracked - tracked // 2
        assert counters["fds"] <= tracked // 2
        stats = Stats()
        stats.syscall_state = pipe.state_counters
        text = generate_latest(registry_for(stats)).decode()
    samples = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples["lanner_syscall_fds_evicted_total"] == counters["fds_evicted"]
    assert samples["lanner_syscall_fds"] == counters["fds"]
