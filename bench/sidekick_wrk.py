"""`lanner sidekick` under wrk, paired with a yardstick server in the same call (issue 23).

The load: `wrk` (C, epoll; `apt-get install wrk`, installed by scripts/setup.sh), one thread,
`--connections` keep-alive connections, each POSTing one Falco alert at a time and waiting for
the answer, as Falco's http_output does. Each round runs, back to back for `--seconds` each:

- the yardstick: a bare HTTP/1.1 server in its own Python process (asyncio.Protocol and the
  httptools parser, on the same event loop as the sidekick) answering 200 to every request
  without reading the body: what one Python process reaches here, now;
- `lanner sidekick` (no output, or a webhook output to a sink, with or without the spool).

With `--deliver`, the sidekick has a webhook output to a counting sink (the same bare server,
own process) with `delivery.concurrency` = `--concurrency`; the round also drives the sink
directly with wrk at that concurrency (the rate the target takes), and reports the rate at
which the sidekick delivered to it while wrk was loading the sidekick and until its queue
emptied; when over 1,000 alerts were still queued as wrk stopped, also the rate and CPU per
alert of that drain (the delivery side alone).

Run: .venv/bin/python bench/sidekick_wrk.py [--seconds 5] [--rounds 3] [--connections 16]
     [--spool] [--deliver [--concurrency 16]] [--src OTHER/src]
Prints one JSON line per round. Fails loudly when wrk is missing or a request is refused.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from lanner.services.sidekick.bench import bench_alert

HERE = Path(__file__).resolve()
SIDEKICK = [sys.executable, "-c", "from lanner.services.sidekick.cli import sidekick; sidekick()"]

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
%(auth)s
wrk.body = [==[%(body)s]==]
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%%d,"duration_us":%%d,"status_errors":%%d,"socket_errors":%%d,' ..
    '"p50_us":%%d,"p99_us":%%d}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


# --- the yardstick and the sink: a bare server (runs in a child process) ------------------


class Bare(asyncio.Protocol):
    """HTTP/1.1 keep-alive: 200 to every request, body ignored; `GET /count` answers the
    number of other requests seen (the sink's delivered count)."""

    count = 0

    def connection_made(self, transport: Any) -> None:
        import httptools

        self.transport = transport
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_message_complete(self) -> None:
        if self.url == b"/count":
            body = str(Bare.count).encode()
        else:
            Bare.count += 1
            body = b'{"status":"ok"}'
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )


def serve_bare(port: int) -> None:
    """Run the bare server on 127.0.0.1:`port` until killed, on the sidekick's event loop."""
    try:
        from lanner.services.sidekick.httpserver import new_event_loop
    except ImportError:  # an older tree (--src): the default loop, as its sidekick
        new_event_loop = asyncio.new_event_loop

    async def forever() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Bare, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(forever())


# --- the driver ---------------------------------------------------------------------------


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far."""
    user, system = cpu_split(pid)
    return user + system


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    """Wait until something listens on `port`; fail if `proc` died."""
    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def start_bare(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    """A bare server process and its port."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(HERE), "--serve-bare", str(port)], env=env)
    wait_port(port, proc)
    return proc, port


def sink_count(port: int) -> int:
    """Requests the sink has taken."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=10) as r:
        return int(r.read())


def wrk(port: int, script: Path, connections: int, seconds: int, pid: int) -> dict[str, Any]:
    """Run wrk against 127.0.0.1:`port`; its figures plus the server's CPU per request."""
    user0, sys0 = cpu_split(pid)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script),
         f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, timeout=seconds + 60,
    )  # fmt: skip
    if out.returncode:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr}{out.stdout}")
    user, system = cpu_split(pid)
    user, system = user - user0, system - sys0
    cpu = user + system
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if result["status_errors"] or result["socket_errors"] or not result["requests"]:
        raise RuntimeError(f"wrk saw errors: {result}\n{out.stdout}")
    result["per_s"] = result["requests"] / (result["duration_us"] / 1e6)
    result["server_cpu_us_per_req"] = cpu / result["requests"] * 1e6
    result["server_sys_us_per_req"] = system / result["requests"] * 1e6
    return result


