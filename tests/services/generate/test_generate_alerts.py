"""Reading alerts: a followed JSON file (appends, rotation) and an HTTP receiver."""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path

import orjson
import pytest

from lanner.services.generate.alerts import FileAlerts, HttpAlerts, alert_matches, open_alerts


def alert(rule: str, output: str, **fields: object) -> dict[str, object]:
    return {"rule": rule, "output": output, "priority": "Warning", "output_fields": fields}


def line(doc: dict[str, object]) -> bytes:
    return orjson.dumps(doc) + b"\n"


def test_matches_rule_and_marker_in_output_or_fields() -> None:
    a = alert("R", "x file=/etc/m-1 y", **{"fd.name": "/etc/m-1"})
    assert alert_matches(a, "R", "m-1")
    assert not alert_matches(a, "Other", "m-1")
    assert not alert_matches(a, "R", "m-2")
    b = {"rule": "R", "output_fields": {"proc.cmdline": "cat m-3"}}  # no output property
    assert alert_matches(b, "R", "m-3")


def test_file_follows_from_the_end_then_rotation(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    path.write_bytes(line(alert("R", "old m-0")))
    feed = FileAlerts(path, poll=0.01)
    try:
        start = feed.mark()
        with open(path, "ab") as fh:
            fh.write(line(alert("R", "new m-1")) + b"not json\n")
        assert feed.wait_for("R", "m-1", 5, start) is not None
        assert feed.wait_for("R", "m-0", 0.2, start) is None  # written before we started
        path.rename(tmp_path / "alerts.json.1")
        path.write_bytes(line(alert("R", "rotated m-2")))
        assert feed.wait_for("R", "m-2", 5, start) is not None
        assert feed.bad_lines == 1
    finally:
        feed.close()


def test_file_that_appears_later_and_a_partial_line(tmp_path: Path) -> None:
    path = tmp_path / "later.json"
    feed = FileAlerts(path, poll=0.01)
    try:
        data = line(alert("R", "late m-3"))
        with open(path, "ab") as fh:
            fh.write(data[:10])
            fh.flush()
            time.sleep(0.1)
            fh.write(data[10:])
        assert feed.wait_for("R", "m-3", 5) is not None
    finally:
        feed.close()


def test_wait_wakes_up_when_the_alert_arrives(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.touch()
    feed = FileAlerts(path, poll=0.01)
    try:
        t = threading.Timer(0.3, lambda: path.write_bytes(line(alert("R", "m-4"))))
        t.start()
        t0 = time.monotonic()
        assert feed.wait_for("R", "m-4", 10) is not None
        assert time.monotonic() - t0 < 5
    finally:
        feed.close()


def test_http_receiver_takes_falco_http_output_posts() -> None:
    feed = open_alerts("http://127.0.0.1:0/")
    assert isinstance(feed, HttpAlerts)
    try:
        req = urllib.request.Request(
            feed.url,
            data=orjson.dumps(alert("R", "via http m-5")),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200
        assert feed.wait_for("R", "m-5", 5) is not None
    finally:
        feed.close()


def test_https_receiver_is_refused() -> None:
    with pytest.raises(ValueError, match="plain HTTP"):
        open_alerts("https://127.0.0.1:9/")
