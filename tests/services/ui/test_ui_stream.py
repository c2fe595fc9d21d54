"""Live updates: the Server-Sent Events stream over a real server on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import orjson
from ui_seed import make_alert

from lanner.services.ui.alerts import from_alert
from lanner.services.ui.app import create_app
from lanner.services.ui.store import Store

NOW = time.time_ns()


def read_alerts(
    url: str,
    params: dict,
    wanted: int,
    timeout: float = 20,
    ready: threading.Event | None = None,
) -> list[dict]:
    """Open the stream and collect `wanted` alert messages (or fail on timeout); `ready` is
    set once the stream said hello (its starting point is fixed from then on)."""
    found: list[dict] = []
    with httpx.stream("GET", url + "/api/v1/stream", params=params, timeout=timeout) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "hello" and ready is not None:
                ready.set()
            elif line.startswith("data: ") and event == "alert":
                found.append(orjson.loads(line[6:]))
                if len(found) == wanted:
                    return found
    raise AssertionError("stream ended early")


def test_stream_pushes_new_matching_alerts(store: Store, live_server: Callable) -> None:
    store.insert([from_alert(make_alert(0, NOW))])  # before the stream opens: not sent
    server = live_server(create_app(store, stream_poll_seconds=30))
    result: list[dict] = []
    reader = threading.Thread(
        target=lambda: result.extend(
            read_alerts(server.url, {"hostname": "node-2"}, 2, ready=ready)
        )
    )
    ready = threading.Event()
    reader.start()
    assert ready.wait(20), "the stream never said hello"  # its starting point is fixed
    for i in range(1, 7):  # hosts cycle node-2, node-3, node-1, ...
        r = httpx.post(server.url + "/api/v1/events", json=make_alert(i, NOW + i))
        assert r.status_code == 201
    reader.join(20)
    assert not reader.is_alive()
    # pushed on ingest (the 30 s poll never fired), filtered by host, in order
    assert [e["hostname"] for e in result] == ["node-2", "node-2"]
    assert [e["output"].rsplit("seq=", 1)[1] for e in result] == ["1", "4"]


def test_stream_resumes_after_last_event_id(store: Store, live_server: Callable) -> None:
    ids = store.insert([from_alert(make_alert(i, NOW + i)) for i in range(5)])
    server = live_server(create_app(store, stream_poll_seconds=0.2))
    got = read_alerts(server.url, {"after": ids[1]}, 3)
    assert [e["id"] for e in got] == ids[2:]


def test_stream_sees_rows_written_by_another_replica(store: Store, live_server: Callable) -> None:
    # a write that bypasses this app (another replica on the same database) is picked up by
    # the poll, not by a notification
    server = live_server(create_app(store, stream_poll_seconds=0.2))
    result: list[dict] = []
    ready = threading.Event()
    reader = threading.Thread(
        target=lambda: result.extend(read_alerts(server.url, {}, 1, ready=ready))
    )
    reader.start()
    assert ready.wait(20), "the stream never said hello"
    store.insert([from_alert(make_alert(9, NOW))])
    reader.join(20)
    assert [e["rule"] for e in result] == [make_alert(9, NOW)["rule"]]