def run_round(args: argparse.Namespace, tmp: Path, env: dict[str, str]) -> dict[str, Any]:
    """One yardstick run and one sidekick run, back to back."""
    body = json.dumps(bench_alert())
    token = "bench-token"
    script = tmp / "post.lua"
    script.write_text(
        LUA % {"body": body, "auth": f'wrk.headers["Authorization"] = "Bearer {token}"'}
    )
    out: dict[str, Any] = {"loadavg_1m": round(os.getloadavg()[0], 2)}
    yard, yport = start_bare(env)
    try:
        y = wrk(yport, script, args.connections, args.seconds, yard.pid)
    finally:
        yard.terminate()
        yard.wait(30)
    out["yardstick_per_s"] = round(y["per_s"])
    out["yardstick_cpu_us_per_req"] = round(y["server_cpu_us_per_req"], 1)
    out["yardstick_sys_us_per_req"] = round(y["server_sys_us_per_req"], 1)

    sink = sport = None
    if args.deliver:
        sink, sport = start_bare(env)
    port = free_port()
    spooldir = tmp / "spool"
    shutil.rmtree(spooldir, ignore_errors=True)
    config: dict[str, Any] = {
        "listenaddress": "127.0.0.1",
        "listenport": port,
        "auth": {"token": token},
        "prometheus": {"disabled": not args.prometheus},
        "delivery": {
            "concurrency": args.concurrency,
            "spooldir": str(spooldir) if args.spool else "none",
            "queuesize": 10_000_000,
        },
    }
    if sport:
        config["webhook"] = {"address": f"http://127.0.0.1:{sport}/"}
    path = tmp / "sidekick.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.Popen([*SIDEKICK, "-c", str(path)], stderr=subprocess.DEVNULL, env=env)
    try:
        wait_port(port, proc)
        start = time.perf_counter()
        s = wrk(port, script, args.connections, args.seconds, proc.pid)
        if sink is not None and sport is not None:
            cpu0 = cpu_seconds(proc.pid)
            drain_start, backlog = time.perf_counter(), s["requests"] - sink_count(sport)
            while (n := sink_count(sport)) < s["requests"]:
                if time.perf_counter() - start > args.seconds * 40 + 60:
                    raise RuntimeError(f"sink has {n} of {s['requests']} alerts")
                time.sleep(0.05)
            end = time.perf_counter()
            out["delivered_per_s"] = round(n / (end - start))
            if backlog > 1000:  # delivering alone once wrk stopped: the delivery side's rate
                out["drain_per_s"] = round(backlog / (end - drain_start))
                out["drain_cpu_us_per_alert"] = round(
                    (cpu_seconds(proc.pid) - cpu0) / backlog * 1e6, 1
                )
    finally:
        proc.terminate()
        proc.wait(60)
    out["sidekick_per_s"] = round(s["per_s"])
    out["sidekick_cpu_us_per_req"] = round(s["server_cpu_us_per_req"], 1)
    out["sidekick_sys_us_per_req"] = round(s["server_sys_us_per_req"], 1)
    out["sidekick_p99_us"] = s["p99_us"]
    out["ratio"] = round(s["per_s"] / y["per_s"], 3)
    if sink is not None and sport is not None:
        try:  # the target alone: what it takes at the delivery concurrency
            t = wrk(sport, script, args.concurrency, args.seconds, sink.pid)
            out["target_alone_per_s"] = round(t["per_s"])
            out["delivered_vs_target"] = round(out["delivered_per_s"] / t["per_s"], 3)
        finally:
            sink.terminate()
            sink.wait(30)
    return out


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=16, help="delivery.concurrency")
    parser.add_argument("--spool", action="store_true", help="with delivery.spooldir")
    parser.add_argument("--deliver", action="store_true", help="a webhook output to a sink")
    parser.add_argument(
        "--prometheus", action="store_true", help="keep the default Prometheus output on"
    )
    parser.add_argument("--src", default="", help="run sidekick and yardstick from this src")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (scripts/setup.sh installs it: apt-get install wrk)")
    env = dict(os.environ)
    if args.src:
        env["PYTHONPATH"] = args.src
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            figures = run_round(args, Path(tmp), env)
            keys = ("seconds", "connections", "spool", "prometheus")
            settings = {k: getattr(args, k) for k in keys}
            if args.deliver:
                settings["concurrency"] = args.concurrency
            print(json.dumps({**settings, **figures}), flush=True)


if __name__ == "__main__":
    main()
