"""The endpoints of a live ``lanner run`` attacked over loopback: the k8s audit webhook and
the web server. A flood loses nothing (503 + Retry-After, the clients retry as the API
server does), tokens are enforced, the default bind is loopback, bad requests get 4xx."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from .helpers import LiveLanner, free_port, wait_until

MATCH_ALL = (
    "- rule: Every audit event\n  desc: matches every event\n  source: k8s_audit\n"
    "  condition: ka.verb exists\n  output: id=%ka.auditid\n  priority: NOTICE\n"
)
WEB_TOKEN = "web-token-0123456789abcdef"
AUDIT_TOKEN = "audit-token-fedcba9876543210"


def audit_item(audit_id: str) -> dict[str, Any]:
    return {
        "auditID": audit_id, "stage": "ResponseComplete", "verb": "get",
        "user": {"username": "flood"}, "requestURI": "/api/v1/namespaces/default/pods",
        "objectRef": {"resource": "pods", "namespace": "default", "apiVersion": "v1"},
        "stageTimestamp": "2026-11-25T10:00:00.000000Z",
    }  # fmt: skip


def event_list(ids: list[str]) -> bytes:
    return orjson.dumps({"kind": "EventList", "items": [audit_item(i) for i in ids]})


class Run:
    """A live ``lanner run`` with the webhook and the web server on loopback."""

    def __init__(self, tmp_path: Path, live: list, *, env: dict[str, str] | None = None,
                 webserver: dict[str, Any] | None = None, init: dict[str, Any] | None = None,
                 alerts_file: bool = True) -> None:  # fmt: skip
        self.audit_port, self.web_port = free_port(), free_port()
        rules = tmp_path / "rules.yaml"
        rules.write_text(MATCH_ALL)
        self.alerts = tmp_path / "alerts.jsonl"
        plugin: dict[str, Any] = {
            "name": "k8saudit",
            "open_params": f"http://127.0.0.1:{self.audit_port}/k8s-audit",
        }
        if init is not None:
            plugin["init_config"] = init
        doc: dict[str, Any] = {
            "rules_files": [str(rules)],
            "json_output": True,
            "watch_config_files": False,
            "stdout_output": {"enabled": False},
            "file_output": {"enabled": alerts_file, "filename": str(self.alerts)},
            "load_plugins": ["k8saudit"],
            "plugins": [plugin],
            "webserver": {"enabled": True, "listen_port": self.web_port, **(webserver or {})},
        }
        config = tmp_path / "lanner.yaml"
        config.write_text(yaml.safe_dump(doc))
        saved = dict(os.environ)
        os.environ.update(env or {})
        try:
            self.proc = LiveLanner("-c", str(config))
        finally:
            os.environ.clear()
            os.environ.update(saved)
        live.append(self.proc)
        self.webhook = f"http://127.0.0.1:{self.audit_port}/k8s-audit"
        self.web = f"http://127.0.0.1:{self.web_port}"
        wait_until(lambda: httpx.get(f"{self.web}/healthz").status_code == 200, what="web")
        wait_until(lambda: httpx.get(self.webhook.replace("k8s-audit", "healthz")).is_success)

    def stop(self) -> int:
        self.proc.proc.send_signal(signal.SIGTERM)
        return self.proc.finish()

    def alert_ids(self) -> list[str]:
        if not self.alerts.exists():
            return []
        lines = self.alerts.read_bytes().splitlines()
        return [orjson.loads(ln)["output"].rsplit("id=", 1)[1] for ln in lines if ln.strip()]


# -- the flood ----------------------------------------------------------------------------


def flood(url: str, clients: int, requests: int, batch: int) -> tuple[set[str], int, int]:
    """``clients`` concurrent senders, each posting ``requests`` EventLists of ``batch``
    events and retrying a batch answered 429/503 as the API server's webhook backend does
    (after a short back-off here; the API server honours Retry-After, seconds). Returns the
    ids answered 200, the number of 503/429 answers and of other failures."""
    accepted: set[str] = set()
    busy = [0]
    failures: list[str] = []
    lock = threading.Lock()

    def client(c: int) -> None:
        with httpx.Client(timeout=60, headers={"Content-Type": "application/json"}) as http:
            for r in range(requests):
                ids = [f"c{c}-r{r}-e{e}" for e in range(batch)]
                body = event_list(ids)
                for attempt in range(200):
                    resp = http.post(url, content=body)
                    if resp.status_code in (429, 503):
                        assert resp.headers.get("Retry-After"), resp.headers
                        with lock:
                            busy[0] += 1
                        time.sleep(min(0.05 * (attempt + 1), 0.5))
                        continue
                    if resp.status_code != 200:
                        with lock:
                            failures.append(f"{resp.status_code} {resp.text[:200]}")
                    else:
                        assert resp.json()["accepted"] == batch
                        with lock:
                            accepted.update(ids)
                    break

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not any(t.is_alive() for t in threads)
    return accepted, busy[0], len(failures)


def test_a_webhook_flood_is_pushed_back_and_every_accepted_event_alerts(
    tmp_path: Path, live: list
) -> None:
    """The attack of issue 18: 32 concurrent clients outrun the engine. The webhook's
    queue is made small and its wait short so that 503s certainly happen (with the
    defaults most requests wait for room instead): alerts out = events in."""
    run = Run(tmp_path, live, init={"maxQueuedEvents": 400, "queueWaitMs": 20})
    clients, requests, batch = 32, 10, 100
    accepted, busy, failures = flood(run.webhook, clients, requests, batch)
    assert failures == 0
    assert len(accepted) == clients * requests * batch
    assert busy > 0, "the flood never filled the queue: the test proves nothing"
    wait_until(lambda: len(run.alert_ids()) >= len(accepted), timeout=180, what="alerts")
    assert run.stop() == 0
    ids = run.alert_ids()
    assert len(ids) == len(set(ids)) == len(accepted)  # no loss, no duplicate
    assert set(ids) == accepted
    assert "not evaluated" not in run.proc.err.text()


def test_a_stop_during_a_flood_reports_every_accepted_event_it_did_not_evaluate(
    tmp_path: Path, live: list
) -> None:
    """SIGTERM while 16 clients post: each event answered 200 either alerts or is counted
    in the log lines that say how many accepted events were left unevaluated."""
    import re

    run = Run(tmp_path, live, init={"maxQueuedEvents": 2000})
    accepted: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def client(c: int) -> None:
        with httpx.Client(timeout=10, headers={"Content-Type": "application/json"}) as http:
            for r in range(1000):
                ids = [f"s{c}-{r}-{e}" for e in range(100)]
                try:
                    resp = http.post(run.webhook, content=event_list(ids))
                except httpx.TransportError:
                    return  # the server went away
                if resp.status_code == 200:
                    with lock:
                        accepted.update(ids)
                elif stop.is_set():
                    return

    threads = [threading.Thread(target=client, args=(c,)) for c in range(16)]
    for t in threads:
        t.start()
    wait_until(lambda: len(accepted) > 20_000, timeout=120, what="a flood under way")
    stop.set()
    run.proc.proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(60)
    assert run.proc.finish() == 0
    err = run.proc.err.text()
    reported = sum(int(n) for n in re.findall(r"(\d+) (?:accepted|queued k8s_audit) event", err))
    alerted = run.alert_ids()
    assert len(alerted) == len(set(alerted))
    missing = accepted - set(alerted)
    assert len(missing) <= reported, (len(accepted), len(alerted), reported, err[-2000:])


# -- tokens and binds ----------------------------------------------------------------------


@pytest.fixture
def guarded(tmp_path: Path, live: list) -> Iterator[Run]:
    token_file = tmp_path / "web-token"
    token_file.write_text(WEB_TOKEN + "\n")
    token_file.chmod(0o600)
    run = Run(
        tmp_path,
        live,
        env={"LANNER_K8SAUDIT_TOKEN": AUDIT_TOKEN},
        webserver={"listen_address": "127.0.0.1", "auth_token_file": str(token_file)},
    )
    yield run
    run.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def test_tokens_are_required_and_health_stays_open(guarded: Run) -> None:
    body = event_list(["tok-1"])
    hook, web = guarded.webhook, guarded.web
    ctype = {"Content-Type": "application/json"}
    # the audit webhook: none, wrong, the web server's token, then the right one
    assert httpx.post(hook, content=body, headers=ctype).status_code == 401
    assert httpx.post(hook, content=body, headers=bearer("nope")).status_code == 401
    assert httpx.post(hook, content=body, headers=bearer(WEB_TOKEN)).status_code == 401
    assert httpx.post(hook, content=body, headers=bearer(AUDIT_TOKEN)).status_code == 200
    # the web server: every path but the health check and the Prometheus scrape
    resp = httpx.get(web + "/versions")
    assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert httpx.get(web + "/versions", headers=bearer("nope")).status_code == 401
    assert httpx.get(web + "/versions", headers=bearer(AUDIT_TOKEN)).status_code == 401
    assert httpx.get(web + "/versions", headers=bearer(WEB_TOKEN)).status_code == 200
    assert httpx.post(web + "/k8s-audit", content=body, headers=ctype).status_code == 401
    ok = httpx.post(web + "/k8s-audit", content=event_list(["tok-2"]), headers=bearer(WEB_TOKEN))
    assert ok.status_code == 200 and ok.json()["accepted"] == 1
    assert httpx.get(web + "/healthz").status_code == 200  # probes send no token
    assert "lanner_" in httpx.get(web + "/metrics").text  # nor do Prometheus scrapes
    wait_until(lambda: sorted(guarded.alert_ids()) == ["tok-1", "tok-2"], what="alerts")


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on ``port`` (from /proc/net/tcp{,6})."""
    found = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(name).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hexport = local.split(":")
            if state == "0A" and int(hexport, 16) == port:
                if len(addr) == 8:
                    found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(addr)[::-1]))
                else:
                    found.add(addr)
    return found


