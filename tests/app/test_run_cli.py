"""``lanner run``: validation, listing, selection flags and replay of JSON-lines events.

Most cases run the click command in-process (with the default sources pinned to dynamic
dict sources, so the test does not depend on which real sources are installed); one runs
the installed ``lanner`` console script as a Falco user would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from lanner.app import run_command
from lanner.engine.alert import format_time
from lanner.sources.memory import dict_source

RULES = """\
- rule: Shell spawned
  desc: A shell   was
    spawned
  condition: evt.type = execve and proc.name = bash
  output: "Shell spawned (proc=%proc.name user=%user.name)"
  priority: WARNING
  tags: [shell, process]
- rule: Sensitive read
  desc: read of a sensitive file
  condition: evt.type = open and fd.name startswith /etc/shadow
  output: "Sensitive read (file=%fd.name)"
  priority: ERROR
  tags: [filesystem]
- rule: Any open
  desc: noisy
  condition: evt.type = open
  output: "open %fd.name"
  priority: DEBUG
  tags: [noise]
"""

BAD = """\
- rule: bad
  desc: d
  condition: proc.name = (
  output: o
  priority: info
- list: unused
  items: [a]
"""

T0 = 1_700_000_000_000_000_000
EVENTS = [
    {"evt.type": "execve", "proc.name": "bash", "user.name": "root", "evt.time": T0},
    {"evt.type": "open", "fd.name": "/etc/shadow", "evt.time": T0 + 1_000_000_000},
    {"evt.type": "open", "fd.name": "/tmp/x", "evt.time": T0 + 2_000_000_000},
    {"evt.type": "execve", "proc.name": "zsh", "evt.time": T0 + 3_000_000_000},
]


# Falco's summary after the replay of EVENTS (three of them match)
SUMMARY = [
    "Events detected: 3",
    "Rule counts by severity:",
    "   ERROR: 1",
    "   WARNING: 1",
    "   DEBUG: 1",
    "Triggered rules by rule name:",
    "   Shell spawned: 1",
    "   Sensitive read: 1",
    "   Any open: 1",
]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "rules.yaml").write_text(RULES)
    (tmp_path / "bad.yaml").write_text(BAD)
    lines = [orjson.dumps(e) for e in EVENTS]
    lines.insert(2, b"this line is not JSON")
    (tmp_path / "events.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return {
        k: str(tmp_path / f)
        for k, f in [("rules", "rules.yaml"), ("bad", "bad.yaml"), ("events", "events.jsonl")]
    }


@pytest.fixture(autouse=True)
def dict_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        run_command,
        "default_sources",
        lambda *_store: [
            dict_source(n, dynamic=True) for n in ("syscall", "k8s_audit", "aws_cloudtrail")
        ],
    )
    monkeypatch.delenv("FALCO_HOSTNAME", raising=False)
    monkeypatch.setenv("LANNER_HOSTNAME", "test-host")


def lanner(*args: str) -> Result:
    return CliRunner().invoke(run_command.run, list(args), catch_exceptions=False)


def text_line(seconds: int, rest: str) -> str:
    return f"{format_time(T0 + seconds * 1_000_000_000)}: {rest}"


# -- validation ------------------------------------------------------------------------


def test_validate_ok(files: dict[str, str]) -> None:
    res = lanner("-V", files["rules"])
    assert res.exit_code == 0
    assert res.stdout.strip() == f"{files['rules']}: Ok"


def test_validate_errors_exit_1_with_details(files: dict[str, str]) -> None:
    res = lanner("-V", files["bad"])
    assert res.exit_code == 1
    out = res.stdout
    assert out.startswith(f"{files['bad']}: Invalid\n1 Errors:\nLOAD_ERR_COMPILE_CONDITION")
    assert "expected a string value or a field with a valid transformer" in out
    assert f"rule 'bad' ({files['bad']}:1:3)" in out
    assert "LOAD_UNUSED_LIST" in out


def test_validate_json(files: dict[str, str]) -> None:
    res = lanner("-V", files["bad"], "-V", files["rules"], "-o", "json_output=true")
    assert res.exit_code == 1
    doc = orjson.loads(res.stdout)
    assert list(doc) == ["falco_load_results"]
    bad, ok = doc["falco_load_results"]
    assert (bad["name"], bad["successful"]) == (files["bad"], False)
    assert (ok["name"], ok["successful"], ok["errors"], ok["warnings"]) == (
        files["rules"],
        True,
        [],
        [],
    )
    (err,) = bad["errors"]
    assert err["code"] == "LOAD_ERR_COMPILE_CONDITION"
    assert err["codedesc"] == "Error compiling condition"
    locs = err["context"]["locations"]
    assert [loc["item_type"] for loc in locs] == [
        "rules content",
        "rule",
        "rule condition",
        "condition expression",
    ]
    assert locs[1]["item_name"] == "bad"
    # positions as Falco prints them: yaml-cpp's 0-based line/column, and inside the
    # condition the parser's 1-based position added to the condition's
    assert locs[1]["position"] == {"name": files["bad"], "line": 0, "column": 2, "offset": 2}
    assert locs[2]["position"] == {"name": files["bad"], "line": 2, "column": 13, "offset": 35}
    assert locs[3]["position"] == {
        "name": '"proc.name = ("',
        "line": 3,
        "column": 26,
        "offset": 47,
    }
    (warn,) = bad["warnings"]
    assert warn["code"] == "LOAD_UNUSED_LIST"
    assert warn["codedesc"].startswith("A list is defined in the rules content")


def test_validate_missing_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.yaml")
    res = lanner("-V", missing, "-o", "json_output=true")
    assert res.exit_code == 1
    (entry,) = orjson.loads(res.stdout)["falco_load_results"]
    assert entry["errors"][0]["code"] == "LOAD_ERR_FILE_READ"


def test_run_with_invalid_rules_exits_1(files: dict[str, str]) -> None:
    res = lanner("-r", files["bad"], "-e", files["events"])
    assert res.exit_code == 1
    assert "LOAD_ERR_COMPILE_CONDITION" in res.stderr
    assert "Events detected" not in res.stdout


# -- listing ---------------------------------------------------------------------------


def test_list_rules(files: dict[str, str]) -> None:
    res = lanner("-r", files["rules"], "-L")
    assert res.exit_code == 0
    out = res.stdout
    names = ["Shell spawned", "Sensitive read", "Any open"]
    assert [out.index(n) for n in names] == sorted(out.index(n) for n in names)
    assert "A shell was spawned" in out  # descriptions with their blanks collapsed
    assert "read of a sensitive file" in out


def test_describe_one_rule(files: dict[str, str]) -> None:
    res = lanner("-r", files["rules"], "-l", "Sensitive read")
    assert res.exit_code == 0
    assert "Sensitive read" in res.stdout and "read of a sensitive file" in res.stdout
    assert "Shell spawned" not in res.stdout


# -- replay ----------------------------------------------------------------------------


def test_replay_text_alerts_and_summary(files: dict[str, str]) -> None:
    res = lanner("-r", files["rules"], "-e", files["events"])
    assert res.exit_code == 0, res.stderr
    assert res.stdout == "\n".join(
        [
            text_line(0, "Warning Shell spawned (proc=bash user=root)"),
            text_line(1, "Error Sensitive read (file=/etc/shadow)"),
            text_line(2, "Debug open /tmp/x"),
            *SUMMARY,
            "",
        ]
    )
    assert "3: skipped, not JSON" in res.stderr


def test_replay_json_alerts(files: dict[str, str]) -> None:
    res = lanner("-r", files["rules"], "-e", files["events"], "-o", "json_output=true")
    assert res.exit_code == 0, res.stderr
    lines = res.stdout.splitlines()
    alerts = [orjson.loads(line) for line in lines if line.startswith("{")]
    assert [a["rule"] for a in alerts] == ["Shell spawned", "Sensitive read", "Any open"]
    first = alerts[0]
    assert list(first) == [
        "hostname",
        "output",
        "output_fields",
        "priority",
        "rule",
        "source",
        "tags",
        "time",
    ]
    assert first["hostname"] == "test-host"
    assert first["output"] == text_line(0, "Warning Shell spawned (proc=bash user=root)")
    assert first["output_fields"] == {"evt.time": T0, "proc.name": "bash", "user.name": "root"}
    assert (first["priority"], first["source"]) == ("Warning", "syscall")
    assert first["tags"] == ["process", "shell"]
    assert first["time"] == "2023-11-14T22:13:20.000000000Z"
    assert lines[len(alerts)] == "Events detected: 3"


def test_json_include_switches_from_the_command_line(files: dict[str, str]) -> None:
    res = lanner(
        "-r",
        files["rules"],
        "-e",
        files["events"],
        "-o",
        "json_output=true",
        "-o",
        "json_include_output_property=false",
        "-o",
        "json_include_tags_property=false",
        "-o",
        "json_include_message_property=true",
    )
    first = orjson.loads(res.stdout.splitlines()[0])
    assert list(first) == [
        "hostname",
        "message",
        "output_fields",
        "priority",
        "rule",
        "source",
        "time",
    ]
    assert first["message"] == "Shell spawned (proc=bash user=root)"


def test_priority_threshold(files: dict[str, str]) -> None:
    res = lanner("-r", files["rules"], "-e", files["events"], "-o", "priority=error")
    assert res.exit_code == 0
    assert res.stdout.splitlines()[0] == text_line(1, "Error Sensitive read (file=/etc/shadow)")
    assert "Events detected: 1\n" in res.stdout
    res = lanner("-r", files["rules"], "-e", files["events"], "-o", "priority=loud")
    assert res.exit_code == 1


def test_rule_matching_all(files: dict[str, str]) -> None:
    res = lanner("-r", files["rules"], "-e", files["events"], "-o", "rule_matching=all")
    assert "Events detected: 4\n" in res.stdout
    assert "   Any open: 2\n" in res.stdout


def rules_fired(res: Result) -> list[str]:
    tail = res.stdout.split("Triggered rules by rule name:\n", 1)[1]
    return [line.strip().rsplit(":", 1)[0] for line in tail.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("flags", "fired"),
    [
        ([], ["Shell spawned", "Sensitive read", "Any open"]),
        (["-D", "Shell"], ["Sensitive read", "Any open"]),
        (["-D", "e"], []),
        (["-D", "Shell", "-D", "Sensitive"], ["Any open"]),
        (["-T", "noise"], ["Shell spawned", "Sensitive read"]),
        (["-T", "noise", "-T", "shell"], ["Sensitive read"]),
        (["-t", "filesystem"], ["Sensitive read"]),
        (["-t", "filesystem", "-t", "noise"], ["Sensitive read", "Any open"]),
        (["-t", "nothing"], []),
    ],
)
def test_selection_flags(files: dict[str, str], flags: list[str], fired: list[str]) -> None:
    res = lanner("-r", files["rules"], "-e", files["events"], "-o", "rule_matching=all", *flags)
    assert res.exit_code == 0, res.stderr
    assert rules_fired(res) == fired


def test_disable_and_enable_flags_together_are_refused(files: dict[str, str]) -> None:
    res = lanner("-r", files["rules"], "-e", files["events"], "-t", "shell", "-T", "noise")
    assert res.exit_code == 1
    assert "You can not specify both disabled (-D/-T) and enabled (-t) rules" in res.stderr


def test_no_rules_loads_the_default_rules(files: dict[str, str]) -> None:
    res = lanner("-L")
    assert res.exit_code == 0, res.stderr
    assert "Sensitive file read by untrusted program" in res.stdout
    assert "K8s privileged pod created" in res.stdout


# -- the installed console script ------------------------------------------------------


def test_console_script_replay(files: dict[str, str]) -> None:
    exe = Path(sys.executable).with_name("lanner")
    if not exe.exists():
        pytest.fail(f"no lanner console script at {exe}: run scripts/setup.sh", pytrace=False)
    env = {**os.environ, "TZ": "UTC", "FALCO_HOSTNAME": "falco-host"}
    proc = subprocess.run(
        [str(exe), "run", "-r", files["rules"], "-e", files["events"], "-o", "json_output=true"],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    alerts = [orjson.loads(line) for line in lines if line.startswith("{")]
    assert [a["rule"] for a in alerts] == ["Shell spawned", "Sensitive read", "Any open"]
    assert alerts[0]["hostname"] == "falco-host"
    assert alerts[1]["output"] == "22:13:21.000000000: Error Sensitive read (file=/etc/shadow)"
    assert lines[3:] == SUMMARY
    bad = subprocess.run(
        [str(exe), "run", "-V", files["bad"]], capture_output=True, env=env, timeout=60, check=False
    )
    assert bad.returncode == 1
    assert b": Invalid" in bad.stdout
