"""Outputs against real servers started on loopback: NATS, Redis, Alertmanager, Prometheus,
rsyslog, InfluxDB, PostgreSQL, an SMTP server (aiosmtpd), and a local file."""

from __future__ import annotations

import asyncio
import json
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import nats
import psycopg
import pytest
import redis
from aiosmtpd.controller import Controller

from lanner.services.sidekick.alert import now_rfc3339

from .helpers import Sidekick, free_port, make_alert, metric_value, wait_until
from .outputs_util import outputs_from_env, send
from .servers import (
    alertmanager,
    influxdb,
    nats_server,
    postgresql,
    prometheus,
    redis_server,
    rsyslog,
)

pytestmark = pytest.mark.servers

ALERT = make_alert()


def test_nats_subjects_and_outage(tmp: Path, sidekicks: list) -> None:
    async def stored(url: str, seq: int) -> tuple[str, str]:
        nc = await nats.connect(url)
        try:
            msg = await nc.jetstream().get_msg("FALCO", seq)
            return msg.subject, json.loads(msg.data)["rule"]
        finally:
            await nc.close()

    async def main() -> None:
        with nats_server(tmp) as (_, port):
            url = f"nats://127.0.0.1:{port}"
            # a stream records what sidekick publishes, whenever it manages to
            nc = await nats.connect(url)
            await nc.jetstream().add_stream(name="FALCO", subjects=["falco.>"])
            sub = await nc.subscribe("falco.>")
            sk = Sidekick(
                tmp, {"nats": {"hostport": url}, "delivery": {"backoff": 0.05, "maxbackoff": 0.3}}
            )
            sidekicks.append(sk)
            alert = make_alert(priority="Critical", rule="Terminal shell in container")
            await asyncio.to_thread(sk.post, alert)
            msg = await sub.next_msg(timeout=15)
            assert msg.subject == "falco.critical.terminal_shell_in_container"
            assert json.loads(msg.data) == alert
            await nc.close()
        # the server is down: alerts are accepted and retried
        for i in range(3):
            response = await asyncio.to_thread(sk.post, make_alert(rule=f"during {i}"))
            assert response.status_code == 200
        with nats_server(tmp, port):
            got = [await wait_for_async(lambda seq=seq: stored(url, seq)) for seq in range(2, 5)]
            assert got == [(f"falco.warning.during_{i}", f"during {i}") for i in range(3)]

    asyncio.run(main())


