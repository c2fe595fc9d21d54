"""Reading audit files: one Event, an EventList, JSON lines, gzip, directories, bad lines."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import orjson
from k8s_audit_testutil import audit_event

from lanner.sources.json_source import LineError
from lanner.sources.k8s_audit import looks_like_audit_file, read_audit_events


def _read(path: Path) -> tuple[list[str], list[LineError]]:
    errors: list[LineError] = []
    names = [e.data["objectRef"]["name"] for e in read_audit_events(path, errors.append)]
    return names, errors


def test_json_lines_as_the_log_backend_writes(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_bytes(
        b"\n".join(orjson.dumps(audit_event("get", "pods", n)) for n in ("a", "b", "c")) + b"\n"
    )
    events = list(read_audit_events(path))
    assert [e.data["objectRef"]["name"] for e in events] == ["a", "b", "c"]
    assert [e.num for e in events] == [1, 2, 3]
    assert events[0].ts == 1795600800123456789


def test_one_pretty_printed_event(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(audit_event("delete", "secrets", "s1"), indent=2))
    assert _read(path) == (["s1"], [])


def test_event_list_pretty_and_single_line(tmp_path: Path) -> None:
    body = {
        "kind": "EventList",
        "apiVersion": "audit.k8s.io/v1",
        "metadata": {},
        "items": [
            {k: v for k, v in audit_event("get", "pods", n).items() if k not in ("kind",)}
            for n in ("x", "y")
        ],
    }
    pretty = tmp_path / "list.json"
    pretty.write_text(json.dumps(body, indent=4))
    assert _read(pretty) == (["x", "y"], [])
    lines = tmp_path / "lists.jsonl"
    lines.write_bytes(orjson.dumps(body) + b"\n" + orjson.dumps(body) + b"\n")
    assert _read(lines)[0] == ["x", "y", "x", "y"]


def test_gzip(tmp_path: Path) -> None:
    path = tmp_path / "audit.log.gz"
    with gzip.open(path, "wb") as gz:
        for n in ("g1", "g2"):
            gz.write(orjson.dumps(audit_event("get", "pods", n)) + b"\n")
    assert _read(path) == (["g1", "g2"], [])


def test_bad_lines_are_reported_with_file_and_line_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    no_time = audit_event("get", "pods", "t")
    del no_time["stageTimestamp"], no_time["requestReceivedTimestamp"]
    path.write_bytes(
        b"\n".join(
            [
                orjson.dumps(audit_event("get", "pods", "ok1")),
                b"{not json",
                b'{"kind": "Pod", "metadata": {"name": "p"}}',
                b"",
                b"[1, 2]",
                orjson.dumps(no_time),
                orjson.dumps(audit_event("get", "pods", "ok2")),
            ]
        )
        + b"\n"
    )
    names, errors = _read(path)
    assert names == ["ok1", "ok2"]
    assert [(e.path, e.line) for e in errors] == [
        (str(path), 2),
        (str(path), 3),
        (str(path), 5),
        (str(path), 6),
    ]
    assert str(errors[0]).startswith(f"{path}:2: skipped, not JSON")
    assert "not recognized as a k8s audit event" in errors[1].reason
    assert "not recognized" in errors[2].reason  # an array of non-events: whole line
    assert "stageTimestamp" in errors[3].reason


def test_default_report_goes_to_stderr(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "audit.log"
    path.write_bytes(orjson.dumps(audit_event("get", "pods", "a")) + b"\nnope\n")
    assert len(list(read_audit_events(path))) == 1
    assert f"{path}:2: skipped, not JSON" in capsys.readouterr().err


def test_directory_oldest_first(tmp_path: Path) -> None:
    import os

    for i, n in enumerate(("old", "new")):
        p = tmp_path / f"{n}.log"
        p.write_bytes(orjson.dumps(audit_event("get", "pods", n)) + b"\n")
        os.utime(p, (1_700_000_000 + i, 1_700_000_000 + i))
    events = list(read_audit_events(tmp_path))
    assert [e.data["objectRef"]["name"] for e in events] == ["old", "new"]
    assert [e.num for e in events] == [1, 2]


def test_stream_and_recognition(tmp_path: Path) -> None:
    data = orjson.dumps(audit_event("get", "pods", "s")) + b"\n"
    events = list(read_audit_events(io.BytesIO(data), name="stdin"))
    assert len(events) == 1
    audit = tmp_path / "a.json"
    audit.write_bytes(data)
    other = tmp_path / "b.json"
    other.write_bytes(b'{"proc.name": "bash", "evt.type": "execve"}\n')
    assert looks_like_audit_file(audit)
    assert not looks_like_audit_file(other)
    assert not looks_like_audit_file(tmp_path / "missing.json")
