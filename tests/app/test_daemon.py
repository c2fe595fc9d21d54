"""The live daemon: hot reload while events flow, SIGHUP, follow mode, web server, stats."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import httpx
import yaml

from lanner.app.config import load_config
from lanner.app.daemon import Daemon, RunOptions
from lanner.app.inputs import json_line_sources

from .helpers import (
    LANNER,
    ROOT,
    LineCollector,
    LiveLanner,
    free_port,
    open_event,
    seq_rules,
    wait_until,
)
from .servers import Receiver

BROKEN = "- rule: Version three\n  desc: x\n  condition: evt.type = = open\n  output: x\n  priority: WARNING\n"  # noqa: E501


def write_config(tmp_path: Path, rules: Path, **extra: object) -> Path:
    doc = {
        "rules_files": [str(rules)],
        "json_output": True,
        "watch_config_files": True,
        "log_level": "info",
        "stdout_output": {"enabled": True},
    }
    for key, value in extra.items():
        doc[key] = value
    path = tmp_path / "lanner.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def alerts(lines: list[bytes]) -> list[dict]:
    return [json.loads(ln) for ln in lines if ln.startswith(b"{")]


def tags(lines: list[bytes]) -> list[str]:
    return [a["output"].split(": ", 1)[1].split(" ")[1] for a in alerts(lines)]


class Feeder:
    """Sends numbered events to a live lanner until stopped."""

    def __init__(self, proc: LiveLanner, pause: float = 0.005) -> None:
        self.proc, self.pause, self.sent = proc, pause, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sent += 1
            self.proc.send(open_event(self.sent))
            time.sleep(self.pause)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(10)
        return self.sent


def test_hot_reload_while_events_flow_loses_nothing(tmp_path: Path, live: list) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(seq_rules("Version one", "v1"))
    proc = LiveLanner("-c", str(write_config(tmp_path, rules)))
    live.append(proc)
    feeder = Feeder(proc)
    wait_until(lambda: tags(proc.out.snapshot()).count("v1") >= 20, what="v1 alerts")

    rules.write_text(seq_rules("Version two", "v2"))  # an edit: the new rule takes over
    wait_until(lambda: "v2" in tags(proc.out.snapshot()), what="v2 alerts after the edit")

    rules.write_text(BROKEN)  # a broken edit: rejected, the running rules stay
    wait_until(lambda: b"rules rejected" in proc.err.text().encode(), what="rejection")
    after = len(alerts(proc.out.snapshot()))
    wait_until(lambda: len(alerts(proc.out.snapshot())) >= after + 20, what="alerts after")

    sent = feeder.stop()
    assert proc.finish() == 0
    got = alerts(proc.out.snapshot())
    seqs = [int(a["output_fields"]["test.seq"]) for a in got]
    assert seqs == list(range(1, sent + 1))  # every event, once, in order
    kinds = tags(proc.out.snapshot())
    switch = kinds.index("v2")
    assert set(kinds[:switch]) == {"v1"} and set(kinds[switch:]) == {"v2"}
    err = proc.err.text()
    assert "reload (file change): 1 rules loaded" in err
    assert "evt.type = = open" in err or "Invalid" in err  # why the edit was refused
    assert f"Events detected: {sent}" in proc.out.text()


def test_sighup_reloads_rules_and_config_outputs(tmp_path: Path, live: list) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(seq_rules("Version one", "v1"))
    config = write_config(tmp_path, rules, watch_config_files=False)
    proc = LiveLanner("-c", str(config))
    live.append(proc)
    proc.send(open_event(1))
    wait_until(lambda: tags(proc.out.snapshot()) == ["v1"])
    # new rules and a new output, applied by SIGHUP
    rules.write_text(seq_rules("Version two", "v2"))
    sink = tmp_path / "alerts.txt"
    config = write_config(
        tmp_path,
        rules,
        watch_config_files=False,
        file_output={"enabled": True, "keep_alive": True, "filename": str(sink)},
    )
    proc.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "reload (SIGHUP)" in proc.err.text(), what="SIGHUP reload")
    proc.send(open_event(2))
    wait_until(lambda: tags(proc.out.snapshot()) == ["v1", "v2"])
    assert proc.finish() == 0
    assert json.loads(sink.read_text())["output_fields"]["test.seq"] == "2"


def test_follow_mode_reads_appends_and_rotations_then_stops_on_sigterm(tmp_path: Path) -> None:
    import subprocess

    rules = tmp_path / "rules.yaml"
    rules.write_text(seq_rules("Version one", "v1"))
    events = tmp_path / "events.jsonl"
    events.write_bytes(open_event(1) + b"\n")
    proc = subprocess.Popen(
        [*LANNER, "-r", str(rules), "-e", str(events), "--follow", "-o", "json_output=true"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        out = LineCollector(proc.stdout)  # type: ignore[arg-type]
        wait_until(lambda: len(alerts(out.snapshot())) == 1, what="first alert")
        with events.open("ab") as fh:  # appended later, in two pieces
            fh.write(open_event(2)[:10])
            fh.flush()
            time.sleep(0.3)
            fh.write(open_event(2)[10:] + b"\n")
        wait_until(lambda: len(alerts(out.snapshot())) == 2, what="appended event")
        os.rename(events, tmp_path / "events.jsonl.1")
        events.write_bytes(open_event(3) + b"\n" + open_event(4) + b"\n")
        wait_until(lambda: len(alerts(out.snapshot())) == 4, what="events after rotation")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        out.join()
        seqs = [a["output_fields"]["test.seq"] for a in alerts(out.snapshot())]
        assert seqs == ["1", "2", "3", "4"]
        assert b"Events detected: 4" in b"\n".join(out.snapshot())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_webserver_health_versions_metrics_and_stats_snapshot(tmp_path: Path, live: list) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(seq_rules("Version one", "v1"))
    port = free_port()
    stats_file = tmp_path / "stats.jsonl"
    config = write_config(
        tmp_path,
        rules,
        webserver={"enabled": True, "listen_port": port, "listen_address": "127.0.0.1",
                   "k8s_healthz_endpoint": "/health"},
        metrics={"enabled": True, "interval": "200ms", "output_file": str(stats_file)},
    )  # fmt: skip
    proc = LiveLanner("-c", str(config))
    live.append(proc)
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: httpx.get(base + "/health").json() == {"status": "ok"}, what="healthz")
    versions = httpx.get(base + "/versions").json()
    assert versions["rules_loaded"] == 1 and "lanner_version" in versions
    # Falco's keys, which falcoctl's follow reads to check artifact requirements
    assert versions["engine_version_semver"].startswith("0.")
    assert versions["engine_version"] == versions["engine_version_semver"].split(".")[1]
    for n in range(1, 6):
        proc.send(open_event(n))
    wait_until(
        lambda: 'lanner_events_total{source="syscall"} 5.0' in httpx.get(base + "/metrics").text
    )
    text = httpx.get(base + "/metrics").text
    assert 'lanner_alerts_total{priority="Warning",rule="Version one",source="syscall"} 5.0' in text
    assert 'lanner_output_queue_depth{output="stdout"}' in text
    assert "lanner_memory_rss_bytes" in text and "lanner_cpu_seconds_total" in text
    assert "lanner_rules_load_seconds" in text
    snap = wait_until(
        lambda: [a for a in alerts(proc.out.snapshot())
                 if a["rule"] == "Falco internal: metrics snapshot"
                 and a["output_fields"]["falco.num_evts"] == 5],
        what="metrics snapshot alert",
    )[0]  # fmt: skip
    assert snap["priority"] == "Informational" and snap["source"] == "internal"
    assert snap["output_fields"]["falco.rules.Version one"] == 5
    assert snap["output_fields"]["falco.memory_rss_mb"] > 0
    assert proc.finish() == 0
    # Falco's metrics.output_file line: the fields and the sample's number
    first = json.loads(stats_file.read_text().splitlines()[0])
    assert list(first) == ["output_fields", "sample"] and first["sample"] == 1


def test_k8s_audit_webhook_feeds_the_engine(tmp_path: Path, live: list) -> None:
    rules = tmp_path / "k8s.yaml"
    rules.write_text(
        "- rule: Exec into pod\n  desc: exec\n  source: k8s_audit\n  priority: NOTICE\n"
        "  condition: ka.verb = create and ka.target.subresource = exec\n"
        '  output: "exec into %ka.target.name by %ka.user.name"\n'
    )
    audit_port, web_port = free_port(), free_port()
    config = write_config(
        tmp_path,
        rules,
        load_plugins=["k8saudit"],
        plugins=[{"name": "k8saudit", "open_params": f"http://127.0.0.1:{audit_port}/audit"}],
        webserver={"enabled": True, "listen_port": web_port, "listen_address": "127.0.0.1"},
    )
    proc = LiveLanner("-c", str(config))
    live.append(proc)
    event = {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": "1",
        "stage": "ResponseComplete", "verb": "create", "user": {"username": "mallory"},
        "requestURI": "/api/v1/namespaces/default/pods/web/exec?command=sh",
        "objectRef": {"resource": "pods", "namespace": "default", "name": "web",
                      "subresource": "exec", "apiVersion": "v1"},
        "stageTimestamp": "2026-11-25T10:00:00.000000Z",
    }  # fmt: skip
    url = f"http://127.0.0.1:{audit_port}/audit"
    wait_until(lambda: httpx.post(url, json=event).status_code == 200, what="audit webhook")
    # the same endpoint on the web server
    web = f"http://127.0.0.1:{web_port}/k8s-audit"
    wait_until(lambda: httpx.get(f"http://127.0.0.1:{web_port}/healthz").status_code == 200)
    assert httpx.post(web, json={"kind": "EventList", "items": [event]}).json()["accepted"] == 1
    assert httpx.post(web, json={"kind": "Pod"}).status_code == 400
    wait_until(lambda: len(alerts(proc.out.snapshot())) == 2, what="audit alerts")
    got = alerts(proc.out.snapshot())
    assert {a["source"] for a in got} == {"k8s_audit"}
    assert got[0]["output"].endswith("exec into web by mallory")
    # with the webhook, the end of stdin does not end the run: a signal does
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.finish() == 0
    assert "Events detected: 2" in proc.out.text()


def test_a_dead_output_never_stalls_detection(tmp_path: Path) -> None:
    """An HTTP endpoint that hangs: the run still ends (the full queue holds the loop about
    a second, then alerts spill to disk), and once it answers every alert is delivered."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(seq_rules("Version one", "v1"))
    sink = tmp_path / "alerts.txt"
    receiver = Receiver(hang=threading.Event())
    cfg = load_config(
        None,
        [
            f"rules_files=[{rules}]",
            "stdout_output.enabled=false",
            "outputs_queue.capacity=100",
            "file_output.enabled=true",
            f"file_output.filename={sink}",
            "file_output.keep_alive=true",
            "http_output.enabled=true",
            f"http_output.url={receiver.url}",
        ],
    )
    daemon = Daemon(cfg, RunOptions(live=True), json_line_sources())
    assert daemon.load().successful
    daemon.start()
    try:
        import orjson

        events = (("syscall", orjson.loads(open_event(n))) for n in range(1, 6001))
        t0 = time.monotonic()
        daemon.run(events)  # returns although the HTTP endpoint is stuck
        assert time.monotonic() - t0 < 30
        assert daemon.stats.outputs["http"].spilled >= 6000 - 100 - 1
        assert daemon.stats.outputs["http"].dropped == 0
        receiver.hang.set()  # type: ignore[union-attr]
        http_out = next(o for o in daemon.outputs.outputs if o.name == "http")
        wait_until(lambda: http_out.depth == 0, timeout=120, what="the spill written back")
    finally:
        receiver.hang.set()  # type: ignore[union-attr]
        daemon.shutdown()
        receiver.close()
    assert daemon.stats.alerts[("Version one", "Warning", "syscall")] == 6000
    for name in ("http", "file"):
        o = daemon.stats.outputs[name]
        assert (o.sent, o.dropped, o.errors) == (6000, 0, 0), name
    assert len(sink.read_text().splitlines()) == 6000
    assert len(receiver.accepted()) == 6000


