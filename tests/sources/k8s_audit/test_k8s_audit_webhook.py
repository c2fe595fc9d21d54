"""The audit webhook on loopback: 200 for events, 4xx with a reason for bad input, TLS."""

from __future__ import annotations

import gzip
import http.client
import logging
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from k8s_audit_testutil import Harness, audit_event

from helpers import require_tool
from lanner.sources.json_source import JsonEvent
from lanner.sources.k8s_audit import DEFAULT_PATH, DEFAULT_PORT, AuditWebhook

JSON = {"Content-Type": "application/json"}


def event_list(*names: str) -> dict[str, Any]:
    items = []
    for n in names:
        ev = audit_event("get", "pods", n)
        del ev["kind"], ev["apiVersion"]  # EventList items carry no type meta
        items.append(ev)
    return {"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": items}


@pytest.fixture
def hook() -> Iterator[AuditWebhook]:
    with AuditWebhook(host="127.0.0.1", port=0, max_body_bytes=64 * 1024) as h:
        yield h


def post(
    hook: AuditWebhook,
    body: bytes,
    headers: dict[str, str] | None = None,
    path: str | None = None,
    method: str = "POST",
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", hook.port, timeout=10)
    try:
        conn.request(method, path or hook.path, body=body, headers=headers or JSON)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def take(hook: AuditWebhook, count: int) -> list[JsonEvent]:
    """The next ``count`` events, then checks none is left over."""
    stream = hook.events(timeout=5)
    got = [next(stream) for _ in range(count)]
    assert hook._queue.empty()
    return got


def test_defaults_are_the_plugins() -> None:
    assert (DEFAULT_PORT, DEFAULT_PATH) == (9765, "/k8s-audit")
    hook = AuditWebhook()
    assert hook.url == "http://127.0.0.1:9765/k8s-audit"
    assert AuditWebhook.from_url("http://:9000/audit").url == "http://127.0.0.1:9000/audit"
    with pytest.raises(ValueError):
        AuditWebhook.from_url("https://:9765/k8s-audit")


def test_event_list_is_accepted_in_order(hook: AuditWebhook) -> None:
    status, body = post(hook, orjson.dumps(event_list("a", "b", "c")))
    assert status == 200
    assert orjson.loads(body) == {"accepted": 3, "rejected": []}
    events = take(hook, 3)
    assert [e.data["objectRef"]["name"] for e in events] == ["a", "b", "c"]
    assert [e.num for e in events] == [1, 2, 3]
    assert events[0].ts == 1795600800123456789


def test_single_event_and_array(hook: AuditWebhook) -> None:
    assert post(hook, orjson.dumps(audit_event("get", "pods", "one")))[0] == 200
    both = [audit_event("get", "pods", "two"), audit_event("get", "pods", "three")]
    assert post(hook, orjson.dumps(both))[0] == 200
    assert [e.data["objectRef"]["name"] for e in take(hook, 3)] == ["one", "two", "three"]


@pytest.mark.parametrize(
    ("body", "headers", "status", "reason"),
    [
        (b"{not json", JSON, 400, "bad request: invalid JSON"),
        (b'{"kind": "Pod"}', JSON, 400, "not recognized as a k8s audit event"),
        (b'{"kind": "EventList", "items": [{"auditID": "x"}]}', JSON, 400, "stageTimestamp"),
        (b"{}", {"Content-Type": "text/plain"}, 400, "wrong Content Type"),
        (b"x" * (64 * 1024 + 1), JSON, 413, "larger than 65536 bytes"),
    ],
    ids=["invalid-json", "not-audit", "no-timestamp", "content-type", "too-large"],
)
def test_bad_input_gets_a_4xx_with_the_reason_and_the_server_goes_on(
    hook: AuditWebhook, body: bytes, headers: dict[str, str], status: int, reason: str
) -> None:
    got, text = post(hook, body, headers)
    assert got == status
    assert reason in text.decode()
    assert post(hook, orjson.dumps(event_list("after")))[0] == 200
    assert [e.data["objectRef"]["name"] for e in take(hook, 1)] == ["after"]
    assert hook.rejected_requests == 1


def test_method_path_and_health(hook: AuditWebhook) -> None:
    assert post(hook, b"", method="GET")[0] == 405
    assert post(hook, b"{}", path="/elsewhere")[0] == 404
    assert post(hook, b"", path="/healthz", method="GET") == (200, b"ok\n")


def test_partly_bad_event_list_keeps_the_good_items(hook: AuditWebhook) -> None:
    body = event_list("good")
    body["items"].append({"auditID": "no-time"})
    status, text = post(hook, orjson.dumps(body))
    assert status == 200
    reply = orjson.loads(text)
    assert reply["accepted"] == 1
    assert "items[1]" in reply["rejected"][0]
    assert len(take(hook, 1)) == 1


def test_chunked_gzip_and_keep_alive(hook: AuditWebhook) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", hook.port, timeout=10)
    try:
        payload = orjson.dumps(event_list("c1", "c2"))
        chunks = iter([payload[:100], payload[100:]])
        conn.request("POST", hook.path, body=chunks, headers=JSON, encode_chunked=True)
        resp = conn.getresponse()
        assert (resp.status, orjson.loads(resp.read())["accepted"]) == (200, 2)
        zipped = gzip.compress(orjson.dumps(event_list("z1")))
        conn.request("POST", hook.path, body=zipped, headers={**JSON, "Content-Encoding": "gzip"})
        resp = conn.getresponse()
        assert (resp.status, orjson.loads(resp.read())["accepted"]) == (200, 1)
    finally:
        conn.close()
    assert [e.data["objectRef"]["name"] for e in take(hook, 3)] == ["c1", "c2", "z1"]


def test_callback_feeds_the_engine() -> None:
    harness = Harness(match_all=False)
    alerts: list[str] = []

    def on_events(events: list[JsonEvent]) -> None:
        for ev in events:
            alerts.extend(a.rule for a in harness.engine.process(ev, "k8s_audit"))

    with AuditWebhook(on_events, host="127.0.0.1", port=0) as hook:
        body = event_list("x")
        body["items"][0]["user"]["username"] = "mallory"
        assert post(hook, orjson.dumps(body))[0] == 200
    assert alerts == ["Disallowed K8s User"]


def test_failing_consumer_answers_503_so_the_apiserver_retries() -> None:
    def boom(_events: list[JsonEvent]) -> None:
        raise RuntimeError("queue closed")

    with AuditWebhook(boom, host="127.0.0.1", port=0) as hook:
        status, text = post(hook, orjson.dumps(event_list("x")))
    assert status == 503
    assert b"queue closed" in text
    assert hook.accepted == 0


def test_https_with_cert_and_key(tmp_path: Path) -> None:
    require_tool("openssl", "openssl")
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    with AuditWebhook(host="127.0.0.1", port=0, certfile=str(cert), keyfile=str(key)) as hook:
        assert hook.url.startswith("https://")
        ctx = ssl.create_default_context(cafile=str(cert))
        conn = http.client.HTTPSConnection("127.0.0.1", hook.port, context=ctx, timeout=10)
        conn.request("POST", hook.path, body=orjson.dumps(event_list("tls")), headers=JSON)
        resp = conn.getresponse()
        assert resp.status == 200
        conn.close()
        # a plain-HTTP client is refused without taking the server down
        plain = http.client.HTTPConnection("127.0.0.1", hook.port, timeout=10)
        with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
            plain.request("POST", hook.path, body=b"{}", headers=JSON)
            plain.getresponse().read()
        plain.close()
        assert [e.data["objectRef"]["name"] for e in take(hook, 1)] == ["tls"]


def test_ipv6_loopback() -> None:
    import socket

    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        hook = AuditWebhook(host="::1", port=0)
        hook.start()
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback: {exc}")
    try:
        conn = http.client.HTTPConnection("::1", hook.port, timeout=10)
        conn.request("POST", hook.path, body=orjson.dumps(event_list("v6")), headers=JSON)
        assert conn.getresponse().status == 200
        conn.close()
        assert [e.data["objectRef"]["name"] for e in take(hook, 1)] == ["v6"]
    finally:
        hook.stop()


def test_stop_with_a_full_queue_ends_everything() -> None:
    import threading
    import time

    hook = AuditWebhook(host="127.0.0.1", port=0, queue_size=1, accept_wait=60)
    hook.start()
    filler = [JsonEvent({"filler": True}, 0)]
    assert hook._queue.put(filler, 0, lambda: False)  # nobody drains: the queue stays full
    answers: list[int] = []

    def client() -> None:
        answers.append(post(hook, orjson.dumps(event_list("late")))[0])

    t = threading.Thread(target=client)
    t.start()
    deadline = time.monotonic() + 10
    while hook._next_num == 1 and time.monotonic() < deadline:  # the request is waiting
        time.sleep(0.01)
    assert hook._next_num == 2
    hook.stop()
    t.join(timeout=10)
    assert not t.is_alive()
    assert answers == [503]
    assert hook.accepted == 0
    assert [e.data for e in hook.events()] == [{"filler": True}]


def raw(port: int, request: bytes) -> bytes:
    """Send raw bytes, return everything the server answers before closing (or 5 s)."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        parts = []
        while chunk := sock.recv(65536):
            parts.append(chunk)
    return b"".join(parts)


def test_full_queue_answers_503_with_retry_after_and_keeps_nothing_of_the_batch() -> None:
    with AuditWebhook(host="127.0.0.1", port=0, queue_size=3, accept_wait=0.2) as hook:
        assert post(hook, orjson.dumps(event_list("a", "b")))[0] == 200
        conn = http.client.HTTPConnection("127.0.0.1", hook.port, timeout=10)
        conn.request("POST", hook.path, body=orjson.dumps(event_list("c", "d")), headers=JSON)
        resp = conn.getresponse()
        assert resp.status == 503
        assert resp.getheader("Retry-After") == "1"
        assert b"queue full" in resp.read()
        conn.close()
        assert (hook.accepted, hook.busy_requests, hook.pending) == (2, 1, 2)
        assert [e.data["objectRef"]["name"] for e in take(hook, 2)] == ["a", "b"]
        # the retry of the same batch, now that there is room, is taken whole
        assert post(hook, orjson.dumps(event_list("c", "d")))[0] == 200
        assert [e.data["objectRef"]["name"] for e in take(hook, 2)] == ["c", "d"]


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", "\u00b2", "12 34", "0x10"])
def test_a_bad_content_length_is_400_and_the_server_goes_on(
    hook: AuditWebhook, length: str
) -> None:
    request = (
        f"POST {hook.path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n{{}}"
    ).encode()
    answer = raw(hook.port, request)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"Traceback" not in answer
    assert post(hook, orjson.dumps(event_list("after")))[0] == 200


def test_deeply_nested_arrays_are_a_400_not_a_crash(hook: AuditWebhook) -> None:
    """Found by the fuzz test: 1000 nested arrays (within orjson's depth limit) made the
    payload parser recurse until RecursionError."""
    status, text = post(hook, b"[" * 1000 + b"]" * 1000)
    assert status == 400 and b"nested deeper than 8" in text
    nested = b"[[" + orjson.dumps(event_list("n")) + b"]]"
    assert post(hook, nested)[0] == 200  # a little nesting is still read
    assert [e.data["objectRef"]["name"] for e in take(hook, 1)] == ["n"]


def test_default_bind_is_loopback() -> None:
    assert AuditWebhook().host == "127.0.0.1"
    assert AuditWebhook.from_url("http://:9765/k8s-audit").host == "127.0.0.1"
    assert AuditWebhook.from_url("http://0.0.0.0:9765/k8s-audit").host == "0.0.0.0"
    with AuditWebhook(port=0) as hook:
        assert hook._server is not None
        assert hook._server.server_address[0] == "127.0.0.1"


def test_token_required_when_set_and_health_stays_open() -> None:
    body = orjson.dumps(event_list("t"))
    with AuditWebhook(host="127.0.0.1", port=0, token="s3cret-token") as hook:
        status, text = post(hook, body)
        assert status == 401 and b"bearer token" in text
        assert post(hook, body, {**JSON, "Authorization": "Bearer wrong"})[0] == 401
        assert post(hook, body, {**JSON, "Authorization": "Basic s3cret-token"})[0] == 401
        assert post(hook, body, {**JSON, "Authorization": "Bearer s3cret-token"})[0] == 200
        assert post(hook, b"", path="/healthz", method="GET") == (200, b"ok\n")
        assert hook.unauthorized_requests == 3
        assert [e.data["objectRef"]["name"] for e in take(hook, 1)] == ["t"]


def test_a_flood_of_refused_requests_does_not_flood_the_log(caplog: Any) -> None:
    with AuditWebhook(host="127.0.0.1", port=0, token="t") as hook:
        with caplog.at_level("WARNING", logger="lanner.k8s_audit.webhook"):
            for _ in range(200):
                assert post(hook, b"{}")[0] == 401
            for _ in range(50):
                assert post(hook, b"{", {**JSON, "Authorization": "Bearer t"})[0] == 400
        assert hook.unauthorized_requests == 200 and hook.rejected_requests == 250
    # (the start line is INFO; whether it is captured depends on the logger levels that
    # earlier tests of the session left: count the warnings only)
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 2  # one for the 401s, one for the 400s, within 10 s
    assert "401" in lines[0] and "bearer token" in lines[0] and "from 127.0.0.1" in lines[0]
