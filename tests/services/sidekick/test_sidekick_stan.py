"""The STAN (NATS Streaming) output, run as `lanner sidekick`, against a real nats-server and
a DOUBLE of the streaming server (`stan_double.py`: NATS Streaming is not packaged here; the
double speaks its published protocol messages as a client of the real nats-server)."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trustme
import yaml

from .helpers import (
    Process,
    Sidekick,
    free_port,
    make_alert,
    metric_value,
    sidekick_check,
    wait_port,
)
from .servers import nats_server, need
from .stan_double import StanDouble

pytestmark = pytest.mark.servers

CLUSTER = "falco-cluster"


def write(tmp: Path, data: object) -> Path:
    """A sidekick YAML config file."""
    path = tmp / "sidekick.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


async def until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait (without blocking the double's event loop) until `check()` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {check}")
        await asyncio.sleep(0.05)


def test_stan_publishes_falcosidekick_subject_and_payload(tmp: Path, sidekicks: list) -> None:
    async def main() -> None:
        with nats_server(tmp) as (_, port):
            url = f"nats://127.0.0.1:{port}"
            double = await StanDouble(url, CLUSTER).start()
            config = {
                "stan": {
                    "hostport": url,
                    "clusterid": CLUSTER,
                    "clientid": "lanner-sidekick-1",
                    "minimumpriority": "error",
                }
            }
            sk = Sidekick(tmp, config)
            sidekicks.append(sk)
            below = make_alert(priority="Warning", rule="Below the minimum")
            shell = make_alert(priority="Critical", rule="Terminal shell in container")
            etc = make_alert(priority="Error", rule="Write below etc (user)")
            for alert in (below, shell, etc):
                response = await asyncio.to_thread(sk.post, alert)
                assert response.status_code == 200
            await until(lambda: len(double.stored) >= 2)
            # Falcosidekick's channel names; the Warning one is under minimumpriority
            assert double.subjects() == [
                "falco.critical.terminal_shell_in_container",
                "falco.error.write_below_etc_user",
            ]
            # Falcosidekick's payload: the alert as received plus its uuid
            for message, alert in zip(double.stored, (shell, etc), strict=True):
                payload = json.loads(message.data)
                assert payload.pop("uuid")
                assert payload == alert
                assert message.client_id == "lanner-sidekick-1"
            assert double.connects == ["lanner-sidekick-1"]  # one connection for both
            text = await asyncio.to_thread(sk.metrics)
            fsk_out = "falcosecurity_falcosidekick_outputs_total"
            assert metric_value(text, fsk_out, destination="stan", status="ok") == 2
            # SIGTERM: the connection is closed with a CloseRequest, freeing the client id
            await asyncio.to_thread(sk.stop)
            assert double.closes == ["lanner-sidekick-1"]
            assert double.clients == {}
            await double.stop()

    asyncio.run(main())


def test_stan_unacked_retried_and_nothing_lost_in_outages(tmp: Path, sidekicks: list) -> None:
    """A message without PubAck is published again; alerts accepted while the streaming
    server restarts (forgetting its clients) or while nats-server is down all arrive, in
    order, each acknowledged once. Configured by Falcosidekick's environment variables."""

    async def main() -> None:
        doubles: list[StanDouble] = []

        async def start_double(withhold_acks: int = 0) -> StanDouble:
            doubles.append(await StanDouble(url, CLUSTER, withhold_acks=withhold_acks).start())
            return doubles[-1]

        with nats_server(tmp) as (_, port):
            url = f"nats://127.0.0.1:{port}"
            double = await start_double(withhold_acks=1)
            env = {"STAN_HOSTPORT": url, "STAN_CLUSTERID": CLUSTER, "STAN_CLIENTID": "lanner"}
            config = {"delivery": {"backoff": 0.05, "maxbackoff": 0.3, "timeout": 1}}
            sk = Sidekick(tmp, config, env=env)
            sidekicks.append(sk)

            async def post(rule: str) -> None:
                response = await asyncio.to_thread(sk.post, make_alert(rule=rule))
                assert response.status_code == 200

            # 1. the first message gets no PubAck: after delivery.timeout it is sent again
            await post("unacked")
            await until(lambda: double.subjects() == ["falco.warning.unacked"])
            assert [(m.subject, m.acked) for m in double.stored] == [
                ("falco.warning.unacked", False),
                ("falco.warning.unacked", True),
            ]
            assert double.stored[0].guid != double.stored[1].guid

            # 2. the streaming server goes away; alerts wait; a new one knows no clients
            await double.stop()
            await post("server down 1")
            await post("server down 2")
            await asyncio.sleep(2.5)  # several unacknowledged attempts and failed connects
            double = await start_double()
            await until(lambda: len(double.subjects()) == 2)

            # 3. restarted while Lanner's connection was idle: the server refuses the old
            # connection's PubMsg, Lanner reconnects with the same client id and resends
            await double.stop()
            double = await start_double()
            await post("after restart")
            await until(lambda: len(double.subjects()) == 1)
            assert double.connects == ["lanner"]
            await double.stop()
        # 4. nats-server itself is down: alerts are accepted and kept
        await post("nats down 1")
        await post("nats down 2")
        await asyncio.sleep(1.5)
        with nats_server(tmp, port):
            double = await start_double()
            await until(lambda: len(double.subjects()) == 2)
            await double.stop()
        acked = [subject for d in doubles for subject in d.subjects()]
        rules = ["unacked", "server_down_1", "server_down_2", "after_restart"]
        rules += ["nats_down_1", "nats_down_2"]
        assert acked == [f"falco.warning.{rule}" for rule in rules]
        log = (tmp / "sidekick.log").read_text()
        assert "stan: no PubAck for falco.warning.unacked within 1s" in log
        # phase 3: the new server refused the PubMsg (or, if a ping got there first, told
        # the client it no longer knows it)
        assert (
            "stan: publish refused: stan: invalid publish request" in log
            or "client has been replaced or is no longer registered" in log
        )

    asyncio.run(main())


