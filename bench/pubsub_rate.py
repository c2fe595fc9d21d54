"""Cloud Audit Log entries per second read from Pub/Sub by the gcpaudit source, against a
yardstick run in the same call: Google's subscriber client acking each message at once in
its callback (what Falco's gcpaudit plugin does), with the same rules work.

Both read N entries published to the Pub/Sub DOUBLE of the tests
(tests/helpers/pubsub_double.py, a gRPC server on loopback; Google's emulator cannot be
installed here) through Google's client (StreamingPull); both run every entry through
the upstream gcp_auditlog_rules.yaml. Lanner's path hands each event to a LiveFeed that
a consumer thread evaluates, and acknowledges a message only once the consumer took its
event. Runs alternate (yardstick, lanner, ...) so the machine's noise hits both.

Run: .venv/bin/python bench/pubsub_rate.py [--events N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
RULES = ROOT.parent / "shared" / "fixtures" / "rules" / "gcp_auditlog_rules.yaml"
METHODS = [("storage.googleapis.com", "storage.buckets.delete"),
           ("storage.googleapis.com", "storage.objects.get"),
           ("iam.googleapis.com", "google.iam.admin.v1.CreateServiceAccountKey"),
           ("compute.googleapis.com", "v1.compute.instances.list")]  # fmt: skip


def entry(i: int) -> bytes:
    service, method = METHODS[i % len(METHODS)]
    return json.dumps({
        "insertId": f"b{i}", "timestamp": "2026-12-07T10:00:00.000000Z",
        "logName": "projects/bench/logs/cloudaudit.googleapis.com%2Factivity",
        "resource": {"type": "gcs_bucket", "labels": {"project_id": "bench", "bucket_name": "b"}},
        "protoPayload": {"@type": "type.googleapis.com/google.cloud.audit.AuditLog",
                         "serviceName": service, "methodName": method,
                         "authenticationInfo": {"principalEmail": "bench@example.com"},
                         "requestMetadata": {"callerIp": "198.51.100.1"},
                         "request": {"n": i}},
    }).encode()  # fmt: skip


def engine() -> Any:
    from lanner.engine.engine import Engine
    from lanner.sources.gcp import gcp_audit_source

    eng = Engine([gcp_audit_source()])
    assert eng.load_rules([str(RULES)]).successful
    return eng


def yardstick(sub: str, n: int) -> float:
    """The plugin's way: evaluate in the callback, ack at once."""
    from google.cloud import pubsub_v1
    from google.cloud.pubsub_v1.subscriber.scheduler import ThreadScheduler

    from lanner.app.gcp_input import audit_entry_event

    eng, lock, done = engine(), threading.Lock(), threading.Event()
    count = [0]

    def callback(message: Any) -> None:
        (event,) = audit_entry_event(message.data, 0)
        with lock:  # one engine, as Lanner's single run loop
            eng.process(event, "gcp_auditlog")
            count[0] += 1
            if count[0] == n:
                done.set()
        message.ack()

    client = pubsub_v1.SubscriberClient()
    start = time.perf_counter()
    future = client.subscribe(sub, callback, scheduler=ThreadScheduler(ThreadPoolExecutor(10)))
    done.wait(600)
    took = time.perf_counter() - start
    future.cancel()
    future.result(timeout=30)
    return n / took


def lanner(sub: str, n: int) -> float:
    """Lanner's reader: hand over to the feed, the run loop evaluates, ack once taken."""
    from lanner.app.gcp_input import audit_entry_event, pubsub_producer
    from lanner.app.live import TICK, LiveFeed
    from lanner.sources.gcp.pubsub import PubSubOpen, PubSubReader

    eng = engine()
    opened = PubSubOpen.parse("gcpaudit", "", sub)
    reader = PubSubReader(opened, audit_entry_event)
    feed = LiveFeed()
    start = time.perf_counter()
    feed.add_producer(pubsub_producer("gcp_auditlog", reader), "gcpaudit")
    seen = 0
    for item in feed.events():
        if item is TICK:
            continue
        eng.process(item[1], "gcp_auditlog")
        seen += 1
        if seen == n:
            break
    took = time.perf_counter() - start
    feed.stop()
    time.sleep(0.5)  # the last acks
    return n / took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from helpers.pubsub_double import PubSubDouble

    double = PubSubDouble("bench")
    os.environ["PUBSUB_EMULATOR_HOST"] = double.host
    rates: dict[str, list[float]] = {"yardstick": [], "lanner": []}
    try:
        for r in range(args.rounds):
            for name, run in (("yardstick", yardstick), ("lanner", lanner)):
                sub = f"{name}-{r}"
                double.create_subscription(sub, topic=sub)
                for i in range(args.events):
                    double.publish(sub, entry(i))
                rate = run(double.path("subscriptions", sub), args.events)
                left = double.pending(sub)
                rates[name].append(rate)
                print(f"round {r} {name:9s} {rate:8.0f} entries/s  unacked after: {left}")
    finally:
        double.stop()
    ys, ls = statistics.median(rates["yardstick"]), statistics.median(rates["lanner"])
    print(f"median: yardstick {ys:.0f}/s, lanner {ls:.0f}/s, lanner/yardstick {ls / ys:.2f}")


if __name__ == "__main__":
    main()
