"""Each output for real: syslog socket, program, file rotation, HTTP(S) with retries."""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from lanner.app.outputs.base import Message, Output
from lanner.app.outputs.file import FileOutput
from lanner.app.outputs.http import HttpOutput, HttpSettings
from lanner.app.outputs.program import ProgramOutput
from lanner.app.outputs.syslog import SyslogOutput
from lanner.app.ratelimit import TokenBucket
from lanner.engine.priority import Priority

from .helpers import FALCO_RULES, QUICKSTART, run_lanner, wait_until
from .servers import Receiver, make_certs, server_context


def msg(n: int, priority: Priority = Priority.WARNING, text: str = "") -> Message:
    line = text or f"12:00:00.000000000: {priority.label} alert number {n}"
    return Message(line.encode(), priority, "Test rule", "syscall", False)


def json_msg(n: int) -> Message:
    doc = {"output": f"alert {n}", "priority": "Warning", "rule": "Test rule", "n": n}
    return Message(orjson.dumps(doc), Priority.WARNING, "Test rule", "syscall", True)


@pytest.fixture
def syslog_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "log")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(20)
    yield sock, path
    sock.close()


# -- syslog ---------------------------------------------------------------------------------

HEADER = re.compile(rb"^<(\d+)>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d lanner\[(\d+)\]: (.*)$")


def test_syslog_severity_is_the_rule_priority_and_facility_is_user(syslog_socket) -> None:
    sock, path = syslog_socket
    out = SyslogOutput(address=path)
    out.start()
    out.send(msg(1, Priority.WARNING))
    out.send(msg(2, Priority.CRITICAL))
    out.send(msg(3, Priority.DEBUG))
    got = [HEADER.match(sock.recv(65536)) for _ in range(3)]
    out.close()
    assert all(got)
    assert [int(m[1]) for m in got] == [8 + 4, 8 + 2, 8 + 7]  # LOG_USER | severity
    assert int(got[0][2]) == os.getpid()
    assert got[0][3] == b"12:00:00.000000000: Warning alert number 1"
    assert out.stats.sent == 3 and out.stats.errors == 0


def test_syslog_facility_ident_and_reconnect_after_a_syslog_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "log")
    first = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    first.bind(path)
    first.settimeout(20)
    out = SyslogOutput(address=path, facility="local3", ident="edge")
    out.start()
    out.send(msg(1, Priority.ERROR))
    data = first.recv(65536)
    assert data.startswith(b"<%d>" % (19 * 8 + 3)) and b" edge[" in data
    # the syslog daemon restarts: its socket is replaced
    first.close()
    os.unlink(path)
    second = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    second.bind(path)
    second.settimeout(20)
    out.send(msg(2, Priority.ERROR))
    assert second.recv(65536).endswith(b"alert number 2")
    out.close()
    second.close()
    assert out.stats.errors == 0


