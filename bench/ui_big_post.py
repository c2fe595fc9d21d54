"""How long `lanner ui` keeps other clients waiting while it ingests one big POST.

Starts `lanner ui` (from this tree, or `--src OTHER/src`) on loopback with a fresh SQLite
file, posts one JSON array of alerts of about `--mb` megabytes, and meanwhile asks
`GET /healthz` again and again on another connection. Prints, per round, the POST's wall
time, the slowest /healthz answer during it, and the yardstick: the slowest /healthz of
the same number of requests with no POST running. Usage:

    .venv/bin/python bench/ui_big_post.py --mb 3.9 --rounds 3 [--tiny] [--src /tmp/old/src]

`--tiny` sends minimal alerts, as many as fit (about 115,000 in 3.9 MB): refused (422,
more than 10,000 in one POST) but only after the whole body was decoded and validated.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alerts(megabytes: float, tiny: bool = False) -> bytes:
    if tiny:  # as many minimal alerts as fit: more than one POST may carry (10,000)
        one = b'{"rule":"r","priority":"Warning"}'
        return b"[" + b",".join([one] * int(megabytes * 1_000_000 / (len(one) + 1))) + b"]"
    alert = {
        "output": "16:14:13.012345678: Warning Sensitive file opened for reading by non-trusted"
        " program (file=/etc/shadow gparent=bash ggparent=sshd proc.name=cat user=root)",
        "priority": "Warning",
        "rule": "Read sensitive file untrusted",
        "source": "syscall",
        "time": "2026-12-07T16:14:13.012345678Z",
        "hostname": "node-1",
        "tags": ["filesystem", "mitre_credential_access", "T1555"],
        "output_fields": {
            "evt.time": 1796660053012345678, "fd.name": "/etc/shadow", "proc.name": "cat",
            "proc.cmdline": "cat /etc/shadow", "user.name": "root", "container.id": "host",
            "k8s.ns.name": "default", "k8s.pod.name": "web-1", "proc.pname": "bash",
        },
    }  # fmt: skip
    one = json.dumps(alert).encode()
    count = min(int(megabytes * 1_000_000 / (len(one) + 1)), 10_000)
    return b"[" + b",".join([one] * count) + b"]"


def _slowest_healthz(base: str, stop: threading.Event, limit: int = 0) -> tuple[float, int]:
    slowest, count = 0.0, 0
    with httpx.Client(timeout=60) as client:
        while not stop.is_set() and (not limit or count < limit):
            started = time.perf_counter()
            client.get(base + "/healthz").raise_for_status()
            slowest = max(slowest, time.perf_counter() - started)
            count += 1
    return slowest, count


def run(megabytes: float, src: str, tiny: bool = False) -> dict[str, float | int]:
    """One round; the figures in seconds."""
    body = _alerts(megabytes, tiny)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from lanner.cli import main; main()", "ui", "--port",
             str(port), "--db", f"sqlite:///{tmp}/ui.db", "--log-level", "warning"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            for _ in range(600):
                try:
                    httpx.get(base + "/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.05)
            stop = threading.Event()
            during: list[tuple[float, int]] = []
            poller = threading.Thread(target=lambda: during.append(_slowest_healthz(base, stop)))
            poller.start()
            started = time.perf_counter()
            resp = httpx.post(
                base + "/api/v1/events", content=body,
                headers={"Content-Type": "application/json"}, timeout=120,
            )  # fmt: skip
            post_s = time.perf_counter() - started
            stop.set()
            poller.join()
            status = resp.status_code
            slowest, count = during[0]
            idle, _ = _slowest_healthz(base, threading.Event(), limit=max(count, 1))
        finally:
            proc.terminate()
            proc.wait(15)
    return {
        "body_mb": round(len(body) / 1e6, 2),
        "status": status,
        "post_s": round(post_s, 3),
        "healthz_slowest_during_post_s": round(slowest, 3),
        "healthz_answers_during_post": count,
        "healthz_slowest_idle_s": round(idle, 4),
    }


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=float, default=3.9)
    parser.add_argument("--src", default="", help="run the UI from this source tree")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--tiny", action="store_true", help="minimal alerts, beyond 10,000")
    args = parser.parse_args()
    for _ in range(args.rounds):
        result = run(args.mb, args.src, args.tiny)
        print(json.dumps({"src": args.src or "this tree", **result}), flush=True)


if __name__ == "__main__":
    main()