async def wait_for_async(make: Any, timeout: float = 20.0) -> Any:
    """Await `make()` until it stops raising (the message may not be there yet)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await make()
        except Exception:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.1)


def test_redis_list_and_stream(tmp: Path) -> None:
    with redis_server(tmp) as port:
        addr = f"127.0.0.1:{port}"
        for storage, key in [("list", "falco"), ("stream", "falco-stream"), ("hashmap", "falco-h")]:
            outs = outputs_from_env(
                {"REDIS_ADDRESS": addr, "REDIS_STORAGETYPE": storage, "REDIS_KEY": key}
            )
            send(outs["redis"], ALERT, make_alert(rule="second"))
        client = redis.Redis(host="127.0.0.1", port=port)
        items = [json.loads(x) for x in client.lrange("falco", 0, -1)]
        assert [a["rule"] for a in items] == [ALERT["rule"], "second"]
        assert items[0] == ALERT
        entries = client.xrange("falco-stream")
        assert [e[1][b"rule"] for e in entries] == [ALERT["rule"].encode(), b"second"]
        assert json.loads(entries[0][1][b"alert"]) == ALERT
        assert entries[0][1][b"priority"] == b"Warning"
        assert client.hlen("falco-h") == 2
        client.close()


def test_alertmanager_receives_alert(tmp: Path) -> None:
    with alertmanager(tmp) as url:
        outs = outputs_from_env(
            {
                "ALERTMANAGER_HOSTPORT": url,
                "ALERTMANAGER_EXTRALABELS": "cluster:prod",
                "ALERTMANAGER_EXPIRESAFTER": "600",
            }
        )
        alert = {**make_alert(priority="Critical"), "time": now_rfc3339()}
        send(outs["alertmanager"], alert)
        alerts = wait_until(lambda: httpx.get(url + "/api/v2/alerts").json(), 20, "alert")
        (got,) = alerts
        labels = got["labels"]
        assert labels["alertname"] == ALERT["rule"]
        assert labels["priority"] == "critical" and labels["severity"] == "critical"
        assert labels["cluster"] == "prod" and labels["k8s_pod_name"] == "web-7d4b9"
        assert got["annotations"]["info"] == make_alert(priority="Critical")["output"]
        assert got["startsAt"][:23] == alert["time"][:23]
        assert got["status"]["state"] == "active"


def test_prometheus_scrapes_sidekick(tmp: Path, sidekicks: list) -> None:
    sk = Sidekick(
        tmp,
        {
            "auth": {"token": "scrape-token"},
            "customfields": {"cluster": "prod"},
            "templatedfields": {"team": '{{ or (index . "k8s.ns.name") "none" }}'},
        },
    )
    sidekicks.append(sk)
    headers = {"Authorization": "Bearer scrape-token"}
    for prio in ["Warning", "Warning", "Critical"]:
        assert sk.post(make_alert(priority=prio), headers=headers).status_code == 200
    with prometheus(tmp, sk.port, "scrape-token") as url:
        query = "falcosecurity_falcosidekick_falco_events_total"

        def series() -> list:
            data = httpx.get(url + "/api/v1/query", params={"query": query}).json()
            return data["data"]["result"] if len(data["data"]["result"]) == 2 else []

        result = wait_until(series, 30, "scraped series")
        by_prio = {r["metric"]["priority_raw"]: (r["metric"], float(r["value"][1])) for r in result}
        metric, value = by_prio["warning"]
        assert value == 2 and by_prio["critical"][1] == 1
        assert metric["rule"] == ALERT["rule"] and metric["k8s_ns_name"] == "default"
        assert metric["cluster"] == "prod" and metric["job"] == "sidekick"
        assert metric.get("team") == "default", metric
        assert metric["hostname"] == "node-1"
        # Falcosidekick's priority numbers (types.PriorityType): Warning 4, Critical 6
        assert metric["priority"] == "4" and by_prio["critical"][0]["priority"] == "6"

        def select(expr: str) -> list:
            return httpx.get(url + "/api/v1/query", params={"query": expr}).json()["data"]["result"]

        inputs = select('lanner_sidekick_inputs_total{status="accepted"}')
        assert float(inputs[0]["value"][1]) == 3
        fsk = select('falcosecurity_falcosidekick_inputs_total{source="requests"}')
        assert {r["metric"]["status"]: float(r["value"][1]) for r in fsk} == {"accepted": 3}


def test_rsyslog_tcp_json_and_udp_cef(tmp: Path) -> None:
    with rsyslog(tmp) as (tcp, udp, out):
        outs = outputs_from_env({"SYSLOG_HOST": "127.0.0.1", "SYSLOG_PORT": str(tcp)})
        send(outs["syslog"], ALERT)
        outs = outputs_from_env(
            {
                "SYSLOG_HOST": "127.0.0.1",
                "SYSLOG_PORT": str(udp),
                "SYSLOG_PROTOCOL": "udp",
                "SYSLOG_FORMAT": "cef",
                "SYSLOG_FACILITY": "auth",
            }
        )
        send(outs["syslog"], make_alert(priority="Error", rule="Shell | spawned"))
        lines = wait_until(
            lambda: (
                out.exists()
                and len(out.read_text().splitlines()) >= 2
                and out.read_text().splitlines()
            ),
            20,
            "syslog lines",
        )
        by_pri = {line.split("|", 1)[0]: line for line in lines}
        _, host, app, msgid, msg = by_pri["132"].split("|", 4)  # local0.warning
        assert (host, app, msgid) == ("node-1", "lanner-sidekick", "falco")
        assert json.loads(msg) == ALERT
        cef = by_pri["35"]  # auth.err
        assert "CEF:0|Falcosecurity|Falco|1.0|Falco Event|Shell \\| spawned|7|" in cef
        assert "fd.name=/etc/shadow" in cef


def test_influxdb_line_protocol(tmp: Path) -> None:
    with influxdb(tmp) as url:
        outs = outputs_from_env({"INFLUXDB_HOSTPORT": url})
        send(outs["influxdb"], ALERT, make_alert(priority="Critical", rule="Other rule"))
        q = {"db": "falco", "q": "SELECT * FROM events ORDER BY time"}
        rows = wait_until(
            lambda: httpx.get(url + "/query", params=q).json()["results"][0].get("series"),
            20,
            "points",
        )
        (series,) = rows
        cols = series["columns"]
        points = [dict(zip(cols, v, strict=True)) for v in series["values"]]
        points.sort(key=lambda p: p["rule"])  # same timestamp: separate series
        assert [p["rule"] for p in points] == ["Other rule", ALERT["rule"]]
        assert points[0]["priority"] == "Critical"
        points.reverse()
        assert points[0]["priority"] == "Warning" and points[0]["fd.name"] == "/etc/shadow"
        assert points[0]["value"] == ALERT["output"]
        assert points[0]["time"] == "2023-11-14T16:14:13.012345678Z"


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))  # type: ignore[attr-defined]
        return "250 OK"


def test_smtp_email(tmp: Path) -> None:
    box = _Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        outs = outputs_from_env(
            {
                "SMTP_HOSTPORT": f"127.0.0.1:{controller.port}",
                "SMTP_FROM": "falco@example.org",
                "SMTP_TO": "soc@example.org, oncall@example.org",
            }
        )
        send(outs["smtp"], make_alert(priority="Critical", **{"user.name": "<script>"}))
        wait_until(lambda: box.messages, 20, "email")
        rcpt, msg = box.messages[0]
        assert rcpt == ["soc@example.org", "oncall@example.org"]
        assert msg["Subject"] == f"[Critical] {ALERT['rule']}"
        parts = {
            p.get_content_type(): p.get_payload(decode=True).decode()
            for p in msg.walk()
            if not p.is_multipart()
        }
        assert "user.name: <script>" in parts["text/plain"]
        assert "&lt;script&gt;" in parts["text/html"] and "<script>" not in parts["text/html"]
    finally:
        controller.stop()


def test_file(tmp: Path) -> None:
    """One JSON line per alert in the file (StatsD: test_sidekick_statsd.py)."""
    path = tmp / "alerts.jsonl"
    outs = outputs_from_env({"FILE_PATH": str(path)})
    send(outs["file"], ALERT, make_alert(rule="second"))
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert lines == [ALERT, make_alert(rule="second")]


def test_prometheus_series_in_metrics_text(tmp: Path, sidekicks: list) -> None:
    sk = Sidekick(tmp, {"prometheus": {"extralabels": "proc.name"}})
    sidekicks.append(sk)
    sk.post(make_alert())

    def counted() -> float:
        return metric_value(
            sk.metrics(),
            "falcosecurity_falcosidekick_falco_events_total",
            proc_name="cat",
            priority_raw="warning",
            priority="4",
        )

    # the output counts the alerts gathered over 50 ms at once: the series follows that soon
    wait_until(lambda: counted() == 1, 5, "the alert counted")
    assert counted() == 1


def test_postgresql_rows(tmp: Path) -> None:
    with postgresql(tmp) as url:
        outs = outputs_from_env({"POSTGRESQL_DSN": url, "POSTGRESQL_TABLE": "public.alerts"})
        send(outs["postgresql"], ALERT, make_alert(priority="Critical", rule="second"))
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "SELECT time, rule, priority, priority_num, hostname, tags, output_fields"
                " FROM public.alerts ORDER BY rule"
            ).fetchall()
        assert [r[1] for r in rows] == [ALERT["rule"], "second"]
        when, _, prio, num, host, tags, fields = rows[0]
        assert when.isoformat() == "2023-11-14T16:14:13.012345+00:00"
        assert (prio, num, host) == ("Warning", 3, "node-1")
        assert tags == ALERT["tags"] and fields == ALERT["output_fields"]
        assert rows[1][3] == 5


def test_timescaledb_rows_in_postgresql(tmp: Path) -> None:
    """Falcosidekick's TimescaleDB output against a real PostgreSQL (Debian has no
    TimescaleDB extension, so the table the user would turn into a hypertable stays plain:
    the INSERT is the same)."""
    with postgresql(tmp) as url:
        port = url.rsplit(":", 1)[1].split("/")[0]
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE falcosidekick_events (time timestamptz NOT NULL, rule text,"
                " priority varchar(20), source varchar(20), output text, tags text,"
                " hostname text, cluster text)"
            )
        outs = outputs_from_env(
            {
                "TIMESCALEDB_HOST": "127.0.0.1",
                "TIMESCALEDB_PORT": port,
                "TIMESCALEDB_DATABASE": "postgres",
                "CUSTOMFIELDS": "cluster:prod",
            }
        )
        alert = make_alert(priority="Critical", cluster='"prod"')
        send(outs["timescaledb"], alert, make_alert(rule="second"))
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "SELECT time, rule, priority, source, output, tags, hostname, cluster"
                " FROM falcosidekick_events ORDER BY rule"
            ).fetchall()
        assert [r[1] for r in rows] == [ALERT["rule"], "second"]
        first = rows[0]
        assert first[0].isoformat().startswith("2023-11-14T16:14:13.012345")
        assert first[2] == "Critical" and first[3] == "syscall" and first[6] == "node-1"
        assert first[5] == ",".join(ALERT["tags"]) and first[7] == "prod"
