"""Issue 18 item 3 as the attack: `lanner respond` must not run cluster actions for anyone.

Each test starts the real daemon (`lanner respond` as a process) against the fake API
server, with a rule that deletes the pod named in an alert, and plays the attacker: a fake
alert without a token, with a wrong one, to a daemon started without one, over NATS
without credentials. The pod must still be there and the audit log empty."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from respond_fake_k8s import FakeKube, free_port
from respond_helpers import make_alert, self_signed, wait_port
from respond_nats import NATS_PASSWORD, NATS_TOKEN, NATS_USER, nats_server

from lanner.services.respond.actions.kube import KubeClients
from lanner.services.respond.engine import Dispatcher, Responder
from lanner.services.respond.nats_input import NatsAuth, NatsInput

LANNER = str(Path(sys.executable).parent / "lanner")
DELETE_RULE = """\
- rule: delete the pod
  actions:
    - action: kubernetes:delete
"""
TOKEN = "s3cret-t0ken"

pytestmark = pytest.mark.servers


@pytest.fixture
def daemon(
    tmp_path: Path, fake_kube: FakeKube, kubeconfig: Path
) -> Iterator[Callable[..., tuple[subprocess.Popen[str], Path]]]:
    """Start `lanner respond` with the delete rule; returns (process, audit log path).
    The environment carries no LANNER_RESPOND_* variable unless given."""
    fake_kube.add_pod("default", "web-1", {"app": "web"})
    fake_kube.add_pod("default", "marker", {"app": "marker"})
    rules = tmp_path / "rules.yaml"
    rules.write_text(DELETE_RULE)
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], Path]:
        audit = tmp_path / f"audit-{len(procs)}.jsonl"
        base = {k: v for k, v in os.environ.items() if not k.startswith("LANNER_RESPOND_")}
        proc = subprocess.Popen(
            [LANNER, "respond", "-r", str(rules), "--kubeconfig", str(kubeconfig),
             "--audit-log", str(audit), "--dedup-window", "0", *args],
            env={**base, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        procs.append(proc)
        return proc, audit

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _pod_alive(fake_kube: FakeKube) -> bool:
    """web-1 exists and nobody asked to delete it."""
    pod = fake_kube.get("pods", "default", "web-1")
    return pod is not None and "deletionTimestamp" not in pod["metadata"]


def _settle(proc: subprocess.Popen[str], port: int, token: str | None = None) -> None:
    """Wait until every alert posted so far has been handled (the queue is drained when a
    marker alert for another pod shows in /audit)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    fields = {**make_alert()["output_fields"], "k8s.pod.name": "marker"}
    resp = httpx.post(
        f"http://127.0.0.1:{port}/", json=make_alert(output_fields=fields), headers=headers
    )
    assert resp.status_code == 202
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        audit = httpx.get(f"http://127.0.0.1:{port}/audit", headers=headers).json()
        if any(r["target"] == "pod default/marker" for r in audit):
            return
        time.sleep(0.05)
    pytest.fail("the marker alert was not handled")


