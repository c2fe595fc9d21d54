"""At-least-once delivery: retries, outages, isolation between outputs, the spool."""

from __future__ import annotations

from pathlib import Path

from .helpers import Receiver, Sidekick, free_port, make_alert, metric_value, wait_until

FAST = {"backoff": 0.05, "maxbackoff": 0.3}


def failed(sk: Sidekick) -> float:
    text = sk.metrics()
    return metric_value(
        text, "lanner_sidekick_outputs_total", destination="webhook", status="failed"
    )


def rules(requests: list) -> list[str]:
    return [r.json()["rule"] for r in requests]


def test_retries_until_receiver_recovers(tmp: Path, receiver: Receiver, sidekicks: list) -> None:
    receiver.fail_next = 3  # three 503 replies, then success
    sk = Sidekick(tmp, {"webhook": {"address": receiver.url}, "delivery": FAST})
    sidekicks.append(sk)
    assert sk.post(make_alert(rule="r1")).status_code == 200
    assert sk.post(make_alert(rule="r2")).status_code == 200
    receiver.wait_for(2)
    assert rules(receiver.requests) == ["r1", "r2"]
    assert receiver.attempts == 5
    text = sk.metrics()
    labels = {"destination": "webhook", "priority": "warning"}
    assert metric_value(text, "lanner_sidekick_outputs_total", status="failed", **labels) == 3
    assert metric_value(text, "lanner_sidekick_outputs_total", status="retried", **labels) == 3
    assert metric_value(text, "lanner_sidekick_outputs_total", status="sent", **labels) == 2


def test_target_down_mid_stream_and_back(tmp: Path, receivers: list, sidekicks: list) -> None:
    port = free_port()
    first = Receiver(port=port)
    receivers.append(first)
    other = Receiver()
    receivers.append(other)
    sk = Sidekick(
        tmp,
        {
            "webhook": {"address": first.url},
            "function": {"address": other.url},
            "delivery": FAST,
        },
    )
    sidekicks.append(sk)
    for i in range(3):
        sk.post(make_alert(rule=f"before {i}"))
    first.wait_for(3)
    first.close()  # the target goes away: connections are refused
    for i in range(4):
        assert sk.post(make_alert(rule=f"during {i}")).status_code == 200
    # the other output is not blocked by the outage
    other.wait_for(7)
    assert len(first.requests) == 3
    wait_until(
        lambda: (
            metric_value(
                sk.metrics(),
                "lanner_sidekick_outputs_total",
                destination="webhook",
                status="failed",
            )
            >= 1
        )
    )
    back = Receiver(port=port)  # the target comes back on the same address
    receivers.append(back)
    back.wait_for(4)
    assert rules(back.requests) == [f"during {i}" for i in range(4)]


def test_spool_survives_restart(tmp: Path, receivers: list, sidekicks: list) -> None:
    port = free_port()  # nothing listens there yet
    config = {
        "webhook": {"address": f"http://127.0.0.1:{port}/in"},
        "delivery": {**FAST, "spooldir": str(tmp / "spool"), "shutdowngrace": 0.2},
    }
    sk = Sidekick(tmp, dict(config), name="first")
    sidekicks.append(sk)
    for i in range(5):
        assert sk.post(make_alert(rule=f"spooled {i}")).status_code == 200
    sk.stop()
    receiver = Receiver(port=port)
    receivers.append(receiver)
    again = Sidekick(tmp, dict(config), name="second")
    sidekicks.append(again)
    receiver.wait_for(5)
    assert rules(receiver.requests) == [f"spooled {i}" for i in range(5)]
    wait_until(lambda: again.metrics() and "lanner_sidekick_queue_depth" in again.metrics())
    wait_until(
        lambda: (
            metric_value(again.metrics(), "lanner_sidekick_queue_depth", destination="webhook") == 0
        )
    )
    # once delivered, a third start has nothing left to resend
    again.stop()
    third = Sidekick(tmp, dict(config), name="third")
    sidekicks.append(third)
    assert third.post(make_alert(rule="after")).status_code == 200
    receiver.wait_for(6)
    assert rules(receiver.requests)[5:] == ["after"]


