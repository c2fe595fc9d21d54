"""Generated requests against every HTTP endpoint of a running `lanner sidekick`
(tests/http_fuzz.py): no 5xx, no request left unanswered without cause, no traceback, and
it still forwards alerts afterwards."""

from __future__ import annotations

from pathlib import Path

import httpx

from http_fuzz import ALERT, fuzz

from .helpers import Receiver, Sidekick

TOKEN = "fuzz-t0ken"


def test_generated_requests_never_break_sidekick(
    tmp: Path, receiver: Receiver, sidekicks: list[Sidekick]
) -> None:
    sk = Sidekick(tmp, {"webhook": {"address": receiver.url}, "auth": {"token": TOKEN}})
    sidekicks.append(sk)
    endpoints = [("POST", "/", 400), ("POST", "/test", 30), ("GET", "/ping", 10),
                 ("GET", "/healthz", 20), ("GET", "/metrics", 20)]  # fmt: skip
    seen = fuzz(sk.port, endpoints, TOKEN)
    assert sk.process.proc.poll() is None, sk.process.log()[-3000:]
    assert {200, 400, 401} <= set(seen), sorted(set(seen))
    before = len(receiver.requests)
    resp = httpx.post(
        sk.url + "/", json={**ALERT, "rule": "after the fuzz"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )  # fmt: skip
    assert resp.status_code == 200
    receiver.wait_for(before + 1, timeout=60)
    assert "after the fuzz" in [r.json().get("rule") for r in receiver.requests]
    sk.stop()
    assert "Traceback" not in sk.process.log(), sk.process.log()[-3000:]