def test_unauthenticated_and_wrong_token_posts_are_refused_and_nothing_is_deleted(
    daemon: Callable[..., tuple[subprocess.Popen[str], Path]], fake_kube: FakeKube
) -> None:
    port = free_port()
    proc, audit = daemon("--listen", f"127.0.0.1:{port}", env={"LANNER_RESPOND_TOKEN": TOKEN})
    wait_port(port, proc)  # type: ignore[arg-type]
    url = f"http://127.0.0.1:{port}/"
    attacks: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ]
    for headers in attacks:
        resp = httpx.post(url, json=make_alert(), headers=headers)
        assert resp.status_code == 401, headers
        assert resp.json() == {"error": "missing or wrong bearer token"}
        assert resp.headers["www-authenticate"] == "Bearer"
    assert httpx.get(f"{url}audit").status_code == 401  # the audit trail is not public either
    _settle(proc, port, TOKEN)
    assert _pod_alive(fake_kube)
    assert [r["target"] for r in map(json.loads, audit.read_text().splitlines())] == [
        "pod default/marker"
    ]
    metrics = httpx.get(f"{url}metrics").text
    assert 'lanner_respond_alerts_received_total{input="http"} 1.0' in metrics
    # the same alert with the token is acted upon: the refusals above were the token's doing
    resp = httpx.post(url, json=make_alert(), headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 202
    deadline = time.monotonic() + 20
    while _pod_alive(fake_kube) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _pod_alive(fake_kube)


def test_no_token_refuses_to_start(
    daemon: Callable[..., tuple[subprocess.Popen[str], Path]], fake_kube: FakeKube
) -> None:
    port = free_port()
    proc, _ = daemon("--listen", f"127.0.0.1:{port}")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "refusing to start" in out
    assert "the HTTP input (127.0.0.1:" in out and "has no bearer token" in out
    assert "--token, LANNER_RESPOND_TOKEN or --token-file" in out
    assert "--insecure" in out
    with pytest.raises(httpx.ConnectError):
        httpx.post(f"http://127.0.0.1:{port}/", json=make_alert())
    assert _pod_alive(fake_kube)


def test_insecure_starts_open_and_says_so(
    daemon: Callable[..., tuple[subprocess.Popen[str], Path]], fake_kube: FakeKube
) -> None:
    port = free_port()
    proc, _ = daemon("--listen", f"127.0.0.1:{port}", "--insecure")
    wait_port(port, proc)  # type: ignore[arg-type]
    assert httpx.post(f"http://127.0.0.1:{port}/", json=make_alert()).status_code == 202
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert "WARNING: --insecure: the HTTP input (127.0.0.1:" in out
    assert "anyone who can reach it can trigger actions" in out
    assert "(NO TOKEN (--insecure))" in out


def test_token_file_and_loopback_by_default(
    daemon: Callable[..., tuple[subprocess.Popen[str], Path]], tmp_path: Path
) -> None:
    """`--listen :PORT` (no host) binds 127.0.0.1 only; the token comes from a file."""
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    port = free_port()
    proc, _ = daemon("--listen", f":{port}", env={"LANNER_RESPOND_TOKEN_FILE": str(token_file)})
    wait_port(port, proc)  # type: ignore[arg-type]
    assert _listening_addresses(port) == {"127.0.0.1"}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    url = f"http://127.0.0.1:{port}/"
    assert httpx.post(url, json=make_alert(), headers=headers).status_code == 202
    assert httpx.post(url, json=make_alert()).status_code == 401


def test_default_listen_is_loopback() -> None:
    from lanner.services.respond.cli import respond

    [listen] = [p for p in respond.params if p.name == "listen"]
    assert listen.default == "127.0.0.1:2804"


def test_wide_bind_without_tls_warns(capsys: pytest.CaptureFixture[str]) -> None:
    """(Checked on the start-up decision alone: tests do not listen beyond loopback.)"""
    from lanner.services.respond.cli import _check_exposure

    common: dict[str, Any] = dict(token=TOKEN, nats_url=None, nats_auth=NatsAuth(), insecure=False)
    _check_exposure(http=True, listen="0.0.0.0:2804", tls=False, **common)
    assert "WARNING: listening on 0.0.0.0 without TLS" in capsys.readouterr().err
    for listen, tls in (("0.0.0.0:2804", True), ("127.0.0.1:2804", False), ("[::1]:2804", False)):
        _check_exposure(http=True, listen=listen, tls=tls, **common)
        assert capsys.readouterr().err == ""


def _listening_addresses(port: int) -> set[str]:
    """IPv4 addresses with a TCP socket listening on `port` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(".".join(str(b) for b in reversed(bytes.fromhex(address))))
    return found


# ---- NATS -------------------------------------------------------------------------------


def test_nats_without_credentials_refuses_to_start(
    daemon: Callable[..., tuple[subprocess.Popen[str], Path]], tmp_path: Path
) -> None:
    with nats_server(tmp_path, auth="user") as url:
        proc, _ = daemon("--no-http", "--nats-url", url)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert "refusing to start" in out
    assert f"NATS {url}: no credentials" in out
    assert "--nats-token or --nats-user/--nats-password" in out


def test_nats_wrong_password_is_a_clear_start_error(
    daemon: Callable[..., tuple[subprocess.Popen[str], Path]], tmp_path: Path
) -> None:
    with nats_server(tmp_path, auth="user") as url:
        proc, _ = daemon(
            "--no-http", "--nats-url", url,
            env={"LANNER_RESPOND_NATS_USER": NATS_USER, "LANNER_RESPOND_NATS_PASSWORD": "nope"},
        )  # fmt: skip
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert f"NATS {url}:" in out and "Authorization Violation" in out
    assert "nope" not in out


async def _publish(url: str, subject: str, data: bytes, **auth: Any) -> None:
    import nats

    nc = await nats.connect(url, allow_reconnect=False, max_reconnect_attempts=0, **auth)
    await nc.publish(subject, data)
    await nc.flush()
    await nc.drain()


def test_nats_with_user_and_password_acts_and_strangers_cannot_publish(
    daemon: Callable[..., tuple[subprocess.Popen[str], Path]],
    tmp_path: Path,
    fake_kube: FakeKube,
) -> None:
    with nats_server(tmp_path, auth="user") as url:
        proc, audit = daemon(
            "--no-http", "--nats-url", url, "--nats-subject", "falco.>",
            env={"LANNER_RESPOND_NATS_USER": NATS_USER,
                 "LANNER_RESPOND_NATS_PASSWORD": NATS_PASSWORD},
        )  # fmt: skip
        _wait_output(proc, "subscribed to falco.>")
        alert = json.dumps(make_alert()).encode()
        # the attacker has no credentials: the server refuses the connection
        with pytest.raises(Exception, match="Authorization Violation"):
            asyncio.run(_publish(url, "falco.critical", alert))
        time.sleep(0.5)
        assert _pod_alive(fake_kube)
        asyncio.run(_publish(url, "falco.critical", alert, user=NATS_USER, password=NATS_PASSWORD))
        deadline = time.monotonic() + 20
        while not (audit.exists() and audit.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert not _pod_alive(fake_kube)
    [record] = [json.loads(x) for x in audit.read_text().splitlines()]
    assert (record["action"], record["target"]) == ("kubernetes:delete", "pod default/web-1")


def _wait_output(proc: subprocess.Popen[str], text: str) -> None:
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen.append(line)
        if text in line:
            return
        if not line and proc.poll() is not None:
            break
    pytest.fail(f"{text!r} not printed; output:\n{''.join(seen)}")


def test_nats_token_and_tls(tmp_path: Path, fake_kube: FakeKube, kube_clients: KubeClients) -> None:
    """NatsInput with a token over TLS verified against the server's certificate."""
    fake_kube.add_pod("default", "web-1", {"app": "web"})
    cert, key = self_signed(tmp_path, "nats")
    rules = tmp_path / "rules.yaml"
    rules.write_text(DELETE_RULE)
    from lanner.services.respond.rules import load_rules

    dispatcher = Dispatcher(Responder(load_rules([rules]), kube=kube_clients), workers=1)
    with nats_server(tmp_path, auth="token", tls=(cert, key)) as url:
        # without the CA the server certificate is not trusted
        untrusting = NatsInput(url, ["falco.>"], dispatcher, connect_timeout=2,
                               auth=NatsAuth(token=NATS_TOKEN))  # fmt: skip
        with pytest.raises(ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            untrusting.start()
        wrong = NatsInput(url, ["falco.>"], dispatcher, connect_timeout=2,
                          auth=NatsAuth(token="nope", tls_ca=str(cert)))  # fmt: skip
        # the server answers -ERR and closes; over TLS the client sometimes sees the close
        # (broken pipe, reset) before it reads the error: refused either way
        refused = "Authorization Violation|Broken pipe|Connection reset"
        with pytest.raises(ConnectionError, match=refused):
            wrong.start()
        nats_input = NatsInput(url, ["falco.>"], dispatcher,
                               auth=NatsAuth(token=NATS_TOKEN, tls_ca=str(cert)))  # fmt: skip
        nats_input.start()
        try:
            import ssl

            context = ssl.create_default_context(cafile=str(cert))
            alert = json.dumps(make_alert()).encode()
            asyncio.run(_publish(url, "falco.critical", alert, token=NATS_TOKEN, tls=context))
            deadline = time.monotonic() + 20
            while _pod_alive(fake_kube) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            nats_input.stop()
            dispatcher.stop()
    assert not _pod_alive(fake_kube)


def test_nats_client_certificate(tmp_path: Path, kube_clients: KubeClients) -> None:
    """A server that requires client certificates: refused without one, subscribed with it."""
    server_cert, server_key = self_signed(tmp_path, "server")
    client_cert, client_key = self_signed(tmp_path, "client")
    rules = tmp_path / "rules.yaml"
    rules.write_text(DELETE_RULE)
    from lanner.services.respond.rules import load_rules

    dispatcher = Dispatcher(Responder(load_rules([rules]), kube=kube_clients), workers=1)
    try:
        with nats_server(tmp_path, tls=(server_cert, server_key), client_ca=client_cert) as url:
            anonymous = NatsInput(url, ["falco.>"], dispatcher, connect_timeout=2,
                                  auth=NatsAuth(tls_ca=str(server_cert)))  # fmt: skip
            with pytest.raises(ConnectionError):
                anonymous.start()
            auth = NatsAuth(tls_ca=str(server_cert), tls_cert=str(client_cert),
                            tls_key=str(client_key))  # fmt: skip
            assert auth.authenticated(url)  # a client certificate is a credential
            nats_input = NatsInput(url, ["falco.>"], dispatcher, auth=auth)
            nats_input.start()
            nats_input.stop()
    finally:
        dispatcher.stop()


@pytest.mark.parametrize(
    ("auth", "conflict"),
    [
        (NatsAuth(token="t", user="u", password="p"), "not both"),
        (NatsAuth(user="u"), "needs a password"),
        (NatsAuth(tls_cert="c"), "go together"),
        (NatsAuth(token="t"), None),
    ],
)
def test_nats_auth_conflicts(auth: NatsAuth, conflict: str | None) -> None:
    found = auth.conflict()
    assert (found is None) if conflict is None else (conflict in (found or ""))


def test_nats_credentials_in_the_url_count_and_are_not_shown() -> None:
    from lanner.services.respond.nats_input import redact_url

    assert not NatsAuth().authenticated("nats://h:4222")
    assert NatsAuth().authenticated("nats://u:p@h:4222")
    assert redact_url("nats://u:s3cret@h:4222") == "nats://***@h:4222"


def test_start_up_prints_one_line_with_address_and_rules(
    daemon: Callable[..., tuple[subprocess.Popen[str], Path]], fake_kube: FakeKube
) -> None:
    """Issue 28: at start, one line saying what it listens on and which rules it loaded;
    repeated alerts then add no line at the default log level."""
    port = free_port()
    proc, _ = daemon("--listen", f"127.0.0.1:{port}", env={"LANNER_RESPOND_TOKEN": TOKEN})
    wait_port(port, proc)  # type: ignore[arg-type]
    assert proc.stdout is not None
    line = proc.stdout.readline().rstrip("\n")
    assert line.startswith(
        f"lanner respond: listening on http://127.0.0.1:{port} (bearer token required); "
        "1 rules (rules.yaml: Lanner)"
    ), line
    headers = {"Authorization": f"Bearer {TOKEN}"}
    for _ in range(10):
        other = make_alert(rule="No response rule for this one")
        resp = httpx.post(f"http://127.0.0.1:{port}/", json=other, headers=headers)
        assert resp.status_code == 202
    _settle(proc, port, TOKEN)
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=20)
    assert "duplicate" not in rest and "No response rule" not in rest, rest
