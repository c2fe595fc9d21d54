"""Falcosidekick's StatsD and DogStatsD counters, from a real `lanner sidekick` process to
real UDP sockets on loopback: requests accepted and refused, a webhook delivery that fails
once then succeeds (a local HTTP receiver), the StatsD client's folded names and the
DogStatsD client's tags."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from lanner.services.sidekick.alert import Priority
from lanner.services.sidekick.outputs.base import OutputContext
from lanner.services.sidekick.outputs.statsd import MAX_DATAGRAM, Dogstatsd, Statsd
from lanner.services.sidekick.stats import Stats

from .helpers import Receiver, Sidekick, make_alert, metric_value

Sums = Counter[tuple[str, str]]  # (name, "|#..." tags or "") -> summed value


@pytest.fixture
def udp() -> Iterator[list[socket.socket]]:
    """Two UDP sockets bound on loopback (a StatsD and a DogStatsD server)."""
    socks = []
    for _ in range(2):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.2)
        socks.append(sock)
    yield socks
    for sock in socks:
        sock.close()


def address(sock: socket.socket) -> str:
    return f"127.0.0.1:{sock.getsockname()[1]}"


def receive(sock: socket.socket, sums: Sums, until: float) -> None:
    """Add the counters of the datagrams arriving before `until` to `sums`."""
    while time.monotonic() < until:
        try:
            data = sock.recv(65536).decode()
        except TimeoutError:
            continue
        for line in data.split("\n"):
            head, _, rest = line.partition(":")
            value, _, tail = rest.partition("|c")
            assert tail == "" or tail.startswith("|#"), line
            sums[(head, tail)] += int(value)


def counters(sock: socket.socket, expected: dict[tuple[str, str], int]) -> Sums:
    """What arrives on `sock` until `expected` did (20 s at most), then 0.5 s more (so that
    an extra or a doubled counter shows)."""
    sums: Sums = Counter()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(sums[k] < v for k, v in expected.items()):
        receive(sock, sums, time.monotonic() + 0.2)
    receive(sock, sums, time.monotonic() + 0.5)
    return sums


def traffic(sk: Sidekick, receiver: Receiver) -> None:
    """Two Warning and one Critical alert, a body that is no JSON, a GET /; the webhook
    refuses the first delivery (500), so one alert is delivered at the second attempt."""
    receiver.fail_next = 1
    receiver.fail_status = 500
    for priority in ("Warning", "Critical", "Warning"):
        assert sk.post(make_alert(priority=priority)).status_code == 200
    bad = httpx.post(sk.url + "/", content=b"{not json", timeout=10)
    assert bad.status_code == 400
    get = httpx.get(sk.url + "/", timeout=10)
    assert get.status_code == 405 and get.headers["allow"] == "POST"
    receiver.wait_for(3)


def config(receiver: Receiver, **sections: object) -> dict[str, object]:
    return {
        "webhook": {"address": receiver.url},
        "delivery": {"backoff": 0.05, "maxbackoff": 0.1},
        **sections,
    }


def test_statsd_names_as_falcosidekick(
    tmp: Path, sidekicks: list[Sidekick], receiver: Receiver, udp: list[socket.socket]
) -> None:
    """StatsD alone: the request counters keep their tags (Falcosidekick's request handler
    counts through this client in DogStatsD form), the `outputs` counter is folded into
    `outputs.webhook.ok|error`; the client-wide tags end every line."""
    statsd = udp[0]
    sk = Sidekick(tmp, config(receiver, statsd={"forwarder": address(statsd), "tags": ["env:t"]}))
    sidekicks.append(sk)
    traffic(sk, receiver)
    expected = {
        ("falcosidekick.total", "|#env:t"): 5,
        ("falcosidekick.inputs.requests.accepted", "|#env:t"): 3,
        ("falcosidekick.falco.accepted", "|#env:t,priority:Warning"): 2,
        ("falcosidekick.falco.accepted", "|#env:t,priority:Critical"): 1,
        ("falcosidekick.inputs.requests.rejected", "|#env:t,error:invalidjson"): 1,
        ("falcosidekick.inputs.requests.rejected", "|#env:t,error:nobody"): 1,
        ("falcosidekick.outputs.webhook.error", "|#env:t"): 1,
        ("falcosidekick.outputs.webhook.ok", "|#env:t"): 3,
    }
    assert counters(statsd, expected) == expected
    # every increment sent is counted as the statsd output's delivery (Falcosidekick's series)
    text = sk.metrics()
    sent = metric_value(
        text, "falcosecurity_falcosidekick_outputs_total", destination="statsd", status="ok"
    )
    assert sent == sum(expected.values())


def test_dogstatsd_tags_and_both_clients(
    tmp: Path, sidekicks: list[Sidekick], receiver: Receiver, udp: list[socket.socket]
) -> None:
    """StatsD and DogStatsD together: the request counters go through the DogStatsD client
    only (as in Falcosidekick), `outputs` through both; DogStatsD keeps `output:` and
    `status:` as tags after the client-wide ones; each client has its own namespace; the
    dogstatsd section set by Falcosidekick's DOGSTATSD_* variables."""
    statsd, dogstatsd = udp
    sk = Sidekick(
        tmp,
        config(receiver, statsd={"forwarder": address(statsd)}),
        env={  # Falcosidekick's environment variables for its dogstatsd section
            "DOGSTATSD_FORWARDER": address(dogstatsd),
            "DOGSTATSD_NAMESPACE": "fsk.",
            "DOGSTATSD_TAGS": "team:sec,env:t",
        },
    )
    sidekicks.append(sk)
    traffic(sk, receiver)
    batch = b"\n".join(httpx.Request("POST", "/", json=make_alert()).content for _ in range(2))
    answer = httpx.post(
        sk.url + "/", content=batch, headers={"content-type": "application/x-ndjson"}
    )
    assert answer.json()["count"] == 2  # a batch (Lanner's extension) counts each alert
    receiver.wait_for(5)
    tags = "|#team:sec,env:t"
    dog = {
        ("fsk.total", tags): 7,
        ("fsk.inputs.requests.accepted", tags): 5,
        ("fsk.falco.accepted", f"{tags},priority:Warning"): 4,
        ("fsk.falco.accepted", f"{tags},priority:Critical"): 1,
        ("fsk.inputs.requests.rejected", f"{tags},error:invalidjson"): 1,
        ("fsk.inputs.requests.rejected", f"{tags},error:nobody"): 1,
        ("fsk.outputs", f"{tags},output:webhook,status:error"): 1,
        ("fsk.outputs", f"{tags},output:webhook,status:ok"): 5,
    }
    flat = {
        ("falcosidekick.outputs.webhook.error", ""): 1,
        ("falcosidekick.outputs.webhook.ok", ""): 5,
    }
    assert counters(dogstatsd, dog) == dog
    assert counters(statsd, flat) == flat