def test_default_binds_are_loopback_and_a_wide_bind_without_token_warns(
    tmp_path: Path, live: list
) -> None:
    # no listen_address, no host in the webhook's URL: both listen on 127.0.0.1 only
    audit_port = free_port()
    run = Run(tmp_path, live, alerts_file=False)
    assert listening_addresses(run.web_port) == {"127.0.0.1"}
    run.stop()
    run2_dir = tmp_path / "defaults"
    run2_dir.mkdir()
    rules = run2_dir / "rules.yaml"
    rules.write_text(MATCH_ALL)
    web_port = free_port()
    config = run2_dir / "lanner.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "rules_files": [str(rules)],
                "load_plugins": ["k8saudit"],
                "plugins": [{"name": "k8saudit", "open_params": f"http://:{audit_port}/k8s-audit"}],
                "webserver": {"enabled": True, "listen_port": web_port},
            }
        )
    )
    proc = LiveLanner("-c", str(config))
    live.append(proc)
    wait_until(lambda: listening_addresses(audit_port), what="the webhook listening")
    wait_until(lambda: listening_addresses(web_port), what="the web server listening")
    assert listening_addresses(audit_port) == {"127.0.0.1"}
    assert listening_addresses(web_port) == {"127.0.0.1"}
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.finish() == 0
    assert "without a token" not in proc.err.text()
    # opting into a wide bind without a token: it starts, and says so loudly
    wide = yaml.safe_load(config.read_text())
    wide["webserver"]["listen_address"] = "0.0.0.0"
    wide["plugins"][0]["open_params"] = f"http://0.0.0.0:{audit_port}/k8s-audit"
    config.write_text(yaml.safe_dump(wide))
    proc = LiveLanner("-c", str(config))
    live.append(proc)
    wait_until(lambda: "web server listens on 0.0.0.0 without a token" in proc.err.text(),
               what="the web server's warning")  # fmt: skip
    wait_until(lambda: "webhook listens on 0.0.0.0 without a token" in proc.err.text(),
               what="the webhook's warning")  # fmt: skip
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.finish() == 0