def test_webserver_over_tls(tmp_path: Path, live: list) -> None:
    import ssl

    from .servers import make_certs

    certs = make_certs(tmp_path)
    rules = tmp_path / "rules.yaml"
    rules.write_text(seq_rules("Version one", "v1"))
    port = free_port()
    config = write_config(
        tmp_path,
        rules,
        webserver={"enabled": True, "listen_port": port, "listen_address": "127.0.0.1",
                   "ssl_enabled": True, "ssl_certificate": str(certs.server_pem)},
    )  # fmt: skip
    proc = LiveLanner("-c", str(config))
    live.append(proc)
    ctx = ssl.create_default_context(cafile=str(certs.ca))
    url = f"https://127.0.0.1:{port}"
    wait_until(lambda: httpx.get(url + "/healthz", verify=ctx).json() == {"status": "ok"})
    assert "lanner_rules_loaded 1.0" in httpx.get(url + "/metrics", verify=ctx).text
    assert proc.finish() == 0


def test_load_plugins_choose_the_sources(tmp_path: Path) -> None:
    from .helpers import run_lanner

    rules = tmp_path / "audit.yaml"
    rules.write_text(
        "- rule: Audit create\n  desc: x\n  source: k8s_audit\n  priority: NOTICE\n"
        "  condition: ka.verb = create\n  output: created by %ka.user.name\n"
    )
    events = tmp_path / "events.jsonl"
    events.write_text('{"source": "k8s_audit", "ka.verb": "create", "ka.user.name": "bob"}\n')
    res = run_lanner("-r", str(rules), "-e", str(events))  # every built-in source
    assert b"Events detected: 1" in res.stdout
    res = run_lanner("-r", str(rules), "-e", str(events), "-o", "load_plugins=[k8saudit, json]")
    assert b"Events detected: 1" in res.stdout
    res = run_lanner("-r", str(rules), "-e", str(events), "-o", "load_plugins=[cloudtrail, x]")
    assert b"Events detected: 0" in res.stdout
    assert b"no equivalent of plugin 'x'" in res.stderr