def test_counters_split_in_datagrams_within_the_limit(udp: list[socket.socket]) -> None:
    """Many series: every datagram within MAX_DATAGRAM, every counter in exactly one."""
    ctx = OutputContext(registry=CollectorRegistry(), enabled=["dogstatsd"])
    settings = {"forwarder": address(udp[0]), "namespace": "falcosidekick.", "tags": ["a:b"]}
    out = Dogstatsd(settings, ctx)
    stats = Stats(CollectorRegistry())
    out.attach(stats)
    names = [f"output{n:03}" for n in range(120)]
    for name in names:
        stats.output(name, "warning", "sent")
    stats.input("accepted", 3, Priority.NOTICE)
    stats.input("rejected", 2, reason="toolarge")
    grams = out.datagrams(out.take())
    assert len(grams) > 1 and all(len(data) <= MAX_DATAGRAM for data, _ in grams)
    lines = [line.decode() for data, _ in grams for line in data.split(b"\n")]
    want = [f"falcosidekick.outputs:1|c|#a:b,output:{n},status:ok" for n in names]
    want += [
        "falcosidekick.total:5|c|#a:b",
        "falcosidekick.inputs.requests.accepted:3|c|#a:b",
        "falcosidekick.falco.accepted:3|c|#a:b,priority:Notice",
        "falcosidekick.inputs.requests.rejected:2|c|#a:b,error:toolarge",
    ]
    assert sorted(lines) == sorted(want)


def test_statsd_inputs_left_to_dogstatsd_and_own_names() -> None:
    """With both set, StatsD sends no request counters; Falcosidekick's own spellings of
    two output names; retries and drops (Lanner's) are not Falcosidekick statuses."""
    ctx = OutputContext(registry=CollectorRegistry(), enabled=["statsd", "dogstatsd"])
    settings = {"forwarder": "127.0.0.1:9", "namespace": "falcosidekick.", "tags": []}
    out = Statsd(settings, ctx)
    stats = Stats(CollectorRegistry())
    out.attach(stats)
    stats.input("accepted", 1, Priority.WARNING)
    for name in ("fission", "awssecuritylake", "prometheus", "webhook"):
        stats.output(name, "warning", "sent")
    stats.output("webhook", "warning", "retried")
    stats.output("webhook", "warning", "dropped")
    assert out.take() == {
        ("outputs.Fission.ok", ()): 1,
        ("outputs.awssecuritylake..ok", ()): 1,
        ("outputs.webhook.ok", ()): 1,
    }


def test_unsent_counters_kept_for_the_next_flush(
    udp: list[socket.socket], caplog: pytest.LogCaptureFixture
) -> None:
    """A datagram the kernel refuses (the broadcast address without SO_BROADCAST: EACCES)
    keeps its counts, counted as the output's failed deliveries and said once in the log;
    once the forwarder takes them, the next flush sends them all, once."""
    caplog.set_level(logging.INFO, logger="lanner.sidekick")
    registry = CollectorRegistry()
    stats = Stats(registry)
    ctx = OutputContext(registry=registry, enabled=["dogstatsd"])
    settings = {"forwarder": "255.255.255.255:8125", "namespace": "n.", "tags": []}
    out = Dogstatsd(settings, ctx)
    out.attach(stats)
    stats.input("accepted", 2, Priority.ERROR)
    stats.output("webhook", "error", "sent", 2)

    async def flush_twice() -> None:
        await out.flush()
        assert stats.tally[("dogstatsd", "failed")] == 8 and not stats.tally["dogstatsd", "sent"]
        await out.flush()  # failing still: counted again, as each attempt is
        assert stats.tally[("dogstatsd", "failed")] == 16
        out.settings["forwarder"] = address(udp[0])  # the forwarder is reachable again
        await out.close()  # closing sends what is pending (resolved again after a failure)
        await out.flush()  # nothing left: nothing sent twice
        assert stats.tally[("dogstatsd", "failed")] == 16

    asyncio.run(flush_twice())
    sums: Sums = Counter()
    receive(udp[0], sums, time.monotonic() + 0.5)
    assert sums == {
        ("n.total", ""): 2,
        ("n.inputs.requests.accepted", ""): 2,
        ("n.falco.accepted", "|#priority:Error"): 2,
        ("n.outputs", "|#output:webhook,status:ok"): 2,
    }
    assert stats.tally[("dogstatsd", "sent")] == 8
    said = [r.getMessage() for r in caplog.records if r.name == "lanner.sidekick"]
    assert len([m for m in said if "cannot send to 255.255.255.255:8125" in m]) == 1, said
    assert any("sending to 127.0.0.1:" in m and "again" in m for m in said), said