def test_an_unreadable_token_file_never_starts_an_open_endpoint(tmp_path: Path, live: list) -> None:
    audit_port, web_port = free_port(), free_port()
    rules = tmp_path / "rules.yaml"
    rules.write_text(MATCH_ALL)
    missing = tmp_path / "no-such-token"
    config = tmp_path / "lanner.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "rules_files": [str(rules)],
                "load_plugins": ["k8saudit"],
                "plugins": [
                    {
                        "name": "k8saudit",
                        "open_params": f"http://127.0.0.1:{audit_port}/k8s-audit",
                        "init_config": {"authTokenFile": str(missing)},
                    }
                ],
                "webserver": {"enabled": True, "listen_port": web_port,
                              "auth_token_file": str(missing)},
            }
        )
    )  # fmt: skip
    proc = LiveLanner("-c", str(config))
    live.append(proc)
    wait_until(lambda: "web server not started" in proc.err.text(), what="the error")
    wait_until(lambda: "k8s audit webhook could not start" in proc.err.text(), what="error")
    assert str(missing) in proc.err.text()
    assert listening_addresses(audit_port) == set() and listening_addresses(web_port) == set()
    proc.proc.send_signal(signal.SIGTERM)
    proc.finish()


# -- bad requests on the web server's JSON endpoint -----------------------------------------


def raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        parts = []
        while chunk := sock.recv(65536):
            parts.append(chunk)
    return b"".join(parts)


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", "12 34", "0x10"])
def test_bad_content_length_is_400_on_both_endpoints(
    tmp_path: Path, live: list, length: str
) -> None:
    run = Run(tmp_path, live, alerts_file=False)
    for port in (run.web_port, run.audit_port):
        answer = raw(
            port,
            b"POST /k8s-audit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + length.encode() + b"\r\n\r\n{}",
        )
        assert answer.startswith(b"HTTP/1.1 400 "), (port, answer[:300])
        assert b"Traceback" not in answer
    assert httpx.get(run.web + "/healthz").status_code == 200
    run.stop()


def test_web_audit_endpoint_checks_type_and_size_before_parsing(tmp_path: Path, live: list) -> None:
    run = Run(tmp_path, live)
    url = run.web + "/k8s-audit"
    json = {"Content-Type": "application/json"}
    resp = httpx.post(url, content=b"{}", headers={"Content-Type": "text/plain"})
    assert resp.status_code == 400 and "Content Type" in resp.text
    huge = b"[" + b" " * (13 * 1024 * 1024) + b"]"
    resp = httpx.post(url, content=huge, headers={"Content-Type": "application/json"})
    assert resp.status_code == 413
    chunks = iter([b"[", b" " * (13 * 1024 * 1024), b"]"])  # no Content-Length: streamed
    resp = httpx.post(url, content=chunks, headers={"Content-Type": "application/json"})
    assert resp.status_code == 413
    resp = httpx.post(url, content=b"\xff\xfe", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    ok = httpx.post(url, content=event_list(["web-1"]), headers=json)
    assert ok.status_code == 200
    wait_until(lambda: run.alert_ids() == ["web-1"], what="the alert")
    assert run.stop() == 0
