"""Throughput benchmark: alerts/s accepted by `lanner sidekick` and delivered to a local
keep-alive webhook, on loopback, and the sidekick's CPU time per alert (steadier than the
rates on a shared machine). `python -m lanner.services.sidekick.bench --help`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from .alert import now_rfc3339

SIDEKICK = [sys.executable, "-c", "from lanner.services.sidekick.cli import sidekick; sidekick()"]


class Sink:
    """A minimal HTTP/1.1 keep-alive server answering 200 and counting requests."""

    def __init__(self) -> None:
        self.count = 0
        self.done = asyncio.Event()
        self.target = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                self.count += 1
                if self.count >= self.target:
                    self.done.set()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            writer.close()  # the client left, or the benchmark is over

    async def start(self) -> int:
        """Listen on a free loopback port; return it."""
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]


async def _post_many(port: int, count: int, body: bytes) -> None:
    """POST `body` `count` times on one keep-alive connection, one request at a time (as
    Falco's http_output does with its persistent curl handle)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        "POST / HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    for _ in range(count):
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"sidekick answered {head[:40]!r}")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
    writer.close()


def serve_sink(port: int) -> None:
    """Run a Sink on `port` until killed: the yardstick server (a bare keep-alive HTTP/1.1
    server in its own Python process, answering 200 to every POST without parsing JSON)."""

    async def forever() -> None:
        sink = Sink()
        sink.target = 1 << 62
        server = await asyncio.start_server(sink._serve, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(forever())


async def _wait_port(port: int) -> None:
    for _ in range(600):
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


async def yardstick(alerts: int, connections: int, body: bytes) -> dict[str, float]:
    """The same client against the bare server of `serve_sink` in a process of its own:
    what the client, loopback and a minimal Python HTTP server reach on this machine now."""
    port = _free_port()
    code = f"from lanner.services.sidekick.bench import serve_sink; serve_sink({port})"
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
    try:
        await _wait_port(port)
        per, extra = divmod(alerts, connections)
        cpu0 = _cpu_seconds(proc.pid)
        start = time.perf_counter()
        await asyncio.gather(
            *(_post_many(port, per + (i < extra), body) for i in range(connections))
        )
        elapsed = time.perf_counter() - start
        cpu = _cpu_seconds(proc.pid) - cpu0
    finally:
        proc.terminate()
        proc.wait(30)
    return {"yardstick_per_s": alerts / elapsed, "yardstick_cpu_us_per_req": cpu / alerts * 1e6}


def bench_alert() -> dict[str, Any]:
    """The alert the benchmark posts."""
    return {
        "output": "16:14:13.012345678: Warning Sensitive file opened (file=/etc/shadow)",
        "priority": "Warning",
        "rule": "Read sensitive file untrusted",
        "source": "syscall",
        "time": now_rfc3339(),
        "hostname": "bench",
        "output_fields": {"fd.name": "/etc/shadow", "proc.name": "cat"},
        "tags": ["filesystem"],
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(
    alerts: int,
    connections: int,
    spool: bool,
    concurrency: int,
    batch: int = 1,
    src: str = "",
    no_output: bool = False,
) -> dict[str, float]:
    """Start a sink and a sidekick, send `alerts` (`batch` per POST, as a JSON array when
    above 1), return accepted/s, delivered/s and the sidekick's CPU time per alert.
    `src`: run the sidekick from another source tree (e.g. an older commit's `src`).
    `no_output`: no output at all (the accepting side alone; nothing is delivered)."""
    sink = Sink()
    sink.target = alerts
    sink_port = await sink.start()
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config: dict[str, Any] = {
            "listenaddress": "127.0.0.1",
            "listenport": port,
            "prometheus": {"disabled": True},
            "delivery": {"concurrency": concurrency},
        }
        if not no_output:
            config["webhook"] = {"address": f"http://127.0.0.1:{sink_port}/"}
        # "" is memory only, for this commit (which spools by default) and older ones
        config["delivery"]["spooldir"] = str(Path(tmp) / "spool") if spool else ""
        path = Path(tmp) / "sidekick.yaml"
        path.write_text(yaml.safe_dump(config))
        env = dict(os.environ)
        if src:
            env["PYTHONPATH"] = src
        proc = subprocess.Popen([*SIDEKICK, "-c", str(path)], stderr=subprocess.DEVNULL, env=env)
        try:
            await _wait_port(port)
            alert = bench_alert()
            if alerts % batch:
                raise ValueError("--alerts must be a multiple of --batch")
            body = json.dumps(alert if batch == 1 else [alert] * batch).encode()
            per, extra = divmod(alerts // batch, connections)
            cpu0 = _cpu_seconds(proc.pid)
            start = time.perf_counter()
            await asyncio.gather(
                *(_post_many(port, per + (i < extra), body) for i in range(connections))
            )
            accepted = time.perf_counter() - start
            if not no_output:
                await asyncio.wait_for(sink.done.wait(), 600)
            delivered = time.perf_counter() - start
            cpu = _cpu_seconds(proc.pid) - cpu0
        finally:
            proc.terminate()
            proc.wait(30)
            sink.server.close()
    return {
        "accepted_per_s": alerts / accepted,
        "delivered_per_s": 0.0 if no_output else alerts / delivered,
        "sidekick_cpu_s": cpu,
        "sidekick_cpu_us_per_alert": cpu / alerts * 1e6,
        "delivered_per_cpu_s": alerts / cpu if cpu else 0.0,
    }


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=1, help="delivery.concurrency")
    parser.add_argument("--spool", action="store_true", help="with delivery.spooldir")
    parser.add_argument("--batch", type=int, default=1, help="alerts per POST (JSON array)")
    parser.add_argument("--src", default="", help="run the sidekick from this source tree")
    parser.add_argument("--rounds", type=int, default=1, help="repeat, one line per round")
    parser.add_argument(
        "--no-output", action="store_true", help="no output: measure the accepting side alone"
    )
    parser.add_argument(
        "--yardstick",
        action="store_true",
        help="also run the same client against a bare HTTP server each round (ratio)",
    )
    args = parser.parse_args()
    for _ in range(args.rounds):
        load = os.getloadavg()[0]
        result = asyncio.run(
            run(
                args.alerts,
                args.connections,
                args.spool,
                args.concurrency,
                args.batch,
                args.src,
                args.no_output,
            )
        )
        if args.yardstick:
            body = json.dumps(bench_alert()).encode()
            result.update(asyncio.run(yardstick(args.alerts, args.connections, body)))
            result["accepted_vs_yardstick"] = result["accepted_per_s"] / result["yardstick_per_s"]
        figures = {
            k: round(v, 2 if k in ("sidekick_cpu_s", "accepted_vs_yardstick") else 1)
            for k, v in result.items()
        }
        print(json.dumps({**vars(args), **figures, "loadavg_1m": round(load, 2)}), flush=True)


if __name__ == "__main__":
    main()
