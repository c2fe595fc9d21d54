"""Falco's Prometheus series on /metrics of a live ``lanner run``, scraped by a real
Prometheus (Debian package), queried the way Falco's Grafana dashboard does (issue 20)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from .helpers import LiveLanner, free_port, open_event, seq_rules, wait_until, webserver_config
from .servers import prometheus
from .test_servers import query

pytestmark = pytest.mark.servers


def test_prometheus_scrapes_falcos_series(tmp_path: Path, live: list) -> None:
    rules = tmp_path / "shadow_rules.yaml"
    rules.write_text(
        seq_rules("Shadow read", "seen").replace("tags: [test]", "tags: [test, T1555]")
    )
    port = free_port()
    config = webserver_config(tmp_path / "falco.yaml", rules, port)
    proc = LiveLanner("-c", str(config))
    live.append(proc)
    wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200)
    for n in range(1, 6):
        proc.send(open_event(n))
    body = wait_until(
        lambda: (
            (t := httpx.get(f"http://127.0.0.1:{port}/metrics").text)
            and "falcosecurity_falco_rules_matches_total{" in t
            and t
        ),
        30,
        "the rule counter on /metrics",
    )
    # every family once, whatever the number of samples
    assert body.count("# TYPE falcosecurity_falco_rules_matches_total counter") == 1
    assert "lanner_alerts_total{" in body  # Lanner's own series stay
    with prometheus(tmp_path, port, free_port()) as prom:
        matches = wait_until(
            lambda: query(prom, "falcosecurity_falco_rules_matches_total == 5"),
            60,
            "the scraped rule counter",
        )
        assert matches[0]["metric"] == {
            "__name__": "falcosecurity_falco_rules_matches_total",
            "instance": f"127.0.0.1:{port}",
            "job": "lanner",
            "priority": "4",
            "rule_name": "Shadow read",
            "source": "syscall",
            "tag_T1555": "true",
            "tag_test": "true",
        }
        # the dashboard's ways of reading it
        matches_syscall = 'falcosecurity_falco_rules_matches_total{source=~"syscall"}'
        by_priority = wait_until(
            lambda: query(prom, f"sum by(priority) (increase({matches_syscall}[1m]))"),
            30,
            "two scrapes for increase()",
        )
        assert [r["metric"] for r in by_priority] == [{"priority": "4"}]
        assert query(prom, "count by(version) (falcosecurity_falco_version_info)")
        digest = hashlib.sha256(rules.read_bytes()).hexdigest()
        rules_info = "falcosecurity_falco_sha256_rules_files_info"
        assert query(prom, f'{rules_info}{{file_name="shadow_rules.yaml",sha256="{digest}"}}')
        config_digest = hashlib.sha256(config.read_bytes()).hexdigest()
        assert query(
            prom,
            f'falcosecurity_falco_sha256_config_files_info{{file_name="falco.yaml",sha256="{config_digest}"}}',
        )
        assert query(
            prom, "sum(increase(falcosecurity_falco_outputs_queue_num_drops_total[1m])) == 0"
        )
        for expr in (
            "falcosecurity_falco_cpu_usage_ratio >= 0",
            "falcosecurity_falco_memory_rss_bytes > 1e6",
            "falcosecurity_falco_memory_vsz_bytes > 1e6",
            "falcosecurity_falco_memory_pss_bytes > 0",
            "falcosecurity_falco_host_num_cpus_total >= 1",
            "falcosecurity_falco_duration_seconds_total >= 0",
            "falcosecurity_falco_start_timestamp_nanoseconds > 1.7e18",
            "falcosecurity_falco_reload_timestamp_nanoseconds > 1.7e18",
            "falcosecurity_falco_host_boot_timestamp_nanoseconds > 1e18",
            "falcosecurity_evt_hostname_info == 1",
            "falcosecurity_falco_kernel_release_info == 1",
        ):
            assert query(prom, expr), expr
        assert query(prom, "lanner_alerts_total == 5")
    assert proc.finish() == 0