def test_refused_and_exhausted_alerts_are_counted(
    tmp: Path, receivers: list, sidekicks: list
) -> None:
    refusing = Receiver(status=400)
    failing = Receiver(status=500)
    receivers += [refusing, failing]
    sk = Sidekick(
        tmp,
        {
            "webhook": {"address": refusing.url},
            "function": {"address": failing.url},
            "delivery": {**FAST, "retries": 2},
        },
    )
    sidekicks.append(sk)
    sk.post(make_alert(priority="Critical"))

    def dropped(dest: str) -> float:
        return metric_value(
            sk.metrics(), "lanner_sidekick_outputs_total", destination=dest, status="dropped"
        )

    wait_until(lambda: dropped("webhook") == 1 and dropped("function") == 1)
    assert refusing.attempts == 1  # a 400 is not retried
    assert failing.attempts == 3  # first try + 2 retries
    log = sk.process.log()
    assert "webhook: dropped alert" in log and "HTTP 400" in log


def test_queue_overflow_spool_keeps_and_memory_counts(
    tmp: Path, receivers: list, sidekicks: list
) -> None:
    port, other_port = free_port(), free_port()
    spooled = {
        "webhook": {"address": f"http://127.0.0.1:{port}"},
        "delivery": {**FAST, "queuesize": 2, "spooldir": str(tmp / "spool")},
    }
    memory = {
        "webhook": {"address": f"http://127.0.0.1:{other_port}"},
        "delivery": {**FAST, "queuesize": 2, "shutdowngrace": 0.2, "spooldir": "none"},
    }
    a = Sidekick(tmp, spooled, name="spooled")
    b = Sidekick(tmp, memory, name="memory")
    sidekicks += [a, b]
    for sk, name in [(a, "a"), (b, "b")]:
        assert sk.post(make_alert(rule=f"{name}0")).status_code == 200
        # the first alert is being retried: two more fit in the queue, the rest overflow
        wait_until(lambda sk=sk: failed(sk) >= 1)
        for i in range(1, 6):
            assert sk.post(make_alert(rule=f"{name}{i}")).status_code == 200
    # without a spool, what does not fit is dropped, counted and logged, never silently
    text = b.metrics()
    assert (
        metric_value(text, "lanner_sidekick_outputs_total", destination="webhook", status="dropped")
        == 3
    )
    log = b.process.log()
    assert [f"dropped alert 'b{i}'" in log for i in range(6)] == [False] * 3 + [True] * 3
    up = Receiver(port=port)
    receivers.append(up)
    up.wait_for(6)
    assert sorted(rules(up.requests)) == [f"a{i}" for i in range(6)]


def test_a_backlog_reaches_the_target_unchanged_and_in_order(
    tmp: Path, receivers: list, sidekicks: list
) -> None:
    """300 alerts queued while the target is down, more than a queue holds as they are
    (PACK_AFTER): the backlog waits as JSON, with and without a spool, and each alert
    reaches the target with every field, in its order, once."""
    import json

    from lanner.services.sidekick.delivery import PACK_AFTER

    count = PACK_AFTER + 44
    sent = []
    for i in range(count):
        alert = make_alert(rule=f"r{i}", **{"proc.pid": i, "x.big": 2**63 + i, "x.f": i / 7})
        if i % 3 == 0:
            alert["uuid"] = f"00000000-0000-4000-8000-{i:012d}"
            alert["extra"] = {"nested": [i, None, True, {"k": "ü✓"}]}
        sent.append(alert)
    for spool in (True, False):
        port = free_port()
        delivery: dict = {**FAST, "spooldir": str(tmp / "spool") if spool else "none"}
        config = {"webhook": {"address": f"http://127.0.0.1:{port}/"}, "delivery": delivery}
        sk = Sidekick(tmp, config, name=f"backlog-{spool}")
        sidekicks.append(sk)
        for alert in sent:  # the target is not there yet: all of them wait
            assert sk.post(alert).status_code == 200
        back = Receiver(port=port)
        receivers.append(back)
        got = back.wait_for(count, timeout=60)
        bodies = [json.loads(r.body) for r in got]
        assert bodies == sent and [list(b) for b in bodies] == [list(a) for a in sent]
        assert len(back.requests) == count  # once each
