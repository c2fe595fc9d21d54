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
