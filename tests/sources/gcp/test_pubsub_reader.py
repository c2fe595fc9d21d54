"""The Pub/Sub reader (Google's official subscriber client, StreamingPull) against a
DOUBLE of Pub/Sub (tests/helpers/pubsub_double.py: a gRPC server on loopback speaking the
published Subscriber RPCs; Google's emulator cannot be installed here): messages are acked
only once their event was taken, a message not taken comes again, a bad message is
dropped and counted, a missing or forbidden subscription is a clear error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from helpers import wait_until
from helpers.pubsub_double import PubSubDouble
from lanner.app.gcp_input import audit_entry_event
from lanner.exceptions import ConfigError, InputError
from lanner.sources.gcp.pubsub import PubSubOpen, PubSubReader


@pytest.fixture
def pubsub(monkeypatch: pytest.MonkeyPatch) -> Iterator[PubSubDouble]:
    double = PubSubDouble()
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", double.host)
    try:
        yield double
    finally:
        double.stop()


def opened(sub: str = "falco-sub", **init: Any) -> PubSubOpen:
    return PubSubOpen.parse("gcpaudit", {"project_id": "test-project", **init}, sub)


class Run:
    """A reader on a thread; ``taken`` decides whether the engine takes each event."""

    def __init__(self, reader: PubSubReader, take: bool = True) -> None:
        self.reader, self.take = reader, take
        self.events: list[Any] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _deliver(self, events: list[Any]) -> Any:
        self.events.extend(events)
        return lambda: True if self.take else None

    def _run(self) -> None:
        try:
            self.reader.run(self._deliver)
        except BaseException as exc:
            self.error = exc

    def stop(self) -> None:
        self.reader.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive()


def test_messages_are_acked_once_taken(pubsub: PubSubDouble) -> None:
    pubsub.create_subscription("falco-sub")
    ids = [pubsub.publish("audit", b'{"insertId": "%d", "timestamp": "2026-01-01T00:00:0%dZ"}'
                          % (i, i)) for i in range(3)]  # fmt: skip
    run = Run(PubSubReader(opened(), audit_entry_event))
    try:
        wait_until(lambda: sorted(pubsub.acked("falco-sub")) == sorted(ids), 30, "3 acks")
    finally:
        run.stop()
    assert run.error is None
    assert sorted(e.data["insertId"] for e in run.events) == ["0", "1", "2"]
    assert run.events[0].ts == 1767225600 * 10**9 + int(run.events[0].data["insertId"]) * 10**9
    assert "StreamingPull" in pubsub.calls and "Acknowledge" in pubsub.calls
    assert run.reader.stats.acked == 3 and pubsub.pending("falco-sub") == 0


def test_a_message_not_taken_is_nacked_at_stop_and_delivered_again(pubsub: PubSubDouble) -> None:
    pubsub.create_subscription("falco-sub")
    mid = pubsub.publish("audit", b'{"insertId": "x"}')
    first = Run(PubSubReader(opened(), audit_entry_event), take=False)
    wait_until(lambda: first.events, 30, "the delivery")
    first.stop()  # the engine never took it: nacked, not acked
    assert pubsub.acked("falco-sub") == [] and first.reader.stats.nacked == 1
    second = Run(PubSubReader(opened(), audit_entry_event))
    try:  # given back once the first stream was closed: delivered at once
        wait_until(lambda: pubsub.acked("falco-sub") == [mid], 30, "the ack after redelivery")
    finally:
        second.stop()
    assert [e.data["insertId"] for e in second.events] == ["x"]
    assert (mid, 2) in pubsub.deliveries  # delivered again


CRASHING_READER = """
import sys, time
from lanner.app.gcp_input import audit_entry_event
from lanner.sources.gcp.pubsub import PubSubOpen, PubSubReader
reader = PubSubReader(PubSubOpen.parse("gcpaudit", {"project_id": "test-project"},
                                       "falco-sub"), audit_entry_event)
def deliver(events):
    print("received", flush=True)
    return lambda: None  # the engine never takes it before the crash
