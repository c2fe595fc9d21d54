"""Issue 18 items 5 and 6 for sidekick, as the fault or the attack: an alert nested 1000
deep is refused at the door; a malformed Content-Length is a 400; queued alerts survive
`kill -9` with the default settings (the spool is on unless told otherwise)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import httpx

from lanner.services.sidekick.config import DEFAULT_SPOOLDIR, load_config

from .helpers import (
    SIDEKICK_CMD,
    Receiver,
    Sidekick,
    free_port,
    make_alert,
    metric_value,
    wait_until,
)


def _deep(levels: int) -> str:
    return '{"x": ' * levels + "1" + "}" * levels


def test_deep_alert_is_refused_at_the_door(
    tmp: Path, receiver: Receiver, sidekicks: list[Sidekick]
) -> None:
    sk = Sidekick(tmp, {"webhook": {"address": receiver.url}})
    sidekicks.append(sk)
    alert = json.dumps(make_alert(rule="deep"))
    body = alert[:-1] + ', "extra": ' + _deep(1000) + "}"
    resp = httpx.post(sk.url + "/", content=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    where = "$.extra" + ".x" * 31  # the 33rd level: the alert, "extra", 31 "x"
    assert resp.json()["error"] == f"JSON nested deeper than 32 levels (at {where})"
    batch = "[" + alert + ", " + alert[:-1] + ', "extra": [' + _deep(40) + "]}]"
    resp = httpx.post(sk.url + "/", content=batch, headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json()["error"].startswith(
        "alert 1: JSON nested deeper than 32 levels (at $.extra[0].x.x"
    )
    # beyond the JSON parser's own limit (1024) it is refused as invalid JSON
    body = alert[:-1] + ', "extra": ' + _deep(5000) + "}"
    resp = httpx.post(sk.url + "/", content=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json()["error"].startswith("invalid JSON")
    # nothing of the above was accepted; a normal alert still goes through
    assert sk.post(make_alert(rule="fine")).status_code == 200
    receiver.wait_for(1)
    assert [r.json()["rule"] for r in receiver.requests] == ["fine"]
    text = sk.metrics()
    assert metric_value(text, "lanner_sidekick_inputs_total", status="rejected") == 4
    assert metric_value(text, "lanner_sidekick_inputs_total", status="accepted") == 1


def _raw_post(port: int, headers: str, body: bytes = b"{}") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"POST / HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n".encode())
        s.sendall(body)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def test_content_length_that_is_not_a_number_is_400(tmp: Path, sidekicks: list) -> None:
    sk = Sidekick(tmp, {})
    sidekicks.append(sk)
    answer = _raw_post(sk.port, "Content-Type: application/json\r\nContent-Length: abc\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")  # said by the HTTP server itself
    assert sk.process.proc.poll() is None
    assert sk.post(make_alert()).status_code == 200


def test_content_length_checked_by_the_app_too(tmp: Path) -> None:
    """Whatever server or proxy runs the ASGI app, a malformed Content-Length is a 400."""
    import asyncio

    from lanner.services.sidekick.app import create_app

    app = create_app(load_config(None, {"DELIVERY_SPOOLDIR": str(tmp / "spool")}))
    for path in ("/", "/test"):
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": b"{}", "more_body": False}

        async def send(message: dict, sent: list[dict] = sent) -> None:
            sent.append(message)

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 2801), "headers": [(b"content-length", b"12abc")],
        }  # fmt: skip
        asyncio.run(app(scope, receive, send))
        assert sent[0]["status"] == 400, path
        assert json.loads(sent[1]["body"]) == {
            "error": "Content-Length '12abc' is not a number of bytes"
        }


# ---- durable by default ---------------------------------------------------------------


def test_spool_is_the_default() -> None:
    config = load_config(None, {})
    assert config.get("delivery.spooldir") == DEFAULT_SPOOLDIR == "/var/lib/lanner/sidekick"
    assert config.spooldir == DEFAULT_SPOOLDIR
    assert load_config(None, {"DELIVERY_SPOOLDIR": "none"}).spooldir is None


def test_kill_9_loses_nothing_with_the_default_settings(
    tmp: Path, receivers: list[Receiver], sidekicks: list[Sidekick]
) -> None:
    """453 alerts answered 200 while the target is down, kill -9, restart with the target
    up: all 453 delivered. Only the state directory is moved (DELIVERY_SPOOLDIR)."""
    count = 453
    port = free_port()  # nothing listens there yet: the target is down
    config = {"webhook": {"address": f"http://127.0.0.1:{port}/"}}
    env = {"DELIVERY_SPOOLDIR": str(tmp / "state" / "sidekick")}
    sk = Sidekick(tmp, dict(config), env=env, name="first")
    sidekicks.append(sk)
    wait_until(lambda: "spool: " in sk.process.log(), what="the start-up lines")
    assert f"spool: {tmp / 'state' / 'sidekick'} (queued alerts survive a restart)" in (
        sk.process.log()
    )
    with httpx.Client() as client:  # one connection: a client per POST costs ~0.1 s here
        for i in range(count):
            resp = client.post(sk.url + "/", json=make_alert(rule=f"r{i}"))
            assert resp.status_code == 200
    sk.process.proc.kill()  # SIGKILL: no drain, no shutdown hook
    sk.process.proc.wait(10)
    receiver = Receiver(port=port)
    receivers.append(receiver)
    again = Sidekick(tmp, dict(config), env=env, name="second")
    sidekicks.append(again)
    receiver.wait_for(count, timeout=120)
    rules = [r.json()["rule"] for r in receiver.requests]
    assert sorted(rules) == sorted(f"r{i}" for i in range(count))
    assert rules == [f"r{i}" for i in range(count)]  # in order, too


def test_unwritable_spool_is_a_clear_start_error(tmp: Path) -> None:
    blocker = tmp / "a-file"
    blocker.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.isupper() or k in ("PATH", "HOME")}
    port = free_port()
    for spooldir, reason in ((blocker, "File exists"), (Path("/proc/lanner-spool"), "")):
        result = subprocess.run(
            SIDEKICK_CMD,
            env={**env, "DELIVERY_SPOOLDIR": str(spooldir), "LISTENADDRESS": "127.0.0.1",
                 "LISTENPORT": str(port)},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 1
        assert (
            f"bad configuration: delivery.spooldir: {spooldir} is not a writable directory ("
            in result.stderr
        )
        assert reason in result.stderr
        assert "set delivery.spooldir (env DELIVERY_SPOOLDIR) to a writable directory" in (
            result.stderr
        )
        assert "or to 'none' to keep queued alerts in memory only" in result.stderr


def test_memory_only_is_said_at_start(tmp: Path, sidekicks: list[Sidekick]) -> None:
    sk = Sidekick(tmp, {}, env={"DELIVERY_SPOOLDIR": "none"})
    sidekicks.append(sk)
    wait_until(lambda: "spool: " in sk.process.log(), what="the start-up lines")
    assert "spool: none (delivery.spooldir: none): queued alerts are lost if the process dies" in (
        sk.process.log()
    )


def test_every_overlay_mounts_the_default_spool() -> None:
    """The manifests put a volume where sidekick spools by default (and do not move it)."""
    import yaml

    from deploy.helpers import OVERLAYS, configmap_file, container, find, pod_spec, rendered

    for overlay in OVERLAYS:
        objs = rendered(f"overlays/{overlay}")
        config = yaml.safe_load(configmap_file(objs, "lanner-sidekick", "sidekick.yaml"))
        assert "spooldir" not in (config.get("delivery") or {}), overlay
        deployment = find(objs, "Deployment", "lanner-sidekick")
        env = {e["name"] for e in container(deployment).get("env", [])}
        assert "DELIVERY_SPOOLDIR" not in env, overlay
        [mount] = [
            m for m in container(deployment)["volumeMounts"] if m["mountPath"] == DEFAULT_SPOOLDIR
        ]
        [volume] = [v for v in pod_spec(deployment)["volumes"] if v["name"] == mount["name"]]
        assert volume == {"name": "spool", "emptyDir": {}}, overlay
