"""The HTTP API of a real `lanner sidekick` process: validation, health, test, auth, TLS."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import trustme

from .helpers import Receiver, Sidekick, free_port, make_alert, metric_value, wait_until


def test_accepts_valid_alert_and_rejects_bad_ones(
    tmp: Path, receiver: Receiver, sidekicks: list
) -> None:
    sk = Sidekick(tmp, {"webhook": {"address": receiver.url + "/hook"}})
    sidekicks.append(sk)
    ok = sk.post(make_alert())
    assert ok.status_code == 200
    assert ok.json() == {"status": "accepted", "outputs": ["prometheus", "webhook"]}
    bad = sk.post({**make_alert(), "priority": "Whatever"})
    assert bad.status_code == 400
    assert bad.json() == {"error": "unknown priority 'Whatever'"}
    garbage = httpx.post(sk.url + "/", content=b"{not json", timeout=10)
    assert garbage.status_code == 400 and garbage.json()["error"].startswith("invalid JSON")
    (req,) = receiver.wait_for(1)
    assert req.path == "/hook"
    assert req.headers["content-type"] == "application/json"
    assert req.json() == make_alert()
    # the daemon is still alive and counted both kinds of input
    assert httpx.get(sk.url + "/ping", timeout=5).text == "pong\n"
    text = sk.metrics()
    assert metric_value(text, "lanner_sidekick_inputs_total", status="accepted") == 1
    assert metric_value(text, "lanner_sidekick_inputs_total", status="rejected") == 2
    wait_until(
        lambda: (
            metric_value(
                sk.metrics(), "lanner_sidekick_outputs_total", destination="webhook", status="sent"
            )
            == 1
        )
    )
    text = sk.metrics()  # Falcosidekick's own series, its names, labels and statuses
    fsk_in = "falcosecurity_falcosidekick_inputs_total"
    assert metric_value(text, fsk_in, source="requests", status="accepted") == 1
    assert metric_value(text, fsk_in, source="requests", status="rejected") == 2
    fsk_out = "falcosecurity_falcosidekick_outputs_total"
    assert metric_value(text, fsk_out, destination="webhook", status="ok") == 1


def test_minimumpriority_and_test_endpoint(tmp: Path, receivers: list, sidekicks: list) -> None:
    low, high = Receiver(), Receiver()
    receivers += [low, high]
    sk = Sidekick(
        tmp,
        {
            "webhook": {"address": low.url},
            "function": {"address": high.url, "minimumpriority": "critical"},
        },
    )
    sidekicks.append(sk)
    for prio in ["Debug", "Warning", "Critical", "Emergency", "Error"]:
        assert sk.post(make_alert(priority=prio, rule=f"rule {prio}")).status_code == 200
    low.wait_for(5)
    high.wait_for(2)
    assert [r.json()["data"]["priority"] for r in high.requests] == ["Critical", "Emergency"]
    # /test goes everywhere, whatever the minimum priority
    resp = httpx.post(sk.url + "/test", timeout=10)
    assert resp.status_code == 200
    high.wait_for(3)
    assert high.requests[2].json()["data"]["rule"] == "Test rule"
    health = httpx.get(sk.url + "/healthz", timeout=5).json()
    assert health["status"] == "ok"
    assert set(health["outputs"]) == {"function", "webhook", "prometheus"}
    wait_until(lambda: httpx.get(sk.url + "/healthz").json()["counts"]["webhook"]["sent"] == 6)


def test_tls_mutual_tls_and_bearer_token(tmp: Path, receiver: Receiver, sidekicks: list) -> None:
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("falco-client")
    server.cert_chain_pems[0].write_to_path(tmp / "server.crt")
    server.private_key_pem.write_to_path(tmp / "server.key")
    ca.cert_pem.write_to_path(tmp / "ca.crt")
    client.private_key_and_cert_chain_pem.write_to_path(tmp / "client.pem")
    plain_port = free_port()
    sk = Sidekick(
        tmp,
        {
            "webhook": {"address": receiver.url},
            "auth": {"token": "s3cret-token"},
            "tlsserver": {
                "deploy": True,
                "certfile": str(tmp / "server.crt"),
                "keyfile": str(tmp / "server.key"),
                "mutualtls": True,
                "cacertfile": str(tmp / "ca.crt"),
                "notlsport": plain_port,
                "notlspaths": ["/ping"],
            },
        },
        scheme="https",
    )
    sidekicks.append(sk)
    ctx = ssl.create_default_context(cafile=str(tmp / "ca.crt"))
    ctx.load_cert_chain(str(tmp / "client.pem"))
    auth = {"Authorization": "Bearer s3cret-token"}
    with httpx.Client(verify=ctx, timeout=10) as https:
        assert https.post(sk.url + "/", json=make_alert(), headers=auth).status_code == 200
        denied = https.post(sk.url + "/", json=make_alert(), headers={"Authorization": "Bearer no"})
        assert denied.status_code == 401
        assert https.post(sk.url + "/", json=make_alert()).status_code == 401
        assert https.get(sk.url + "/ping").status_code == 200  # open path
        assert https.get(sk.url + "/metrics").status_code == 401
    # without a client certificate the TLS handshake is refused
    no_cert = ssl.create_default_context(cafile=str(tmp / "ca.crt"))
    with httpx.Client(verify=no_cert, timeout=10) as https:
        try:
            https.post(sk.url + "/", json=make_alert(), headers=auth)
            raise AssertionError("request without client certificate was served")
        except (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError):
            pass
    # the plain port serves only /ping
    assert httpx.get(f"http://127.0.0.1:{plain_port}/ping", timeout=5).text == "pong\n"
    assert httpx.post(f"http://127.0.0.1:{plain_port}/", json=make_alert()).status_code == 404
    assert len(receiver.wait_for(1)) == 1


def test_configured_by_environment_only(tmp: Path, receiver: Receiver, sidekicks: list) -> None:
    env = {
        "WEBHOOK_ADDRESS": receiver.url + "/env",
        "WEBHOOK_MINIMUMPRIORITY": "error",
        "WEBHOOK_CUSTOMHEADERS": "X-Source:lanner",
        "CUSTOMFIELDS": "cluster:prod-eu",
        "TEMPLATEDFIELDS": 'ns:{{ index . "k8s.ns.name" }}',
        "CUSTOMTAGS": "lanner",
        "OUTPUTFIELDFORMAT": "<priority> <output> [<custom_fields>]",
    }
    sk = Sidekick(tmp, {}, env=env)
    sidekicks.append(sk)
    assert sk.post(make_alert(priority="Notice", rule="too low")).status_code == 200
    assert sk.post(make_alert(priority="Error", rule="high enough")).status_code == 200
    (req,) = receiver.wait_for(1)
    body = req.json()
    assert req.path == "/env" and req.headers["x-source"] == "lanner"
    assert body["rule"] == "high enough"
    assert body["output_fields"]["cluster"] == "prod-eu"
    assert body["output_fields"]["ns"] == "default"
    assert body["tags"][-1] == "lanner"
    assert body["output"] == (
        "Error Sensitive file opened for reading by non-trusted program "
        "(file=/etc/shadow proc.name=cat) [cluster=prod-eu]"
    )
