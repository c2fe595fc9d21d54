"""Real servers from Debian packages: Prometheus scraping /metrics, rsyslog receiving alerts."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from .helpers import LiveLanner, free_port, open_event, seq_rules, wait_until, webserver_config
from .servers import prometheus, rsyslog

pytestmark = pytest.mark.servers


def query(prom: str, expr: str) -> list[dict]:
    resp = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=10)
    resp.raise_for_status()
    return resp.json()["data"]["result"]


def test_prometheus_scrapes_the_alert_counters(tmp_path: Path, live: list) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(seq_rules("Shadow read", "seen"))
    port = free_port()
    config = webserver_config(tmp_path / "lanner.yaml", rules, port)
    proc = LiveLanner("-c", str(config))
    live.append(proc)
    wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200)
    for n in range(1, 8):
        proc.send(open_event(n))
    proc.send(open_event(8, path="/tmp/nothing"))  # an event that raises no alert
    with prometheus(tmp_path, port, free_port()) as prom:
        series = wait_until(
            lambda: query(prom, 'lanner_alerts_total{rule="Shadow read"} == 7'),
            60,
            "the scraped alert counter",
        )
        labels = series[0]["metric"]
        assert labels["priority"] == "Warning" and labels["source"] == "syscall"
        assert labels["job"] == "lanner"
        events = wait_until(lambda: query(prom, "lanner_events_total"), 30, "events")
        assert events[0]["value"][1] == "8"
        for name in ("lanner_output_queue_depth", "lanner_memory_rss_bytes",
                     "lanner_cpu_seconds_total", "lanner_rules_load_seconds",
                     "lanner_output_drops_total"):  # fmt: skip
            assert query(prom, name), name
        assert query(prom, 'up{job="lanner"} == 1')
    assert proc.finish() == 0


def test_rsyslog_receives_alerts_with_falco_severities(tmp_path: Path) -> None:
    from .helpers import FALCO_RULES, QUICKSTART, run_lanner

    with rsyslog(tmp_path) as (sock, out):
        res = run_lanner(
            "-r", str(FALCO_RULES), "-e", str(QUICKSTART), "-o", "stdout_output.enabled=false",
            "-o", "syslog_output.enabled=true", "-o", f"syslog_output.address={sock}",
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        lines = wait_until(
            lambda: out.exists() and len(out.read_text().splitlines()) >= 3 and out.read_text(),
            30,
            "rsyslog output",
        ).splitlines()
    assert [ln.split(" ", 2)[:2] for ln in lines] == [
        ["user", "notice"],
        ["user", "warning"],
        ["user", "warning"],
    ]
    assert lines[1].split(" ", 3)[2].startswith("lanner[")
    assert "Sensitive file opened for reading by non-trusted program" in lines[1]
