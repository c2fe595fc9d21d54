"""bench: increasing rates against a real lanner run, drops from /metrics, CPU and RSS
from /proc."""

from __future__ import annotations

import os
import re
from pathlib import Path

from lanner.services.generate import procstat
from lanner.services.generate.bench import read_drops

from .lanner_proc import K8S_RULES, LannerRun, free_port, generate, wait_port


def test_procstat_of_this_process() -> None:
    s = procstat.sample(os.getpid())
    t = os.times()
    assert abs(s.cpu_seconds - (t.user + t.system)) < 0.5
    assert 10 * 2**20 < s.rss_bytes < 4 * 2**30
    assert procstat.cpu_percent(procstat.Sample(1.0, 0), procstat.Sample(1.5, 0), 1.0) == 50.0


def test_bench_reports_the_highest_detected_rate(tmp_path: Path) -> None:
    port, web = free_port(), free_port()
    url = f"http://127.0.0.1:{port}/k8s-audit"
    run = LannerRun(
        tmp_path,
        [K8S_RULES],
        load_plugins=["k8saudit"],
        plugins=[{"name": "k8saudit", "open_params": url}],
        webserver={"enabled": True, "listen_port": web, "listen_address": "127.0.0.1"},
    )
    try:
        assert wait_port(port) and wait_port(web), run.log_text()
        metrics = f"http://127.0.0.1:{web}/metrics"
        assert read_drops(metrics) == 0
        assert run.pid in procstat.find_lanner_pids()
        r = generate(
            "bench", "k8s_(secret_read|namespace_deleted)", "--alerts", str(run.alerts),
            "--webhook", url, "--pid", str(run.pid), "--metrics", metrics,
            "--rates", "5,20", "--step", "1s", "--grace", "5s",
        )  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr + run.log_text()
        rows = [ln for ln in r.stdout.splitlines() if re.match(r"^\s+\d+/s", ln)]
        assert len(rows) == 2, r.stdout
        for row in rows:
            assert row.endswith("ok")
            assert re.search(r"\s0\s+\d+%\s+\d+ MiB", row), row  # 0 drops, CPU, RSS
        assert re.search(
            r"highest fully detected rate: [\d.]+ actions/s \(target 20/s, drops 0\)", r.stdout
        )
    finally:
        run.stop()


def test_read_drops_unreachable_is_unknown() -> None:
    assert read_drops(f"http://127.0.0.1:{free_port()}/metrics") is None
    assert read_drops(None) is None


def test_lanner_run_is_recognised_by_its_argv_not_its_wrappers() -> None:
    assert procstat.is_lanner_run(["lanner", "run", "-c", "x"])
    assert procstat.is_lanner_run(["python3", "lanner", "run"])
    assert procstat.is_lanner_run(["python3.11", "-m", "lanner.cli", "run"])
    assert not procstat.is_lanner_run(["timeout", "60", "lanner", "run"])
    assert not procstat.is_lanner_run(["lanner", "generate", "run"])
    assert not procstat.is_lanner_run(["python3", "-m", "pytest", "run"])


def test_read_drops_counts_the_selected_sources_and_every_output() -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    text = (
        b"# TYPE lanner_event_drops_total counter\n"
        b'lanner_event_drops_total{reason="kernel_ring_full",source="syscall"} 7.0\n'
        b'lanner_event_drops_total{reason="queue_full",source="k8s_audit"} 2.0\n'
        b'lanner_output_drops_total{output="file"} 1.0\n'
        b"lanner_events_total 99.0\n"
    )

    class H(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        def log_message(self, *a: object) -> None:
            return

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/metrics"
        assert read_drops(url) == 10
        assert read_drops(url, {"k8s_audit"}) == 3
        assert read_drops(url, {"syscall"}) == 8
    finally:
        srv.shutdown()
        srv.server_close()
