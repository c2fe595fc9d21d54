"""``falco_libs.fd_table_size``: the global bound on the fds a live run tracks, as a user
sets it (``lanner run -o ...``) and sees it (``/metrics``, ``Error:`` lines)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lanner.app.config_keys import lookup
from lanner.sources.syscall.state.fd_cap import DEFAULT_MAX_FDS

from .helpers import capturing_lanner, free_port, needs_probe, run_lanner, wait_until


def test_fd_table_size_default_is_the_state_engines_cap() -> None:
    key = lookup("falco_libs.fd_table_size")
    assert key is not None and getattr(key, "default", None) == DEFAULT_MAX_FDS == 262144


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_fd_table_size_out_of_range_is_an_error(value: str) -> None:
    res = run_lanner("--dry-run", "-o", f"falco_libs.fd_table_size={value}")
    assert res.returncode == 1
    (line,) = res.stderr.decode().strip().splitlines()[-1:]
    assert line.startswith("Error: ") and "falco_libs.fd_table_size" in line, res.stderr


@needs_probe()
@pytest.mark.parametrize("capture", [False, True], ids=["plain", "captures-on"])
def test_fd_table_size_bounds_the_fds_of_a_live_run(tmp_path: Path, capture: bool) -> None:
    """A live run with a cap of 40 fds: the host's processes hold far more, so the
    pipeline evicts down to 90 % of the cap, and /metrics says how many it tracks and
    evicted; also with captures on (the ring's events then take another path)."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "- rule: Never\n  desc: d\n  condition: evt.type = openat and fd.name = /nonexistent\n"
        "  output: never\n  priority: WARNING\n"
    )
    port = free_port()
    proc, _out, err = capturing_lanner(
        "-r", str(rules),
        "-o", "webserver.enabled=true", "-o", f"webserver.listen_port={port}",
        "-o", "falco_libs.fd_table_size=40",
        "-o", f"capture.enabled={str(capture).lower()}",
        "-o", f"capture.path_prefix={tmp_path / 'cap'}",
    )  # fmt: skip
    try:
        seen: dict[str, float] = {}

        def evicted() -> bool:
            body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            seen.clear()
            for fam in text_string_to_metric_families(body):
                for s in fam.samples:
                    seen[s.name] = s.value
            return seen.get("lanner_syscall_fds_evicted_total", 0) > 0

        wait_until(evicted, 30, "fds evicted at the configured cap")
        assert seen["lanner_syscall_fds"] <= 40
        assert "has no effect" not in err.text()
    finally:
        proc.terminate()
        proc.wait(30)