@contextmanager
def tls_nats_server(tmp: Path, ca: trustme.CA, verify_clients: bool) -> Iterator[int]:
    """nats-server on 127.0.0.1 serving TLS only, requiring client certificates if asked."""
    server = ca.issue_cert("127.0.0.1")
    server.cert_chain_pems[0].write_to_path(tmp / "nats.crt")
    server.private_key_pem.write_to_path(tmp / "nats.key")
    ca.cert_pem.write_to_path(tmp / "ca.crt")
    port = free_port()
    args = [need("nats-server", "nats-server"), "-a", "127.0.0.1", "-p", str(port)]
    args += ["--tlscert", str(tmp / "nats.crt"), "--tlskey", str(tmp / "nats.key")]
    args += ["--tlsverify", "--tlscacert", str(tmp / "ca.crt")] if verify_clients else ["--tls"]
    proc = Process(args, log=tmp / f"nats-tls-{port}.log")
    try:
        wait_port(port, proc)
        yield port
    finally:
        proc.stop()


def test_stan_over_tls_checkcert_and_mutualtls(tmp: Path, sidekicks: list) -> None:
    """`tls://` hostport: the server certificate is checked (`checkcert: false` skips it) and
    with `mutualtls` the client certificate of `mutualtlsclient` is presented."""
    ca = trustme.CA()
    client = ca.issue_cert("sidekick-client")
    client.cert_chain_pems[0].write_to_path(tmp / "client.crt")
    client.private_key_pem.write_to_path(tmp / "client.key")
    double_tls = ssl.create_default_context()
    ca.configure_trust(double_tls)
    client.configure_cert(double_tls)

    async def deliver(port: int, name: str, stan: dict, **extra: object) -> StanDouble:
        url = f"tls://127.0.0.1:{port}"
        double = await StanDouble(url, CLUSTER, tls=double_tls).start()
        stan = {"hostport": url, "clusterid": CLUSTER, "clientid": name, **stan}
        config = {"stan": stan, "delivery": {"backoff": 0.05, "maxbackoff": 0.2}, **extra}
        sk = Sidekick(tmp, config, name=name)
        sidekicks.append(sk)
        response = await asyncio.to_thread(sk.post, make_alert(rule=name))
        assert response.status_code == 200
        return double

    async def main() -> None:
        with tls_nats_server(tmp, ca, verify_clients=False) as port:
            # the server's certificate is from a CA the sidekick does not trust
            double = await deliver(port, "checked", {})
            log = tmp / "checked.log"
            await until(lambda: "CERTIFICATE_VERIFY_FAILED" in log.read_text())
            assert double.stored == []
            await double.stop()
            double = await deliver(port, "unchecked", {"checkcert": False})
            await until(lambda: double.subjects() == ["falco.warning.unchecked"])
            await double.stop()
        with tls_nats_server(tmp, ca, verify_clients=True) as port:
            client_files = {
                "certfile": str(tmp / "client.crt"),
                "keyfile": str(tmp / "client.key"),
                "cacertfile": str(tmp / "ca.crt"),
            }
            double = await deliver(
                port, "mutual", {"mutualtls": True}, mutualtlsclient=client_files
            )
            await until(lambda: double.subjects() == ["falco.warning.mutual"])
            await double.stop()

    asyncio.run(main())


@pytest.mark.parametrize(
    ("stan", "message"),
    [
        (
            {"hostport": "nats://127.0.0.1:4222", "clientid": "lanner"},
            "stan.clusterid: required with stan.hostport",
        ),
        (
            {"hostport": "nats://127.0.0.1:4222", "clusterid": CLUSTER},
            "stan.clientid: required with stan.hostport",
        ),
        (
            {"hostport": "127.0.0.1:4222", "clusterid": CLUSTER, "clientid": "lanner"},
            "stan.hostport: expected nats://host:port",
        ),
        (
            {"hostport": "nats://127.0.0.1:4222", "clusterid": CLUSTER, "clientid": "lanner 1"},
            "stan.clientid: 'lanner 1': only letters, digits, '-' and '_'",
        ),
        (
            {
                "hostport": "nats://127.0.0.1:4222",
                "clusterid": CLUSTER,
                "clientid": "lanner",
                "subjecttemplate": "falco.>",
            },
            "stan.subjecttemplate: 'falco.>' is not a subject",
        ),
        (
            {"hostport": "nats://127.0.0.1:4222", "clusterid": "a b", "clientid": "lanner"},
            "stan.clusterid: 'a b' is not a valid",
        ),
    ],
)
def test_stan_bad_config_refused_at_start(tmp: Path, stan: dict, message: str) -> None:
    result = sidekick_check(write(tmp, {"stan": stan}))
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_stan_check_lists_output_from_falcosidekick_env(tmp: Path) -> None:
    """The three keys that switch Falcosidekick's STAN output on now switch Lanner's on."""
    result = sidekick_check(
        write(tmp, {}),
        STAN_HOSTPORT="nats://nats:4222",
        STAN_CLUSTERID="test-cluster",
        STAN_CLIENTID="falcosidekick",
        STAN_SUBJECTTEMPLATE="falco.<priority>",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["prometheus", "stan"]
