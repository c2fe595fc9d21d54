"""The sidekick's two halves in-process, CPU time per alert (`time.process_time`, so the
neighbours' load moves these figures less than wall-clock rates):

- `ingest`: sidekick's HTTP protocol fed N one-alert `POST /` requests (with the bearer
  token) through `data_received`, writes discarded: the Python cost of accepting an alert,
  without the socket system calls. `--profile` prints a cProfile of it; `--prometheus` keeps
  the default Prometheus output (its worker counting the alerts as they come); `--statsd`
  adds the StatsD and DogStatsD outputs (to a UDP socket nobody reads, flushing every 0.1 s).
- `deliver`: N alerts queued for a webhook output to a bare keep-alive server (its own
  process, bench/sidekick_wrk.py's), then delivered: the delivery side's cost per alert,
  rate and user/system split; `--spool` with a spool in a temporary directory.

Run: .venv/bin/python bench/sidekick_inproc.py ingest [--alerts 30000] [--profile] [--prometheus]
         [--statsd]
     .venv/bin/python bench/sidekick_inproc.py deliver [--alerts 20000] [--concurrency 16] [--spool]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import resource
import socket
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


class NullTransport:
    """A transport that takes every write and says nothing; counts the answers written
    (several may leave in one write)."""

    def __init__(self) -> None:
        self.answers = 0

    def write(self, data: bytes) -> None:
        self.answers += data.count(b"HTTP/1.1 ")

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 1), "sockname": ("127.0.0.1", 2)}.get(name, default)

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


async def ingest(
    alerts: int, profile: bool, prometheus: bool, statsd: bool = False
) -> dict[str, Any]:
    """CPU per request of sidekick's protocol answering one-alert POSTs (no output, or the
    default Prometheus output with its worker running; `statsd`: both StatsD outputs)."""
    import uvicorn
    from uvicorn.server import ServerState

    from lanner.services.sidekick.app import create_app
    from lanner.services.sidekick.bench import bench_alert
    from lanner.services.sidekick.config import load_config
    from lanner.services.sidekick.httpserver import FastPath, protocol_for

    disabled = "false" if prometheus else "true"
    env = {"DELIVERY_SPOOLDIR": "none", "PROMETHEUS_DISABLED": disabled}
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    if statsd:
        forwarder = f"127.0.0.1:{sink.getsockname()[1]}"
        env.update(STATSD_FORWARDER=forwarder, DOGSTATSD_FORWARDER=forwarder)
    app = create_app(load_config(None, env))
    for counter in app.state.counters:
        await counter.start()
    await app.state.dispatcher.start()
    body = json.dumps(bench_alert()).encode()
    request = (
        b"POST / HTTP/1.1\r\nHost: bench\r\nUser-Agent: wrk\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer tok\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    server = uvicorn.Config(
        app, http=protocol_for(FastPath(app.state.ingest, "tok")), lifespan="off"
    )
    server.load()
    protocol = server.http_protocol_class(  # type: ignore[call-arg]
        config=server, server_state=ServerState(), app_state={}
    )
    transport = NullTransport()
    protocol.connection_made(transport)
    for _ in range(1000):  # warm-up
        protocol.data_received(request)
    await asyncio.sleep(0)
    profiler = cProfile.Profile() if profile else None
    start = time.process_time()
    if profiler:
        profiler.enable()
    for i in range(alerts):
        protocol.data_received(request)
        if i % 16 == 15:  # a loop turn per 16 requests, as with 16 busy connections
            await asyncio.sleep(0)
    while app.state.dispatcher.pending():  # what the outputs still have to do
        await asyncio.sleep(0.001)
    if profiler:
        profiler.disable()
    cpu = time.process_time() - start
    await app.state.dispatcher.stop()
    for counter in app.state.counters:
        await counter.close()
    sink.close()
    await asyncio.sleep(0)  # the last turn's answers
    if transport.answers != alerts + 1000:
        raise RuntimeError(f"{transport.answers} answers for {alerts + 1000} requests")
    if profiler:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    return {
        "mode": "ingest",
        "alerts": alerts,
        "prometheus": prometheus,
        "statsd": statsd,
        "cpu_us_per_alert": round(cpu / alerts * 1e6, 2),
    }


async def deliver(alerts: int, concurrency: int, spool: bool, port: int) -> dict[str, Any]:
    """Queue `alerts` for a webhook output to 127.0.0.1:`port`, deliver them all."""
    from prometheus_client import CollectorRegistry

    from lanner.services.sidekick.alert import Alert
    from lanner.services.sidekick.bench import bench_alert
    from lanner.services.sidekick.config import load_config
    from lanner.services.sidekick.delivery import Dispatcher, RetryPolicy
    from lanner.services.sidekick.outputs import OUTPUTS, OutputContext
    from lanner.services.sidekick.stats import Stats

    def sink_count() -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=10) as r:
            return int(r.read())

    config = load_config(None, {"WEBHOOK_ADDRESS": f"http://127.0.0.1:{port}/"})
    [webhook] = [o for o in config.outputs if o.kind == "webhook"]
    registry = CollectorRegistry()
    output = OUTPUTS["webhook"](webhook.settings, OutputContext(registry=registry))
    with tempfile.TemporaryDirectory() as tmp:
        dispatcher = Dispatcher(
            [output],
            Stats(registry),
            RetryPolicy(),
            queuesize=alerts + 1,
            concurrency=concurrency,
            spooldir=tmp if spool else "",
        )
        await dispatcher.start()
        alert = Alert.from_dict(bench_alert())
        for _ in range(alerts // 100):  # queued before the workers run again
            dispatcher.submit_many([alert] * 100)
        before = sink_count()
        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        while dispatcher.pending():
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - start
        usage1 = resource.getrusage(resource.RUSAGE_SELF)
        await dispatcher.stop()
    got = sink_count() - before
    if got != alerts // 100 * 100:
        raise RuntimeError(f"the sink got {got} of {alerts} alerts")
    user = usage1.ru_utime - usage0.ru_utime
    system = usage1.ru_stime - usage0.ru_stime
    return {
        "mode": "deliver",
        "alerts": got,
        "concurrency": concurrency,
        "spool": spool,
        "delivered_per_s": round(got / elapsed),
        "cpu_us_per_alert": round((user + system) / got * 1e6, 1),
        "sys_us_per_alert": round(system / got * 1e6, 1),
    }


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("ingest", "deliver"))
    parser.add_argument("--alerts", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--spool", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--prometheus", action="store_true", help="ingest: keep the default Prometheus output"
    )
    parser.add_argument(
        "--statsd", action="store_true", help="ingest: add the StatsD and DogStatsD outputs"
    )
    args = parser.parse_args()
    from lanner.services.sidekick.httpserver import new_event_loop

    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        if args.mode == "ingest":
            result = runner.run(
                ingest(args.alerts or 30_000, args.profile, args.prometheus, args.statsd)
            )
        else:
            sys.path.insert(0, str(HERE))
            from sidekick_wrk import start_bare

            sink, port = start_bare(dict(os.environ))
            try:
                result = runner.run(
                    deliver(args.alerts or 20_000, args.concurrency, args.spool, port)
                )
            finally:
                sink.terminate()
                sink.wait(30)
    result["loadavg_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