def test_syslog_from_lanner_run(syslog_socket) -> None:
    sock, path = syslog_socket
    res = run_lanner(
        "-r", str(FALCO_RULES), "-e", str(QUICKSTART), "-o", "stdout_output.enabled=false",
        "-o", "syslog_output.enabled=true", "-o", f"syslog_output.address={path}",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    got = [HEADER.match(sock.recv(65536)) for _ in range(3)]
    assert [int(m[1]) for m in got] == [13, 12, 12]  # Notice, Warning, Warning
    assert b"Sensitive file opened for reading" in got[1][3]
    assert b"Events detected: 3" in res.stdout


# -- program --------------------------------------------------------------------------------

# each line the program reads is appended with the pid of the process that read it
RECORDER = 'sh -c \'while IFS= read -r l; do printf "%s %s\\n" $$ "$l" >> "$0"; done\' {out}'


@pytest.mark.parametrize("keep_alive", [True, False])
def test_program_output_writes_each_alert_to_the_program(tmp_path: Path, keep_alive: bool) -> None:
    target = tmp_path / "received.txt"
    marker = tmp_path / "pwned"
    out = ProgramOutput(RECORDER.format(out=target), keep_alive=keep_alive)
    out.start()
    hostile = f"alert $(touch {marker}) `touch {marker}`; touch {marker}"
    for n in range(3):
        out.send(msg(n))
    out.send(msg(3, text=hostile))
    out.close()
    lines = target.read_text().splitlines()
    assert [ln.split(" ", 1)[1] for ln in lines] == [
        "12:00:00.000000000: Warning alert number 0",
        "12:00:00.000000000: Warning alert number 1",
        "12:00:00.000000000: Warning alert number 2",
        hostile,
    ]
    pids = {ln.split(" ", 1)[0] for ln in lines}
    assert len(pids) == (1 if keep_alive else 4)
    assert not marker.exists()  # alert data only ever reached stdin
    assert out.stats.errors == 0


def test_program_argv_is_the_config_string_split_without_a_shell() -> None:
    out = ProgramOutput("logger -t 'lanner alerts' --id=$$")
    assert out.argv == ["logger", "-t", "lanner alerts", "--id=$$"]
    with pytest.raises(ValueError):
        ProgramOutput("   ")


def test_program_restarted_when_it_exits(tmp_path: Path) -> None:
    target = tmp_path / "received.txt"
    # reads one line, records it, exits: keep_alive must start it again for the next
    once = f'sh -c \'IFS= read -r l; printf "%s\\n" "$l" >> "$0"\' {target}'
    out = ProgramOutput(once, keep_alive=True)
    out.start()
    for n in range(3):
        out.send(msg(n))
        wait_until(lambda n=n: target.exists() and len(target.read_text().splitlines()) > n)
    out.close()
    assert len(target.read_text().splitlines()) == 3


# -- file -----------------------------------------------------------------------------------


@pytest.mark.parametrize("keep_alive", [True, False])
def test_file_output_survives_logrotate_rename(tmp_path: Path, keep_alive: bool) -> None:
    path = tmp_path / "events.txt"
    out = FileOutput(str(path), keep_alive=keep_alive)
    out.start()
    for n in range(3):
        out.send(msg(n))
    wait_until(lambda: out.stats.sent == 3)
    os.rename(path, tmp_path / "events.txt.1")  # what logrotate does (no copytruncate)
    for n in range(3, 5):
        out.send(msg(n))
    out.close()
    rotated = (tmp_path / "events.txt.1").read_text().splitlines()
    fresh = path.read_text().splitlines()
    assert [ln.rsplit(" ", 1)[1] for ln in rotated] == ["0", "1", "2"]
    assert [ln.rsplit(" ", 1)[1] for ln in fresh] == ["3", "4"]


def test_file_output_appends_and_reopens_on_request(tmp_path: Path) -> None:
    path = tmp_path / "events.txt"
    path.write_text("existing line\n")
    out = FileOutput(str(path), keep_alive=True, buffered=True)
    out.start()
    out.send(msg(1))
    wait_until(lambda: out.stats.sent == 1)
    os.rename(path, tmp_path / "old.txt")
    out.request_reopen()  # SIGUSR1
    out.send(msg(2))
    out.close()
    assert (tmp_path / "old.txt").read_text().splitlines()[0] == "existing line"
    assert path.read_text().endswith("alert number 2\n")


# -- http -----------------------------------------------------------------------------------


def settings(url: str, **kw: object) -> HttpSettings:
    return HttpSettings(url=url, retry_backoff=0.05, timeout=10, **kw)  # type: ignore[arg-type]


def test_http_retries_until_accepted_and_loses_nothing() -> None:
    receiver = Receiver(fail_first=3)
    try:
        out = HttpOutput(settings(receiver.url, headers={"X-Token": "abc"}))
        out.start()
        for n in range(5):
            out.send(json_msg(n))
        out.close()
        statuses = [r.status for r in receiver.requests]
        assert statuses == [503, 503, 503, 200, 200, 200, 200, 200]
        assert [orjson.loads(r.body)["n"] for r in receiver.accepted()] == [0, 1, 2, 3, 4]
        assert out.stats.retries == 3 and out.stats.sent == 5 and out.stats.errors == 0
        first = receiver.requests[0].headers
        assert first["Content-Type"] == "application/json"
        assert first["User-Agent"] == "falcosecurity/falco" and first["X-Token"] == "abc"
    finally:
        receiver.close()


def test_http_gzip_text_and_a_refusal_that_is_not_retried() -> None:
    receiver = Receiver(fail_first=1, fail_status=400)
    try:
        out = HttpOutput(settings(receiver.url, compress_uploads=True, keep_alive=False))
        out.start()
        out.send(msg(1))
        out.send(msg(2))
        out.close()
        assert [r.status for r in receiver.requests] == [400, 200]
        assert receiver.requests[1].body == b"12:00:00.000000000: Warning alert number 2"
        assert receiver.requests[1].headers["Content-Encoding"] == "gzip"
        assert receiver.requests[1].headers["Content-Type"] == "text/plain"
        assert receiver.requests[1].headers["Connection"] == "close"
        assert out.stats.errors == 1 and out.stats.retries == 0
    finally:
        receiver.close()


def test_http_gives_up_after_max_retries_and_counts_the_error() -> None:
    receiver = Receiver(fail_first=100)
    try:
        out = HttpOutput(settings(receiver.url, max_retries=2))
        out.start()
        out.send(json_msg(1))
        out.close()
        assert len(receiver.requests) == 3
        assert out.stats.errors == 1 and out.stats.retries == 2 and out.stats.sent == 0
    finally:
        receiver.close()


def test_https_with_ca_and_client_certificate(tmp_path: Path) -> None:
    certs = make_certs(tmp_path)
    receiver = Receiver(tls=server_context(certs, require_client=True))
    try:
        good = HttpOutput(settings(receiver.url, ca_cert=str(certs.ca), mtls=True,
                                   client_cert=str(certs.client_cert),
                                   client_key=str(certs.client_key)))  # fmt: skip
        good.start()
        good.send(json_msg(1))
        good.close()
        assert good.stats.sent == 1 and receiver.requests[0].client_cert
        # without the CA the server is not trusted: an error, no request reaches it
        untrusted = HttpOutput(settings(receiver.url, ca_path="", max_retries=0))
        untrusted.start()
        untrusted.send(json_msg(2))
        untrusted.close()
        assert untrusted.stats.errors == 1 and len(receiver.requests) == 1
    finally:
        receiver.close()


def test_https_insecure_skips_verification(tmp_path: Path) -> None:
    certs = make_certs(tmp_path)
    receiver = Receiver(tls=server_context(certs))
    try:
        out = HttpOutput(settings(receiver.url, insecure=True, ca_path=""))
        out.start()
        out.send(json_msg(1))
        out.close()
        assert out.stats.sent == 1 and len(receiver.accepted()) == 1
    finally:
        receiver.close()


def test_http_from_lanner_run_posts_falco_json(tmp_path: Path) -> None:
    receiver = Receiver(fail_first=2)
    try:
        res = run_lanner(
            "-r", str(FALCO_RULES), "-e", str(QUICKSTART), "-o", "json_output=true",
            "-o", "http_output.enabled=true", "-o", f"http_output.url={receiver.url}",
            "-o", "http_output.retry_backoff=50ms",
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        alerts = [orjson.loads(r.body) for r in receiver.accepted()]
        assert [a["rule"] for a in alerts] == [
            "Terminal shell in container",
            "Read sensitive file untrusted",
            "Netcat Remote Code Execution in Container",
        ]
        assert {"hostname", "output", "output_fields", "priority", "time"} <= set(alerts[0])
    finally:
        receiver.close()


# -- queues and throttling ------------------------------------------------------------------


class Stuck(Output):
    """An output whose writes wait until released."""

    name = "stuck"

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.release = threading.Event()
        self.written: list[bytes] = []

    def write(self, m: Message) -> None:
        self.release.wait(30)
        self.written.append(m.line)


def capture_logs(name: str) -> tuple[list[logging.LogRecord], logging.Handler]:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger(name).addHandler(handler)
    return records, handler


def test_a_stuck_output_holds_the_producer_briefly_then_spills_in_order(tmp_path: Path) -> None:
    records, handler = capture_logs("lanner.outputs")
    try:
        out = Stuck(capacity=3, max_wait=0.2, spill_dir=str(tmp_path))
        out.start()
        t0 = time.monotonic()
        accepted = [out.send(msg(n)) for n in range(50)]
        held = time.monotonic() - t0
        assert accepted == [True] * 50  # nothing refused, nothing dropped
        assert 0.2 <= held < 5  # one bounded wait, then every later alert spills at once
        assert out.stats.dropped == 0 and out.stats.spilled >= 50 - 4
        assert out.depth >= 49
        assert any("spilling alerts to disk" in r.getMessage() for r in records)
        out.release.set()
        out.close()
        expected = [f"12:00:00.000000000: Warning alert number {n}".encode() for n in range(50)]
        assert out.written == expected  # all of them, in order
        assert out.spill.count == 0
    finally:
        logging.getLogger("lanner.outputs").removeHandler(handler)


def test_the_spill_gives_back_every_message_byte_for_byte(tmp_path: Path) -> None:
    from lanner.app.outputs.base import Spill

    spill = Spill(str(tmp_path), 10**7)
    msgs = [
        Message(b"line \xff\x00 %d" % n, Priority(n % 8), "r\udcff\u00e9", "k8s_audit", n % 2 == 1)
        for n in range(1000)
    ]
    assert [spill.put(m) for m in msgs[:2]] == [True, False]  # started, then already active
    for m in msgs[2:]:
        spill.put(m)
    got: list[Message] = []
    while batch := spill.take():
        got.extend(batch)
    assert got == msgs
    assert (spill.active, spill.count) == (False, 0)
    assert spill.put(msgs[0]) is True  # drained: the next put starts a new spill


def test_a_full_spill_loses_alerts_counted_and_logged(tmp_path: Path) -> None:
    records, handler = capture_logs("lanner.outputs")
    try:
        out = Stuck(capacity=2, max_wait=0.05, spill_dir=str(tmp_path), spill_max_bytes=1000)
        out.start()
        accepted = [out.send(msg(n)) for n in range(40)]
        lost = accepted.count(False)
        assert lost == out.stats.dropped > 0
        assert any("alert LOST" in r.getMessage() for r in records)
        out.release.set()
        out.close()
        assert len(out.written) == 40 - lost
        assert out.stats.sent + out.stats.dropped == 40
    finally:
        logging.getLogger("lanner.outputs").removeHandler(handler)


def test_close_with_a_dead_output_ends_and_reports_what_was_lost(tmp_path: Path) -> None:
    records, handler = capture_logs("lanner.outputs")
    try:
        out = Stuck(capacity=2, max_wait=0.05, spill_dir=str(tmp_path))
        out.start()
        for n in range(20):
            out.send(msg(n))
        t0 = time.monotonic()
        out.close(timeout=0.5)  # the writer never returns: close must not hang
        assert time.monotonic() - t0 < 5
        assert out.stats.sent + out.stats.dropped == 20
        assert any("undelivered, LOST" in r.getMessage() for r in records)
    finally:
        out.release.set()
        logging.getLogger("lanner.outputs").removeHandler(handler)


SLOW_READER = """
import sys, time
out = open(sys.argv[1], "ab", buffering=0)
for n, line in enumerate(sys.stdin.buffer, 1):
    out.write(line)
    if n % 20000 == 0:
        time.sleep(1.5)  # stalls longer than outputs_queue.max_wait: the queue spills
"""


def test_a_60k_alert_burst_through_a_slow_output_loses_nothing(tmp_path: Path) -> None:
    """The burst that lost 76 % of its alerts at the 10 k queue: every alert arrives."""
    total = 65_000
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "- rule: Every open\n  desc: matches every event\n  condition: evt.type = open\n"
        "  output: seq=%test.seq\n  priority: WARNING\n"
    )
    reader = tmp_path / "slow_reader.py"
    reader.write_text(SLOW_READER)
    received = tmp_path / "received.txt"
    config = tmp_path / "lanner.yaml"
    config.write_text(
        orjson.dumps(
            {
                "rules_files": [str(rules)],
                "watch_config_files": False,
                "stdout_output": {"enabled": False},
                "program_output": {
                    "enabled": True,
                    "keep_alive": True,
                    "program": f"{sys.executable} {reader} {received}",
                },
                "outputs_queue": {"capacity": 10000, "spill_dir": str(tmp_path)},
            }
        ).decode()
    )
    events = b"".join(
        b'{"evt.type": "open", "test.seq": "%d", "evt.time": %d}\n' % (n, n)
        for n in range(1, total + 1)
    )
    result = run_lanner("-c", str(config), "-e", "-", stdin=events, timeout=300)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert f"Events detected: {total}".encode() in result.stdout
    lines = received.read_bytes().splitlines()
    assert len(lines) == total
    assert [int(ln.rsplit(b"seq=", 1)[1]) for ln in lines] == list(range(1, total + 1))
    assert b"LOST" not in result.stderr
    assert b"spilling alerts to disk" in result.stderr  # the stall was long enough to spill


def test_token_bucket_like_falco() -> None:
    bucket = TokenBucket(rate=1, max_burst=3)
    bucket.last = 100.0
    assert [bucket.claim(100.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.claim(100.5) is False
    assert bucket.claim(101.0) is True  # one token a second
    assert [bucket.claim(1000.0) for _ in range(4)] == [True, True, True, False]
    assert all(TokenBucket(0, 0).claim() for _ in range(100))  # rate 0: off


def test_rate_limit_from_lanner_run(tmp_path: Path) -> None:
    res = run_lanner(
        "-r", str(FALCO_RULES), "-e", str(QUICKSTART), "-o", "outputs.rate=0.001",
        "-o", "outputs.max_burst=2",
    )  # fmt: skip
    alerts = res.stdout.split(b"Events detected")[0].splitlines()
    assert len(alerts) == 2
    assert b"Events detected: 3" in res.stdout  # throttling is about outputs, not detection
