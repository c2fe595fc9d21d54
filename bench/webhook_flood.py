"""Flood the k8s audit webhook of a live ``lanner run`` and count alerts out vs events in.

Starts ``lanner run`` with the k8saudit webhook on loopback (default settings), one rule
that matches every audit event and a file output, then CLIENTS threads post REQUESTS
EventLists of BATCH events each over keep-alive connections. A request answered 429/503
is sent again after its Retry-After (capped at 0.2 s here; the API server waits longer),
as the API server's webhook backend does. Prints what was accepted (200), the 503s, the
accepted rate, and the alerts written once the run was stopped: lost = accepted - alerts.

    .venv/bin/python bench/webhook_flood.py [--clients 32] [--requests 20] [--batch 100]
        [--src DIR]      # run another checkout's lanner (e.g. the previous commit)

Loopback only; bounded in requests and time.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson

RULE = (
    "- rule: Every audit event\n  desc: all\n  source: k8s_audit\n"
    "  condition: ka.verb exists\n  output: id=%ka.auditid\n  priority: NOTICE\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def body(ids: list[str]) -> bytes:
    items = [
        {
            "auditID": i, "stage": "ResponseComplete", "verb": "get",
            "user": {"username": "flood"}, "objectRef": {"resource": "pods"},
            "stageTimestamp": "2026-11-25T10:00:00.000000Z",
        }
        for i in ids
    ]  # fmt: skip
    return orjson.dumps({"kind": "EventList", "items": items})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--src", help="the src/ directory of the lanner to run")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="webhook-flood-"))
    (tmp / "rules.yaml").write_text(RULE)
    port = free_port()
    alerts = tmp / "alerts.jsonl"
    config = {
        "rules_files": [str(tmp / "rules.yaml")],
        "json_output": True,
        "watch_config_files": False,
        "stdout_output": {"enabled": False},
        "file_output": {"enabled": True, "filename": str(alerts)},
        "load_plugins": ["k8saudit"],
        "plugins": [{"name": "k8saudit", "open_params": f"http://127.0.0.1:{port}/k8s-audit"}],
    }
    (tmp / "lanner.yaml").write_text(orjson.dumps(config).decode())
    env = dict(os.environ)
    if args.src:
        env["PYTHONPATH"] = args.src
    err = (tmp / "err").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from lanner.cli import main; main()", "run",
         "-c", str(tmp / "lanner.yaml")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/k8s-audit"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.post(url, content=b"[]", headers={"Content-Type": "application/json"})
            break
        except httpx.TransportError:
            time.sleep(0.1)

    accepted: set[str] = set()
    busy = [0]
    failed = [0]
    lock = threading.Lock()

    def client(c: int) -> None:
        with httpx.Client(timeout=60, headers={"Content-Type": "application/json"}) as http:
            for r in range(args.requests):
                ids = [f"c{c}r{r}e{e}" for e in range(args.batch)]
                payload = body(ids)
                for _ in range(500):
                    resp = http.post(url, content=payload)
                    if resp.status_code in (429, 503):
                        with lock:
                            busy[0] += 1
                        time.sleep(min(float(resp.headers.get("Retry-After", "1")), 0.2))
                        continue
                    with lock:
                        if resp.status_code == 200:
                            accepted.update(ids)
                        else:
                            failed[0] += 1
                    break

    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    seconds = time.monotonic() - t0

    def count() -> int:
        return sum(1 for _ in alerts.open("rb")) if alerts.exists() else 0

    last, still = -1, 0
    while still < 3:  # alerts stopped growing for 1.5 s, or all arrived
        n = count()
        still = still + 1 if n == last else 0
        last = n
        if n >= len(accepted):
            break
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    err.close()
    out = count()
    lost = len(accepted) - out
    print(f"lanner: {args.src or 'this checkout'}")
    print(f"clients {args.clients} x {args.requests} requests x {args.batch} events")
    print(f"accepted (200): {len(accepted)} events in {seconds:.1f} s = "
          f"{len(accepted) / seconds:,.0f} events/s; 503/429 answers: {busy[0]}; "
          f"other failures: {failed[0]}")  # fmt: skip
    print(f"alerts written: {out}; lost: {lost} ({100 * lost / max(len(accepted), 1):.1f} %)")


if __name__ == "__main__":
    main()