def test_a_broken_config_edit_is_rejected_with_its_key_path(tmp_path: Path, live: list) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(seq_rules("Version one", "v1"))
    config = write_config(tmp_path, rules, watch_config_files=False)
    proc = LiveLanner("-c", str(config))
    live.append(proc)
    proc.send(open_event(1))
    wait_until(lambda: tags(proc.out.snapshot()) == ["v1"])
    config.write_text(config.read_text() + "http_output:\n  max_retries: lots\n")
    proc.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "configuration rejected" in proc.err.text(), what="rejection")
    assert "http_output.max_retries: expected an integer, got 'lots'" in proc.err.text()
    proc.send(open_event(2))
    wait_until(lambda: tags(proc.out.snapshot()) == ["v1", "v1"], what="old config alerts")
    assert proc.finish() == 0


def test_sigusr1_restarts_the_program_output(tmp_path: Path, live: list) -> None:
    from .test_outputs import RECORDER

    rules = tmp_path / "rules.yaml"
    rules.write_text(seq_rules("Version one", "v1"))
    received = tmp_path / "received.txt"
    program = {"enabled": True, "keep_alive": True, "program": RECORDER.format(out=received)}
    config = write_config(tmp_path, rules, program_output=program)
    proc = LiveLanner("-c", str(config))
    live.append(proc)

    def lines() -> list[str]:
        return received.read_text().splitlines() if received.exists() else []

    proc.send(open_event(1))
    wait_until(lambda: len(lines()) == 1, what="first alert through the program")
    proc.proc.send_signal(signal.SIGUSR1)
    proc.send(open_event(2))
    wait_until(lambda: len(lines()) == 2, what="second alert through the program")
    assert proc.finish() == 0
    pids = [ln.split(" ", 1)[0] for ln in lines()]
    assert pids[0] != pids[1]  # a new process after SIGUSR1


