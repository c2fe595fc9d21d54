"""`POST /` answered by sidekick's own protocol (issue 23): same answers as the ASGI app,
order kept on a connection, grouped spool writes that lose nothing on kill -9, and the
delivery queue waking one consumer per alert. Real sidekick processes on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
from pathlib import Path

import httpx

from lanner.services.sidekick.delivery import ACK_DELAY, MemoryQueue, Spool

from .helpers import Receiver, Sidekick, free_port, make_alert

TOKEN = "fast-token"


def _request(method: str, path: str, body: bytes = b"", **headers: str) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: test\r\n"
    for name, value in headers.items():
        head += f"{name.replace('_', '-')}: {value}\r\n"
    if method == "POST" and "Transfer_Encoding" not in headers:
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def _read_answers(sock: socket.socket, count: int) -> list[tuple[int, dict[str, str], bytes]]:
    """`count` HTTP/1.1 answers (each with a Content-Length) read from `sock` in order."""
    buf = b""
    out: list[tuple[int, dict[str, str], bytes]] = []
    sock.settimeout(20)
    while len(out) < count:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            lines = buf[:end].decode("latin-1").split("\r\n")
            headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
            size = int(headers["content-length"])
            if len(buf) >= end + 4 + size:
                out.append((int(lines[0].split()[1]), headers, buf[end + 4 : end + 4 + size]))
                buf = buf[end + 4 + size :]
                continue
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {len(out)} of {count} answers"
        buf += chunk
    return out


def test_pipelined_requests_are_answered_in_order(
    tmp: Path, receiver: Receiver, sidekicks: list[Sidekick]
) -> None:
    """Fast and ASGI requests sent in one write on one connection come back in order, each
    with the answer the ASGI app gives (the spool is on: grouped commits)."""
    sk = Sidekick(tmp, {"webhook": {"address": receiver.url}, "auth": {"token": TOKEN}})
    sidekicks.append(sk)
    auth = {"Authorization": f"Bearer {TOKEN}", "Content_Type": "application/json"}
    good = json.dumps(make_alert(rule="first")).encode()
    second = json.dumps(make_alert(rule="second")).encode()
    chunked = json.dumps(make_alert(rule="chunked")).encode()
    requests = [
        _request("POST", "/", good, **auth),
        _request("GET", "/healthz"),
        _request("POST", "/", second, **auth),
        _request("POST", "/", good, Authorization="Bearer wrong"),
        _request("POST", "/", b'{"rule": ', **auth),
        _request("POST", "/", good, **{"Content_Type": "application/json"}),
        _request("POST", "/", b"", **auth, Transfer_Encoding="chunked")
        + f"{len(chunked):x}\r\n".encode()
        + chunked
        + b"\r\n0\r\n\r\n",
    ]
    with socket.create_connection(("127.0.0.1", sk.port)) as sock:
        sock.sendall(b"".join(requests))
        answers = _read_answers(sock, len(requests))
    statuses = [status for status, _, _ in answers]
    assert statuses == [200, 200, 200, 401, 400, 401, 200], answers
    assert json.loads(answers[0][2]) == {"status": "accepted", "outputs": ["prometheus", "webhook"]}
    assert json.loads(answers[1][2])["status"] == "ok"
    assert json.loads(answers[4][2])["error"].startswith("invalid JSON")
    assert answers[3][1]["www-authenticate"] == "Bearer"
    receiver.wait_for(3)
    assert [r.json()["rule"] for r in receiver.requests] == ["first", "second", "chunked"]


def test_refusals_pipelined_behind_stored_alerts_keep_their_place(
    tmp: Path, receiver: Receiver, sidekicks: list[Sidekick]
) -> None:
    """With the spool on, an accepted alert is answered once its grouped transaction is
    committed; refusals pipelined behind it on the same connection, known at once, are
    held back until then, so every answer comes back in the order of its request."""
    sk = Sidekick(tmp, {"webhook": {"address": receiver.url}, "auth": {"token": TOKEN}})
    sidekicks.append(sk)
    auth = {"Authorization": f"Bearer {TOKEN}", "Content_Type": "application/json"}
    bodies = [
        json.dumps(make_alert(rule="first")).encode(),
        b'{"rule": ',
        json.dumps({"rule": "no priority"}).encode(),
        json.dumps(make_alert(rule="second")).encode(),
        b"[]",
        json.dumps(make_alert(rule="third")).encode(),
    ]
    with socket.create_connection(("127.0.0.1", sk.port)) as sock:
        sock.sendall(b"".join(_request("POST", "/", body, **auth) for body in bodies))
        answers = _read_answers(sock, len(bodies))
    assert [status for status, _, _ in answers] == [200, 400, 400, 200, 400, 200], answers
    errors = [json.loads(answers[i][2])["error"] for i in (1, 2, 4)]
    assert errors[0].startswith("invalid JSON")
    assert errors[1] == "missing required field 'priority'" and errors[2] == "empty batch"
    receiver.wait_for(3)
    assert [r.json()["rule"] for r in receiver.requests] == ["first", "second", "third"]


def test_oversize_bodies_and_a_flood_lose_nothing_accepted(
    tmp: Path, receiver: Receiver, sidekicks: list[Sidekick]
) -> None:
    """An oversize body is refused (413) without reading it, on a connection that then
    goes on; a flood of alerts over many keep-alive connections at once is answered 200
    each, and every accepted alert reaches the output, once."""
    import threading

    from lanner.services.sidekick.ingest import MAX_BODY

    sk = Sidekick(tmp, {"webhook": {"address": receiver.url}, "auth": {"token": TOKEN}})
    sidekicks.append(sk)
    auth = {"Authorization": f"Bearer {TOKEN}", "Content_Type": "application/json"}
    head = _request("POST", "/", b"", **auth).replace(
        b"Content-Length: 0", f"Content-Length: {MAX_BODY + 1}".encode()
    )
    with socket.create_connection(("127.0.0.1", sk.port)) as sock:
        sock.sendall(head)  # the body is never sent: the answer must not wait for it
        ((status, _, _),) = _read_answers(sock, 1)
    assert status == 413
    connections, per_connection = 16, 25
    statuses: list[int] = []

    def client(c: int) -> None:
        bodies = [
            json.dumps(make_alert(rule=f"flood {c} {i}")).encode() for i in range(per_connection)
        ]
        with socket.create_connection(("127.0.0.1", sk.port)) as sock:
            sock.sendall(b"".join(_request("POST", "/", b, **auth) for b in bodies))
            statuses.extend(status for status, _, _ in _read_answers(sock, per_connection))

    threads = [threading.Thread(target=client, args=(c,)) for c in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    total = connections * per_connection
    assert statuses == [200] * total
    rules = [r.json()["rule"] for r in receiver.wait_for(total, timeout=60)]
    assert sorted(rules) == sorted(f"flood {c} {i}" for c in range(connections)
                                   for i in range(per_connection))  # fmt: skip
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert sk.process.proc.poll() is None
    assert sk.post(make_alert(), headers=bearer).status_code == 200


def test_connection_close_and_idle_keep_alive_end_the_connection(
    tmp: Path, sidekicks: list[Sidekick]
) -> None:
    sk = Sidekick(tmp, {"delivery": {"spooldir": "none"}})
    sidekicks.append(sk)
    body = json.dumps(make_alert()).encode()
    with socket.create_connection(("127.0.0.1", sk.port)) as sock:
        sock.sendall(_request("POST", "/", body, Connection="close"))
        [(status, headers, _)] = _read_answers(sock, 1)
        assert status == 200 and headers["connection"] == "close"
        assert sock.recv(10) == b""  # closed by the server
    with socket.create_connection(("127.0.0.1", sk.port)) as sock:
        sock.sendall(_request("POST", "/", body))
        [(status, headers, _)] = _read_answers(sock, 1)
        assert status == 200 and "connection" not in headers
        sock.settimeout(30)  # uvicorn's keep-alive timeout is 5 s
        assert sock.recv(10) == b""


def test_concurrent_posts_survive_kill_9(
    tmp: Path, receivers: list[Receiver], sidekicks: list[Sidekick]
) -> None:
    """16 connections posting at once (their alerts share spool transactions), every one
    answered 200 while the target is down; kill -9; the restarted sidekick delivers all."""
    port = free_port()
    config = {"webhook": {"address": f"http://127.0.0.1:{port}/"}}
    sk = Sidekick(tmp, dict(config), name="first")
    sidekicks.append(sk)

    async def post_all() -> list[int]:
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=16)) as client:

            async def one(i: int) -> int:
                resp = await client.post(sk.url + "/", json=make_alert(rule=f"r{i}"))
                return resp.status_code

            return await asyncio.gather(*(one(i) for i in range(400)))

    assert set(asyncio.run(post_all())) == {200}
    sk.process.proc.kill()
    sk.process.proc.wait(10)
    receiver = Receiver(port=port)
    receivers.append(receiver)
    sidekicks.append(Sidekick(tmp, dict(config), name="first"))  # the same spool directory
    receiver.wait_for(400, timeout=120)
    rules = sorted(r.json()["rule"] for r in receiver.requests)
    assert rules == sorted(f"r{i}" for i in range(400))


def test_queue_wakes_one_consumer_per_alert() -> None:
    async def run() -> tuple[list[int], int]:
        queue = MemoryQueue(10)
        got: list[int] = []

        async def consume() -> None:
            item = await queue.get()
            got.append(item[0])

        tasks = [asyncio.create_task(consume()) for _ in range(3)]
        await asyncio.sleep(0)
        assert queue.put((7, b"{}"))
        await asyncio.sleep(0.05)
        waiting = sum(not t.done() for t in tasks)
        assert queue.put((8, b"{}")) and queue.put((9, b"{}"))
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        return got, waiting

    got, waiting = asyncio.run(run())
    assert got == [7, 8, 9] and waiting == 2


def test_acks_are_grouped_and_forgotten_soon(tmp_path: Path) -> None:
    async def run() -> list[tuple[int, bytes]]:
        spool = Spool(tmp_path)
        keys = [spool.put(["out"], f"{i}".encode())["out"] for i in range(5)]
        spool.ack_soon(keys[:2])
        spool.ack_soon(keys[2:3])
        on_disk = sqlite3.connect(tmp_path / "spool.sqlite3")
        assert on_disk.execute("SELECT COUNT(*) FROM queue").fetchone() == (5,)
        await asyncio.sleep(ACK_DELAY + 0.1)
        assert on_disk.execute("SELECT COUNT(*) FROM queue").fetchone() == (2,)
        spool.ack_soon(keys[3:4])
        left = spool.pending("out")  # reading forgets what was delivered first
        spool.ack_soon([keys[4]])
        spool.close()  # and so does closing
        assert on_disk.execute("SELECT COUNT(*) FROM queue").fetchone() == (0,)
        return left

    assert asyncio.run(run()) == [(5, b"4")]


def test_wrong_token_never_takes_the_fast_path(tmp: Path, sidekicks: list[Sidekick]) -> None:
    sk = Sidekick(tmp, {"auth": {"token": TOKEN}, "delivery": {"spooldir": "none"}})
    sidekicks.append(sk)
    alert = make_alert()
    for header in ("", "Bearer", f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"bearer {TOKEN[:-1]}"):
        headers = {"Authorization": header} if header else {}
        assert sk.post(alert, headers=headers).status_code == 401, header
    assert sk.post(alert, headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200
