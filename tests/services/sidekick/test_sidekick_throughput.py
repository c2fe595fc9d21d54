"""The throughput work: the lean HTTP client, batched POSTs, and batched delivery (Loki
push, Elasticsearch `_bulk`), against real local servers."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry

from lanner.exceptions import PermanentError, ProtocolError
from lanner.services.sidekick.alert import Alert
from lanner.services.sidekick.app import create_app
from lanner.services.sidekick.config import load_config
from lanner.services.sidekick.delivery import Dispatcher, RetryPolicy
from lanner.services.sidekick.httpclient import TICK, HttpClient
from lanner.services.sidekick.stats import Stats

from .helpers import Receiver, make_alert
from .outputs_util import outputs_from_env

FAST = RetryPolicy(backoff=0.01, maxbackoff=0.02)


class RawServer:
    """An asyncio TCP server answering each request with `answer(n, request)` (bytes, or
    None to close without answering); counts connections and records requests."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                reply = self.answer(len(self.requests), head + body)
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
                if b"connection: close" in reply.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_client_keeps_one_connection_alive_and_sends_one_request_each() -> None:
    async def main() -> None:
        server = RawServer(lambda n, req: OK)
        async with server as url:
            client = HttpClient(5, None, headers={"User-Agent": "t"})
            for i in range(3):
                resp = await client.request(
                    "POST", url + "/hook?x=1", f"body{i}".encode(), {"X-A": "b"}
                )
                assert (resp.status_code, resp.text) == (200, "ok")
            await client.aclose()
        assert server.connections == 1
        first = server.requests[0]
        assert first.startswith(b"POST /hook?x=1 HTTP/1.1\r\nHost: 127.0.0.1:")
        assert b"\r\nUser-Agent: t\r\n" in first and b"\r\nX-A: b\r\n" in first
        assert first.endswith(b"Content-Length: 5\r\n\r\nbody0")

    asyncio.run(main())


def test_client_reconnects_when_the_server_closed_the_idle_connection() -> None:
    async def main() -> None:
        # the first answer keeps the connection alive, then the server closes it unannounced
        server = RawServer(lambda n, req: OK if n != 2 else None)
        async with server as url:
            client = HttpClient(5, None)
            assert (await client.request("POST", url, b"a")).status_code == 200
            # request 2 is read and dropped without an answer on the reused connection:
            # sent again once on a fresh connection, where it is answered
            assert (await client.request("POST", url, b"b")).status_code == 200
            await client.aclose()
        assert server.connections == 2
        assert [r.endswith(b"a") or r.endswith(b"b") for r in server.requests] == [True] * 3

    asyncio.run(main())