reader.run(deliver)
"""


def test_a_reader_killed_before_the_engine_took_the_event_loses_nothing(
    pubsub: PubSubDouble,
) -> None:
    pubsub.create_subscription("falco-sub", ack_deadline=2)
    mid = pubsub.publish("audit", b'{"insertId": "crash"}')
    proc = subprocess.Popen([sys.executable, "-c", CRASHING_READER], env=dict(os.environ),
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "received"
    finally:
        proc.send_signal(signal.SIGKILL)  # no ack, no nack: the deadline runs out
        proc.wait(10)
    assert pubsub.acked("falco-sub") == []
    run = Run(PubSubReader(opened(), audit_entry_event))
    try:  # the killed client's lease extensions stop: Pub/Sub redelivers after the deadline
        wait_until(lambda: pubsub.acked("falco-sub") == [mid], 90, "the redelivered ack")
    finally:
        run.stop()
    assert [e.data["insertId"] for e in run.events] == ["crash"]


def test_bad_messages_are_logged_counted_acked_and_reading_goes_on(
    pubsub: PubSubDouble, caplog: pytest.LogCaptureFixture
) -> None:
    pubsub.create_subscription("falco-sub")
    bad = [pubsub.publish("audit", b"not json"), pubsub.publish("audit", b"[1, 2]")]
    good = pubsub.publish("audit", b'{"insertId": "ok"}')
    run = Run(PubSubReader(opened(), audit_entry_event))
    try:
        wait_until(lambda: len(pubsub.acked("falco-sub")) == 3, 30, "3 acks")
    finally:
        run.stop()
    assert sorted(pubsub.acked("falco-sub")) == sorted([*bad, good])
    assert [e.data["insertId"] for e in run.events] == ["ok"]
    assert run.reader.stats.errors == {"bad_message": 2}
    text = caplog.text
    assert f"gcpaudit: message {bad[0]} (delivery 1) dropped: not JSON" in text, text
    assert f"gcpaudit: message {bad[1]} (delivery 1) dropped: not a JSON object" in text, text


def test_missing_subscription_is_a_clear_error(pubsub: PubSubDouble) -> None:
    run = Run(PubSubReader(opened("nope"), audit_entry_event))
    run.thread.join(30)
    assert isinstance(run.error, InputError), run.error
    assert str(run.error).startswith(
        "gcpaudit: subscription projects/test-project/subscriptions/nope: not found"
    ), run.error
    assert run.reader.stats.errors == {"subscription": 1}


def test_refused_permission_is_a_clear_error(pubsub: PubSubDouble) -> None:
    path = pubsub.create_subscription("falco-sub")
    pubsub.denied.add(path)
    run = Run(PubSubReader(opened(), audit_entry_event))
    run.thread.join(30)
    assert isinstance(run.error, InputError), run.error
    assert "falco-sub: permission denied (the credentials need roles/pubsub.subscriber" in str(
        run.error
    )


def test_init_config_and_open_params() -> None:
    got = PubSubOpen.parse("gcpaudit", '{"project_id": "p", "num_goroutines": 2, '
                           '"maxout_stand_messages": 50}', "sub")  # fmt: skip
    assert (got.subscription, got.num_goroutines, got.max_outstanding_messages) == (
        "projects/p/subscriptions/sub", 2, 50)  # fmt: skip
    full = PubSubOpen.parse("gcpaudit", "", "projects/q/subscriptions/s")
    assert full.subscription == "projects/q/subscriptions/s"
    cases = [
        ({"project_id": "p"}, "", r"^gcpaudit open_params: the Pub/Sub subscription ID"),
        ({}, "sub", r"^gcpaudit init_config.project_id: required with the subscription ID"),
        ({"project_id": "p", "num_goroutines": "4"}, "s", r"num_goroutines: expected int"),
        ({"project_id": "p", "bogus": 1}, "s", r"unknown key\(s\) \['bogus'\]"),
        ({"project_id": "p", "credentials_file": "/nonexistent.json"}, "s",
         r"credentials_file '/nonexistent.json': no such file"),
        ({}, "projects/p/topics/t", r"not a subscription"),
    ]  # fmt: skip
    for init, params, message in cases:
        with pytest.raises(ConfigError, match=message):
            PubSubOpen.parse("gcpaudit", init, params)


def test_credentials_file_is_used_and_a_bad_one_named(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lanner.sources.gcp.pubsub import credentials

    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    bad = tmp_path / "key.json"
    bad.write_text('{"type": "service_account"}')
    with pytest.raises(ConfigError, match=r"^gcpaudit init_config.credentials_file '.*key.json'"):
        credentials(opened(credentials_file=str(bad)))
    user = tmp_path / "adc.json"  # gcloud's application default credentials format
    user.write_text('{"type": "authorized_user", "client_id": "c", "client_secret": "s", '
                    '"refresh_token": "r"}')  # fmt: skip
    creds = credentials(opened(credentials_file=str(user)))
    assert creds is not None and creds.client_id == "c"


def test_an_event_counts_as_taken_only_once_the_run_loop_took_it() -> None:
    """The acker's view of the feed (lanner run's queue): a batch queued after the view
    was last read is still waiting, not taken."""
    from lanner.app.gcp_input import QueuedBatches
    from lanner.app.live import LiveFeed

    feed = LiveFeed()
    view = QueuedBatches(feed, fresh=60.0)  # the cached view would be reused for a minute
    first: list[Any] = [("gcp_auditlog", "a")]
    assert feed.put(first)
    probe_first = view.probe(first)
    assert probe_first() is None  # read the queue: it waits
    second: list[Any] = [("gcp_auditlog", "b")]
    assert feed.put(second)
    probe_second = view.probe(second)
    assert probe_second() is None  # queued after that read: read again, not "taken"
    assert feed.queue.get_nowait() is first  # the run loop takes the first
    view._at = -1.0  # the next tick reads the queue again
    assert probe_first() is True and probe_second() is None
    feed.stop()  # stopping with the second still queued: it will be given back
    assert probe_second() is False
