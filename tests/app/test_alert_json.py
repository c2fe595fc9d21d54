"""JSON alerts byte for byte as Falco writes them (userspace/engine/formats.cpp), for every
combination of the json_include_* switches and both time formats.

Falco builds the alert as an nlohmann::json object (keys in std::map order, i.e. sorted)
and dumps it compactly with invalid UTF-8 replaced: control characters as \\b \\f \\n \\r
\\t or \\u00xx (lowercase hex), everything else (non-ASCII, DEL, '/') as is. Python's
json.dumps with sort_keys, no spaces and ensure_ascii=False writes exactly that, so it is
the reference encoder here; the values come from Falco's rules: output_fields holds the
output's fields with libsinsp's JSON types (numbers for integer fields, null for <NA>, the
event time in ns for the time fields) plus the prefix's time field; tags are a set.
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import pytest

from .helpers import FIXTURES, run_lanner

CURL = str(FIXTURES / "captures" / "curl_google.scap")
TS = 1534527348514632619  # the curl execve exit (evt.num 211)
SWITCHES = ("output", "tags", "message", "output_fields")


def falco_dumps(doc: object) -> bytes:
    """nlohmann::json::dump(-1, ' ', false, replace) of an object made of std::maps."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _prefix_time(ts: int, iso8601: bool) -> str:
    secs, nanos = divmod(ts, 1_000_000_000)
    if iso8601:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{nanos:09d}+0000"
    return time.strftime("%H:%M:%S", time.localtime(secs)) + f".{nanos:09d}"


def _expected(flags: dict[str, bool], iso8601: bool, message: str, fields: dict) -> bytes:
    doc: dict[str, object] = {
        "time": "2018-08-17T17:35:48.514632619Z",
        "rule": "Curl",
        "priority": "Warning",
        "source": "syscall",
        "hostname": "falco-node-1",
    }
    if flags["output"]:
        doc["output"] = f"{_prefix_time(TS, iso8601)}: Warning {message}"
    if flags["tags"]:
        doc["tags"] = ["T1105", "network", "process"]
    if flags["message"]:
        doc["message"] = message
    if flags["output_fields"]:
        doc["output_fields"] = {**fields, ("evt.time.iso8601" if iso8601 else "evt.time"): TS}
    return falco_dumps(doc)


COMBOS = [
    dict(zip(SWITCHES, bits, strict=True)) for bits in itertools.product((True, False), repeat=4)
]


@pytest.mark.parametrize(
    "flags", COMBOS, ids=lambda f: "-".join(k for k, v in f.items() if v) or "none"
)
def test_syscall_alert_bytes(
    tmp_path: Path, flags: dict[str, bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FALCO_HOSTNAME", "falco-node-1")
    iso8601 = sum(flags.values()) % 2 == 1  # each time format with half the combinations
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "- rule: Curl\n  desc: d\n"
        "  condition: evt.type = execve and evt.dir = < and proc.name = curl\n"
        "  output: curl ran (pid=%proc.pid parent=%proc.pname num=%evt.num uid=%user.uid"
        " fd=%fd.name at=%evt.time.s args=%proc.args)\n"
        "  priority: WARNING\n  tags: [process, network, T1105, process]\n"
    )
    opts = [f"json_include_{k}_property={str(v).lower()}" for k, v in flags.items()]
    res = run_lanner(
        "-r", str(rules), "-e", CURL, "-o", "json_output=true",
        "-o", f"time_format_iso_8601={str(iso8601).lower()}",
        *[x for o in opts for x in ("-o", o)],
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    (line,) = [ln for ln in res.stdout.splitlines() if ln.startswith(b"{")]
    at = _prefix_time(TS, False)[:8]  # %evt.time.s prints HH:MM:SS
    message = (
        f"curl ran (pid=17497 parent=bash num=211 uid=4294967295 fd=<NA> at={at}"
        " args=-6 http://www.google.com)"
    )
    fields = {
        "proc.pid": 17497,
        "proc.pname": "bash",
        "evt.num": 211,
        "user.uid": 4294967295,
        "fd.name": None,
        "evt.time.s": TS,  # libsinsp: the time fields are the event time in ns in JSON
        "proc.args": "-6 http://www.google.com",
    }
    assert line == _expected(flags, iso8601, message, fields)


def test_escaping_of_hostile_strings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Quotes, backslashes, control characters, DEL, non-ASCII and U+2028 in a field:
    escaped in output, message and output_fields exactly as nlohmann's dump does."""
    monkeypatch.setenv("FALCO_HOSTNAME", "falco-node-1")
    weird = 'a"b\\c/d\ne\tf\x01g\x1fh\x7fi é ✓ \u2028'
    events = tmp_path / "events.jsonl"
    events.write_text(
        json.dumps(
            {
                "evt.type": "execve",
                "evt.dir": "<",
                "evt.time": TS,
                "proc.name": "weird",
                "proc.cmdline": weird,
            }
        )
        + "\n"
    )
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "- rule: Curl\n  desc: d\n  condition: evt.type = execve and proc.name = weird\n"
        "  output: ran %proc.cmdline\n  priority: WARNING\n  tags: [process, network, T1105]\n"
    )
    res = run_lanner(
        "-r", str(rules), "-e", str(events), "-o", "json_output=true",
        "-o", "json_include_message_property=true",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    (line,) = [ln for ln in res.stdout.splitlines() if ln.startswith(b"{")]
    flags = dict.fromkeys(SWITCHES, True)
    expected = _expected(flags, False, f"ran {weird}", {"proc.cmdline": weird})
    assert line == expected
    assert b"\\u0001" in line and b"\\u001f" in line and "h\x7fi é ✓".encode() in line


def test_every_output_carries_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stdout, file_output, program_output (on the program's stdin) and http_output (the
    request body, to a local receiver) get the one JSON line, hostile strings included."""
    from .servers import Receiver

    monkeypatch.setenv("FALCO_HOSTNAME", "falco-node-1")
    weird = 'q"\\\n\x01é\u2028'
    events = tmp_path / "events.jsonl"
    events.write_text(
        json.dumps({"evt.type": "execve", "evt.time": TS, "proc.name": "w", "proc.cmdline": weird})
        + "\n"
    )
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "- rule: Curl\n  desc: d\n  condition: evt.type = execve and proc.name = w\n"
        "  output: ran %proc.cmdline\n  priority: WARNING\n  tags: [process]\n"
    )
    receiver = Receiver()
    sink, piped = tmp_path / "file.json", tmp_path / "program.json"
    try:
        res = run_lanner(
            "-r", str(rules), "-e", str(events), "-o", "json_output=true",
            "-o", "file_output.enabled=true", "-o", f"file_output.filename={sink}",
            "-o", "program_output.enabled=true", "-o", f"program_output.program=tee -a {piped}",
            "-o", "http_output.enabled=true", "-o", f"http_output.url={receiver.url}",
        )  # fmt: skip
    finally:
        receiver.close()
    assert res.returncode == 0, res.stderr
    # stdout has it twice: Lanner's stdout output, and tee's copy of what it was given
    (line,) = {ln for ln in res.stdout.splitlines() if ln.startswith(b'{"hostname"')}
    assert b"\\u0001" in line and "é".encode() in line
    assert sink.read_bytes() == line + b"\n"
    assert piped.read_bytes() == line + b"\n"
    (request,) = receiver.accepted()
    assert request.body == line and request.headers["Content-Type"] == "application/json"