def test_client_reads_chunked_and_until_close_bodies_and_times_out() -> None:
    chunked = (
        b"HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    until_close = b"HTTP/1.0 429 Slow\r\nRetry-After: 7\r\nConnection: close\r\n\r\nlater"
    answers = {1: chunked, 2: until_close}

    async def main() -> None:
        server = RawServer(lambda n, req: answers.get(n, b""))  # 3rd: never answered
        async with server as url:
            client = HttpClient(0.5, None)
            resp = await client.request("POST", url, b"x")
            assert (resp.status_code, resp.content) == (500, b"abcde")
            resp = await client.request("POST", url, b"x")
            assert (resp.status_code, resp.text, resp.headers["retry-after"]) == (
                429,
                "later",
                "7",
            )
            start = time.monotonic()
            with pytest.raises(TimeoutError):
                await client.request("POST", url, b"x")
            # one timer checks every TICK (0.1 s) for deadlines past: late by at most that
            assert 0.5 <= time.monotonic() - start < 0.5 + TICK + 0.4
            with pytest.raises(ValueError, match="line break"):
                await client.request("POST", url, b"x", {"X-Bad": "a\r\nInjected: 1"})
            await client.aclose()

    asyncio.run(main())


def test_client_reports_a_server_that_closes_before_answering() -> None:
    async def main() -> None:
        async with RawServer(lambda n, req: None) as url:
            client = HttpClient(5, None)
            with pytest.raises(ProtocolError):
                await client.request("POST", url, b"x")  # a fresh connection: not retried
            await client.aclose()

    asyncio.run(main())


def test_output_header_injection_is_refused_for_good(receiver: Receiver) -> None:
    out = outputs_from_env({"WEBHOOK_ADDRESS": receiver.url, "WEBHOOK_CUSTOMHEADERS": "X:a\nb"})
    webhook = out["webhook"]
    webhook.settings["customheaders"] = {"X-Bad": "a\r\nb"}

    async def main() -> None:
        try:
            with pytest.raises(PermanentError):
                await webhook.send(Alert.from_dict(make_alert()))
        finally:
            await webhook.close()

    asyncio.run(main())


def test_a_proxy_in_the_environment_routes_through_httpx(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", receiver.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    out = outputs_from_env({"WEBHOOK_ADDRESS": "http://sidekick-target.invalid/hook"})["webhook"]

    async def main() -> None:
        try:
            await out.send(Alert.from_dict(make_alert()))
        finally:
            await out.close()

    asyncio.run(main())
    (req,) = receiver.wait_for(1)
    assert req.path == "http://sidekick-target.invalid/hook"  # absolute form: a proxy request


def _app(tmp_path: Path, **env: str) -> Any:
    env = {
        "FILE_PATH": str(tmp_path / "out.jsonl"),
        "PROMETHEUS_DISABLED": "true",
        "DELIVERY_SPOOLDIR": str(tmp_path / "spool"),
        **env,
    }
    return create_app(load_config(None, env))


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_batched_posts_json_array_and_ndjson(tmp_path: Path) -> None:
    async def main() -> None:
        app = _app(tmp_path, FILE_MINIMUMPRIORITY="error", DELIVERY_SPOOLDIR=str(tmp_path / "sp"))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://sk") as c:
                batch = [make_alert("Error", rule=f"r{i}") for i in range(3)]
                batch.append(make_alert("Notice", rule="below minimum"))
                resp = await c.post("/", json=batch)
                assert resp.status_code == 200
                assert resp.json() == {"status": "accepted", "count": 4, "outputs": ["file"]}
                ndjson = b"\n".join(
                    orjson.dumps(make_alert("Critical", rule=f"n{i}")) for i in (0, 1)
                )
                for content_type in ("application/x-ndjson", "application/json"):
                    resp = await c.post(
                        "/", content=ndjson + b"\n", headers={"content-type": content_type}
                    )
                    assert resp.json()["count"] == 2
                # one bad alert refuses the whole batch, naming it; nothing of it is queued
                bad = [make_alert("Error", rule="never"), {"rule": "x"}]
                resp = await c.post("/", json=bad)
                assert resp.status_code == 400
                assert resp.json()["error"] == "alert 1: missing required field 'priority'"
                assert (await c.post("/", json=[])).status_code == 400
                resp = await c.post("/", content=b'{"a": 1}\n{not json')
                assert resp.status_code == 400 and "line 2" in resp.json()["error"]
                # the Falco path is unchanged
                resp = await c.post("/", json=make_alert("Error", rule="single"))
                assert resp.json() == {"status": "accepted", "outputs": ["file"]}
            assert await app.state.dispatcher.drain(10)
            counts = app.state.stats.snapshot()
            assert counts["input"] == {"accepted": 9, "rejected": 4}  # 2 + 1 + 1
        rules = [a["rule"] for a in _lines(tmp_path / "out.jsonl")]
        assert rules == ["r0", "r1", "r2", "n0", "n1", "n0", "n1", "single"]

    asyncio.run(main())


def _queued_then_started(outputs: list[Any], alerts: list[dict[str, Any]]) -> Dispatcher:
    """A dispatcher whose queue holds `alerts` before its workers start (so they batch)."""
    d = Dispatcher(outputs, Stats(CollectorRegistry()), FAST)
    for data in alerts:
        d.submit(Alert.from_dict(data))
    return d


def test_loki_pushes_waiting_alerts_in_one_request(receiver: Receiver) -> None:
    loki = outputs_from_env({"LOKI_HOSTPORT": receiver.url})["loki"]
    alerts = [make_alert(rule="a"), make_alert(rule="b"), make_alert(rule="a")]

    async def main() -> None:
        d = _queued_then_started([loki], alerts)
        await d.start()
        assert await d.drain(10)
        await d.stop()
        assert d.stats.snapshot()["loki"] == {"sent": 3}

    asyncio.run(main())
    (req,) = receiver.wait_for(1)
    streams = {s["stream"]["rule"]: s["values"] for s in req.json()["streams"]}
    assert sorted(streams) == ["a", "b"] and len(streams["a"]) == 2 and len(streams["b"]) == 1


class BulkServer:
    """Elasticsearch stand-in: `_bulk` refuses the documents whose rule starts with
    `refuse` (429, retryable); the document API accepts all. Records (path, body)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append((self.path, body))
                answer: dict[str, Any] = {"result": "created"}
                if self.path.startswith("/_bulk"):
                    docs = [json.loads(line) for line in body.splitlines()[1::2]]
                    statuses = [429 if d["rule"].startswith("refuse") else 201 for d in docs]
                    answer = {
                        "errors": 429 in statuses,
                        "items": [{"index": {"status": s}} for s in statuses],
                    }
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def bulk() -> Iterator[BulkServer]:
    server = BulkServer()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_elasticsearch_bulk_then_refused_documents_alone(bulk: BulkServer) -> None:
    es = outputs_from_env({"ELASTICSEARCH_HOSTPORT": bulk.url, "ELASTICSEARCH_PIPELINE": "p"})
    alerts = [make_alert(rule="one"), make_alert(rule="refuse me"), make_alert(rule="three")]

    async def main() -> None:
        d = _queued_then_started([es["elasticsearch"]], alerts)
        await d.start()
        assert await d.drain(10)
        await d.stop()
        assert d.stats.snapshot()["elasticsearch"] == {"sent": 3}

    asyncio.run(main())
    (path, body), (doc_path, doc) = bulk.requests
    assert path == "/_bulk?pipeline=p"
    lines = body.decode().splitlines()
    assert json.loads(lines[0]) == {"index": {"_index": "falco-2023.11.14"}}
    assert [json.loads(x)["rule"] for x in lines[1::2]] == ["one", "refuse me", "three"]
    assert json.loads(lines[1])["@timestamp"] == alerts[0]["time"]
    assert doc_path == "/falco-2023.11.14/_doc?pipeline=p"
    assert json.loads(doc)["rule"] == "refuse me"
