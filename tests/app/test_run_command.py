"""``lanner run``'s existing flags and replays keep working on top of the daemon."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import FALCO_RULES, FIXTURES, QUICKSTART, ROOT, run_lanner

SUMMARY_TAIL = b"""Events detected: 3
Rule counts by severity:
   WARNING: 2
   NOTICE: 1
Triggered rules by rule name:
"""


def test_quickstart_replay_prints_three_alerts_then_the_summary() -> None:
    res = run_lanner("-r", str(FALCO_RULES), "-e", str(QUICKSTART))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert [ln.split(b" ")[1] for ln in lines[:3]] == [b"Notice", b"Warning", b"Warning"]
    assert b"Terminal shell in container" not in lines[0]  # the text, not the rule name
    assert SUMMARY_TAIL in res.stdout
    assert res.stdout.index(b"Events detected") > res.stdout.index(b"Netcat")
    assert b"   Read sensitive file untrusted: 1" in res.stdout


def test_json_output_and_include_switches() -> None:
    res = run_lanner(
        "-r", str(FALCO_RULES), "-e", str(QUICKSTART),
        "-o", "json_output=true", "-o", "json_include_tags_property=false",
    )  # fmt: skip
    assert res.returncode == 0
    alerts = [json.loads(ln) for ln in res.stdout.splitlines() if ln.startswith(b"{")]
    assert [a["rule"] for a in alerts] == [
        "Terminal shell in container",
        "Read sensitive file untrusted",
        "Netcat Remote Code Execution in Container",
    ]
    assert all("tags" not in a and a["source"] == "syscall" for a in alerts)


def test_priority_threshold_and_rule_selection_flags() -> None:
    res = run_lanner("-r", str(FALCO_RULES), "-e", str(QUICKSTART), "-o", "priority=warning")
    assert b"Notice" not in res.stdout.split(b"Events detected")[0]
    assert b"Events detected: 2" in res.stdout
    res = run_lanner("-r", str(FALCO_RULES), "-e", str(QUICKSTART), "-D", "Netcat")
    assert b"Events detected: 2" in res.stdout and b"Netcat" not in res.stdout
    res = run_lanner("-r", str(FALCO_RULES), "-e", str(QUICKSTART), "-T", "filesystem")
    assert b"Read sensitive file untrusted" not in res.stdout
    res = run_lanner("-r", str(FALCO_RULES), "-e", str(QUICKSTART), "-t", "filesystem")
    assert b"Events detected: 1" in res.stdout


def test_list_describe_validate_and_fields() -> None:
    res = run_lanner("-r", str(FALCO_RULES), "-L")
    head = b"Rule" + b" " * 47 + b"Description\n----" + b" " * 47 + b"-----------\n"
    assert res.returncode == 0 and res.stdout.startswith(head)
    assert b"\nRead sensitive file untrusted" + b" " * 22 + b"An attempt to read " in res.stdout
    res = run_lanner("-r", str(FALCO_RULES), "-l", "Terminal shell in container")
    body = res.stdout.removeprefix(head)
    assert body.startswith(b"Terminal shell in container" + b" " * 24 + b"A shell was used ")
    assert body.endswith(b" \n\n") and body.count(b"\n\n") == 1
    # descriptions wrap at 110 columns under the description column, as Falco's
    lines = body.splitlines()
    assert len(lines) > 2 and all(len(line) <= 111 for line in lines)
    assert all(line.startswith(b" " * 51) for line in lines[1:] if line)
    res = run_lanner("-V", str(FALCO_RULES))
    assert res.returncode == 0 and b": Ok" in res.stdout
    res = run_lanner("-V", str(FALCO_RULES), "-o", "json_output=true")
    assert json.loads(res.stdout)["falco_load_results"][0]["successful"] is True
    res = run_lanner("--list", "syscall")
    assert b"Event Sources:                syscall" in res.stdout and b"\nproc.name " in res.stdout


def test_broken_rules_exit_1_and_no_rules_means_the_default_rules(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- rule: x\n  desc: x\n  condition: evt.type = = open\n  output: x\n"
                   "  priority: WARNING\n")  # fmt: skip
    res = run_lanner("-r", str(bad), "-e", str(QUICKSTART))
    assert res.returncode == 1 and b"Invalid" in res.stderr
    res = run_lanner("-e", str(QUICKSTART))
    assert res.returncode == 0, res.stderr
    assert b"Interactive shell started in a container" in res.stdout
    assert b"Triggered rules by rule name:" in res.stdout


def test_duration_flag_stops_the_replay(tmp_path: Path) -> None:
    events = tmp_path / "many.jsonl"
    events.write_bytes(QUICKSTART.read_bytes() * 25000)
    res = run_lanner("-r", str(FALCO_RULES), "-e", str(events), "-M", "0.2")
    assert res.returncode == 0
    assert b"Events detected: " in res.stdout
    detected = int(res.stdout.split(b"Events detected: ")[1].split(b"\n")[0])
    assert 0 < detected < 75000


def test_stdin_json_lines_give_the_same_alerts_as_the_file() -> None:
    from_file = run_lanner("-r", str(FALCO_RULES), "-e", str(QUICKSTART))
    from_stdin = run_lanner("-r", str(FALCO_RULES), "-e", "-", stdin=QUICKSTART.read_bytes())
    assert from_stdin.returncode == 0, from_stdin.stderr
    assert from_stdin.stdout == from_file.stdout


@pytest.mark.parametrize("capture", ["sample.scap", "curl_google.scap"])
def test_scap_replay_still_goes_through_inputs(capture: str) -> None:
    res = run_lanner("-r", str(FALCO_RULES), "-e", str(FIXTURES / "captures" / capture))
    assert res.returncode == 0, res.stderr[-2000:]
    assert b"Events detected: " in res.stdout


def test_replay_outputs_do_not_drop_under_backpressure(tmp_path: Path) -> None:
    """A replay with a tiny output queue still writes every alert (it waits instead)."""
    events = tmp_path / "many.jsonl"
    events.write_bytes(QUICKSTART.read_bytes() * 500)
    out = tmp_path / "alerts.txt"
    res = run_lanner(
        "-r", str(FALCO_RULES), "-e", str(events), "-o", "outputs_queue.capacity=2",
        "-o", "file_output.enabled=true", "-o", f"file_output.filename={out}",
        "-o", "file_output.keep_alive=true",
    )  # fmt: skip
    assert res.returncode == 0
    assert b"Events detected: 1500" in res.stdout
    assert len(out.read_bytes().splitlines()) == 1500
    alerts = res.stdout.split(b"Events detected")[0]
    assert alerts.count(b"\n") == 1500


def test_print_option_and_container_info_in_replayed_alerts(tmp_path: Path) -> None:
    # Falco's -pc / -pk / -p TEXT, and %container.info expanded without a gap
    rules = tmp_path / "r.yaml"
    rules.write_text(
        "- rule: conn\n  desc: d\n  condition: evt.type = connect and evt.dir = <\n"
        "  output: conn %proc.name %container.info (user=%user.name)\n  priority: WARNING\n"
    )
    capture = str(FIXTURES / "captures" / "test_ipv6_client.scap")

    def first_line(*extra: str) -> str:
        res = run_lanner("-r", str(rules), "-e", capture, *extra)
        assert res.returncode == 0, res.stderr[-2000:]
        return res.stdout.decode().splitlines()[0]

    assert first_line().endswith(
        "conn test_ipv6_clien container_id=host container_name=host (user=<NA>)"
    )
    assert first_line("-pc").endswith("conn test_ipv6_clien container=host (id=host) (user=<NA>)")
    assert "k8s.ns=<NA> k8s.pod=<NA> container=host (user" in first_line("-pk")
    assert first_line("-p", "pid=%proc.pid").endswith("(user=<NA>) pid=19747")


# what a replay of a .scap file with the stdout output never uses: the other outputs (ssl,
# subprocess), the container runtime clients, the k8smeta cache, the plugins' inputs, the
# probe, the web server, the metadata store's thread pool and the files' digests
NOT_IMPORTED_BY_A_REPLAY = (
    "ssl", "subprocess", "hashlib", "concurrent.futures", "httpx", "grpc",
    "lanner.app.outputs.http", "lanner.app.outputs.program", "lanner.app.outputs.syslog",
    "lanner.app.outputs.file", "lanner.sources.syscall.containers.docker",
    "lanner.sources.syscall.containers.cri", "lanner.sources.k8smeta",
    "lanner.app.github_input", "lanner.app.cloudtrail_input", "lanner.app.gcp_input",
    "lanner.sources.syscall.probe", "lanner.app.webserver",
)  # fmt: skip


def test_a_scap_replay_imports_only_what_it_uses() -> None:
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('MODULES', *sorted(sys.modules), file=sys.stderr))\n"
        "from lanner.cli import main\n"
        "main()\n"
    )
    capture = FIXTURES / "captures" / "curl_google.scap"
    rules = FIXTURES / "rules" / "falco_rules.yaml"
    res = subprocess.run(
        [sys.executable, "-c", code, "run", "-e", str(capture), "-r", str(rules)],
        capture_output=True, timeout=120, cwd=ROOT, text=True,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "Events detected" in res.stdout
    line = next(ln for ln in res.stderr.splitlines() if ln.startswith("MODULES "))
    imported = set(line.split()[1:])
    assert "lanner.sources.syscall.state" in imported  # the replay ran through the pipeline
    assert sorted(imported.intersection(NOT_IMPORTED_BY_A_REPLAY)) == []