def test_syscall_event_drops_actions_like_falco(tmp_path: Path, live: list) -> None:
    """simulate_drops (Falco's test switch) makes every second a drop: log and alert,
    limited by the token bucket; the exit action stops Lanner with status 1."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(seq_rules("Version one", "v1"))
    drops = {"simulate_drops": True, "actions": ["log", "alert"], "rate": 100, "max_burst": 1}
    proc = LiveLanner("-c", str(write_config(tmp_path, rules, syscall_event_drops=drops)))
    live.append(proc)
    got = wait_until(
        lambda: [a for a in alerts(proc.out.snapshot())
                 if a["rule"] == "Falco internal: syscall event drop"],
        what="the drop alert",
    )[0]  # fmt: skip
    # Falco's internal message: source internal, no tags, the counts as strings
    assert got["priority"] == "Debug" and got["source"] == "internal" and "tags" not in got
    assert int(got["output_fields"]["n_drops"]) >= 1 and got["output_fields"]["ebpf_enabled"]
    assert "system calls dropped in last second" in proc.err.text()
    assert proc.finish() == 0

    drops = {"simulate_drops": True, "actions": ["exit"]}
    proc = LiveLanner("-c", str(write_config(tmp_path, rules, syscall_event_drops=drops)))
    live.append(proc)
    assert proc.proc.wait(30) == 1  # stdin still open: the drop ended the run
    assert "exiting: syscall event drops" in b"\n".join(proc.err.snapshot()).decode()


def test_sigterm_with_stdin_open_flushes_and_exits_0(tmp_path: Path, live: list) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(seq_rules("Version one", "v1"))
    sink = tmp_path / "alerts.txt"
    proc = LiveLanner(
        "-r", str(rules), "-o", "file_output.enabled=true", "-o", f"file_output.filename={sink}"
    )
    live.append(proc)
    for n in range(1, 4):
        proc.send(open_event(n))
    wait_until(lambda: len(alerts(proc.out.snapshot())) == 0 and len(proc.out.snapshot()) == 3)
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.proc.wait(30) == 0  # stdin is still open
    proc.out.join()
    assert "Events detected: 3" in proc.out.text()
    assert len(sink.read_text().splitlines()) == 3


def test_an_event_or_alert_that_raises_never_stops_the_loop(tmp_path: Path) -> None:
    """Issue 18 item 1: an exception from one event (evaluation) or one alert (outputs) is
    counted, logged once per kind, exported on /metrics, and the next events still alert."""
    import orjson
    from prometheus_client import generate_latest

    from lanner.app.prometheus import registry_for

    rules = tmp_path / "rules.yaml"
    rules.write_text(seq_rules("Version one", "v1"))
    sink = tmp_path / "alerts.txt"
    cfg = load_config(
        None,
        [
            f"rules_files=[{rules}]",
            "stdout_output.enabled=false",
            "json_output=true",
            "file_output.enabled=true",
            f"file_output.filename={sink}",
            "file_output.keep_alive=true",
        ],
    )
    daemon = Daemon(cfg, RunOptions(live=True), json_line_sources())
    assert daemon.load().successful
    daemon.start()
    try:
        assert daemon.outputs is not None
        real_emit = daemon.outputs.emit
        calls = {"n": 0}

        def emit_failing_once(alert: object) -> None:
            calls["n"] += 1
            if calls["n"] == 2:
                raise UnicodeEncodeError("utf-8", "\udcff", 0, 1, "surrogates not allowed")
            real_emit(alert)  # type: ignore[arg-type]

        daemon.outputs.emit = emit_failing_once  # type: ignore[method-assign]
        events = [
            ("syscall", orjson.loads(open_event(1))),
            ("syscall", ["not", "an", "event"]),  # the rule's condition raises on it
            ("syscall", orjson.loads(open_event(2))),  # its output raises
            ("syscall", orjson.loads(open_event(3))),
        ]
        daemon.run(iter(events))
    finally:
        daemon.shutdown()
    assert daemon.stats.events["syscall"] == 4
    # the malformed event made the rule's condition raise: counted for that rule
    assert daemon.stats.rule_errors[("Version one", "condition")] == 1
    assert daemon.stats.event_errors[("syscall", "output")] == 1
    seqs = [json.loads(line)["output_fields"]["test.seq"] for line in sink.read_text().splitlines()]
    assert seqs == ["1", "3"]
    text = generate_latest(registry_for(daemon.stats)).decode()
    assert 'lanner_event_errors_total{source="syscall",stage="output"} 1.0' in text
    assert 'lanner_rule_errors_total{rule="Version one",stage="condition"} 1.0' in text
