"""Falcosidekick's HTTP outputs Lanner added (chat, logs, metrics, web, faas, alerting).

None of these services can run here (SaaS, or not packaged by Debian), so each test is
against a double: a local HTTP receiver, and the assertions check the request against the
service's published API (path, auth header, body fields) and Falcosidekick's payload.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
import uuid
from pathlib import Path

import pytest

from helpers import free_port, wait_until
from lanner.exceptions import ConfigError, DeliveryError, PermanentError
from lanner.services.sidekick.alert import Alert

from .helpers import Receiver, Sidekick, make_alert
from .outputs_util import outputs_from_env, send

ALERT = make_alert()
ALERT_TAGS = sorted(ALERT["tags"])


def only(receiver: Receiver, env: dict[str, str], kind: str, alert: dict | None = None):
    outputs = outputs_from_env(env)
    assert list(outputs) == [kind]
    send(outputs[kind], alert or ALERT)
    (req,) = receiver.wait_for(1)
    return req


def check_event(event: dict) -> None:
    """Falcosidekick's event JSON: Falco's alert plus a UUID."""
    assert str(uuid.UUID(event.pop("uuid"))) and event == ALERT


def test_webex_markdown(receiver: Receiver) -> None:
    req = only(receiver, {"WEBEX_WEBHOOKURL": receiver.url + "/v1/webhooks/incoming/X"}, "webex")
    assert req.path == "/v1/webhooks/incoming/X"
    body = req.json()
    assert list(body) == ["markdown"]
    text = body["markdown"]
    assert text.startswith(f"# Falco Rule '{ALERT['rule']}'\n### {ALERT['output']}\n")
    assert "  * Priority: Warning" in text and "  * Hostname: node-1" in text
    assert "    * fd.name: /etc/shadow" in text and "    * T1555" in text


def test_cliq_message(receiver: Receiver) -> None:
    req = only(
        receiver,
        {
            "CLIQ_WEBHOOKURL": receiver.url + "/api/v2/channelsbyname/sec/message?zapikey=K",
            "CLIQ_USEEMOJI": "true",
            "CLIQ_MESSAGEFORMAT": "Alert: {{ .Rule }}",
        },
        "cliq",
    )
    assert req.path == "/api/v2/channelsbyname/sec/message?zapikey=K"
    body = req.json()
    assert body["text"] == "\U0001f7e1 Alert: " + ALERT["rule"]
    assert body["bot"]["name"] == "Falcosidekick" and body["bot"]["image"].startswith("https://")
    text_slide, table = body["slides"]
    assert text_slide == {"type": "text", "data": ALERT["output"]}
    assert table["type"] == "table" and table["data"]["headers"] == ["field", "value"]
    rows = {r["field"]: r["value"] for r in table["data"]["rows"]}
    assert rows["rule"] == ALERT["rule"] and rows["priority"] == "Warning"
    assert rows["proc.name"] == "cat" and rows["time"] == ALERT["time"]


def test_telegram_send_message(receiver: Receiver) -> None:
    req = only(
        receiver,
        {
            "TELEGRAM_HOST": receiver.url,
            "TELEGRAM_TOKEN": "123:ABC",
            "TELEGRAM_CHATID": "-10042",
            "TELEGRAM_MESSAGETHREADID": "7",
        },
        "telegram",
    )
    assert (
        req.path == "/bot123:ABC/sendMessage"
    )  # Bot API: https://api.telegram.org/bot<token>/<method>
    body = req.json()
    assert body["chat_id"] == "-10042" and body["message_thread_id"] == "7"
    assert body["parse_mode"] == "MarkdownV2" and body["disable_web_page_preview"] is True
    # MarkdownV2: every reserved character outside entities is escaped
    assert body["text"].startswith("*\\[Falco\\] \\[Warning\\] Read sensitive file untrusted*\n")
    assert "*fd\\.name*: /etc/shadow" in body["text"]
    assert "mitre\\_credential\\_access" in body["text"]


def test_telegram_needs_both_keys() -> None:
    with pytest.raises(ConfigError, match=r"telegram\.chatid: telegram needs token and chatid"):
        outputs_from_env({"TELEGRAM_TOKEN": "123:ABC"})


@pytest.mark.parametrize(
    ("fmt", "content_type", "start"),
    [
        ("", "text/markdown", "- **Priority**: Warning\n"),
        ("plaintext", "text/plain", "Priority: Warning\n"),
        ("json", "text/plain", "{"),
    ],
)
def test_gotify_message(receiver: Receiver, fmt: str, content_type: str, start: str) -> None:
    env = {"GOTIFY_HOSTPORT": receiver.url, "GOTIFY_TOKEN": "app-token"}
    if fmt:
        env["GOTIFY_FORMAT"] = fmt
    req = only(receiver, env, "gotify")
    assert req.path == "/message" and req.headers["x-gotify-key"] == "app-token"
    body = req.json()
    assert body["title"] == f"[Falco] [Warning] {ALERT['rule']}"
    assert body["priority"] == 4
    assert body["extras"] == {"client::display": {"contentType": content_type}}
    assert body["message"].startswith(start)
    if fmt == "json":
        check_event(json.loads(body["message"]))


def test_grafana_annotation(receiver: Receiver) -> None:
    req = only(
        receiver,
        {
            "GRAFANA_HOSTPORT": receiver.url,
            "GRAFANA_APIKEY": "glsa_token",
            "GRAFANA_DASHBOARDID": "3",
            "GRAFANA_PANELID": "5",
        },
        "grafana",
    )
    assert req.path == "/api/annotations"
    assert req.headers["authorization"] == "Bearer glsa_token"
    body = req.json()
    assert body["time"] == body["timeEnd"] == 1699978453012
    assert body["dashboardId"] == 3 and body["panelId"] == 5
    assert body["tags"] == ["falco", "Warning", ALERT["rule"], "syscall", "node-1"]
    assert body["text"] == ALERT["output"]


def test_grafana_needs_apikey() -> None:
    with pytest.raises(ConfigError, match=r"grafana\.apikey"):
        outputs_from_env({"GRAFANA_HOSTPORT": "http://grafana:3000"})


def test_grafana_oncall_formatted_webhook(receiver: Receiver) -> None:
    env = {"GRAFANAONCALL_WEBHOOKURL": receiver.url + "/integrations/v1/formatted_webhook/T/"}
    req = only(receiver, env, "grafanaoncall")
    assert req.path == "/integrations/v1/formatted_webhook/T/"
    body = req.json()
    assert set(body) == {"alert_uid", "state", "title", "message"}
    assert body["state"] == "alerting" and body["title"] == f"[Warning] {ALERT['rule']}"
    assert body["message"] == ALERT["output"] and uuid.UUID(body["alert_uid"])


def test_datadog_event(receiver: Receiver) -> None:
    env = {"DATADOG_APIKEY": "dd/key", "DATADOG_HOST": receiver.url}
    req = only(receiver, env, "datadog", make_alert(priority="Critical"))
    assert req.path == "/api/v1/events?api_key=dd%2Fkey"
    body = req.json()
    assert body["title"] == ALERT["rule"] and body["alert_type"] == "error"
    assert body["source_type_name"] == "falco"
    assert "fd.name:/etc/shadow" in body["tags"] and "hostname:node-1" in body["tags"]
    assert body["tags"][-3:] == ALERT_TAGS and "source:falco" in body["tags"]


def test_datadog_logs(receiver: Receiver) -> None:
    env = {"DATADOGLOGS_APIKEY": "k", "DATADOGLOGS_HOST": receiver.url + "/"}
    env["DATADOGLOGS_SERVICE"] = "falco-prod"
    req = only(receiver, env, "datadoglogs")
    assert req.path == "/api/v2/logs" and req.headers["dd-api-key"] == "k"
    body = req.json()
    assert body["ddsource"] == "falco" and body["hostname"] == "node-1"
    assert body["service"] == "falco-prod" and body["ddtags"] == ",".join(ALERT_TAGS)
    check_event(json.loads(body["message"]))


def test_splunk_hec(receiver: Receiver) -> None:
    env = {"SPLUNK_HOST": receiver.url + "/services/collector/event", "SPLUNK_TOKEN": "hec"}
    req = only(receiver, env, "splunk")
    assert req.path == "/services/collector/event"
    assert req.headers["authorization"] == "Splunk hec"
    body = req.json()
    assert body["sourcetype"] == "falcosidekick"
    check_event(body["event"])


def test_sumologic_http_source(receiver: Receiver) -> None:
    env = {
        "SUMOLOGIC_RECEIVERURL": receiver.url + "/receiver/v1/http/TOKEN",
        "SUMOLOGIC_SOURCECATEGORY": "falco",
        "SUMOLOGIC_SOURCEHOST": "k8s-prod",
        "SUMOLOGIC_NAME": "sidekick",
    }
    req = only(receiver, env, "sumologic")
    assert req.path == "/receiver/v1/http/TOKEN"
    assert req.headers["x-sumo-category"] == "falco" and req.headers["x-sumo-host"] == "k8s-prod"
    assert req.headers["x-sumo-name"] == "sidekick"
    check_event(req.json())


def test_zincsearch_and_openobserve(receivers: list) -> None:
    zinc, o2 = Receiver(), Receiver()
    receivers += [zinc, o2]
    outs = outputs_from_env(
        {
            "ZINCSEARCH_HOSTPORT": zinc.url,
            "ZINCSEARCH_USERNAME": "admin",
            "ZINCSEARCH_PASSWORD": "pw",
            "OPENOBSERVE_HOSTPORT": o2.url,
            "OPENOBSERVE_USERNAME": "root@example.com",
            "OPENOBSERVE_PASSWORD": "pw2",
            "OPENOBSERVE_CUSTOMHEADERS": "X-Team:sec",
        }
    )
    send(outs["zincsearch"], ALERT)
    send(outs["openobserve"], ALERT)
    (z,) = zinc.wait_for(1)
    (o,) = o2.wait_for(1)
    assert z.path == "/api/falco/_doc"
    assert z.headers["authorization"] == "Basic " + base64.b64encode(b"admin:pw").decode()
    check_event(z.json())
    assert o.path == "/api/default/falco/_multi" and o.headers["x-team"] == "sec"
    assert (
        o.headers["authorization"] == "Basic " + base64.b64encode(b"root@example.com:pw2").decode()
    )
    check_event(o.json())


def test_quickwit_ingest_and_index_creation(receiver: Receiver) -> None:
    env = {"QUICKWIT_HOSTPORT": receiver.url, "QUICKWIT_AUTOCREATEINDEX": "true"}
    receiver.fail_next, receiver.fail_status = 1, 404  # GET .../describe: no such index
    outs = outputs_from_env(env)
    send(outs["quickwit"], ALERT)
    create, ingest = receiver.wait_for(2)
    assert receiver.attempts == 3  # the describe GET answered 404 first
    assert create.path == "/api/v1/indexes"
    config = create.json()
    assert config["index_id"] == "falco" and config["version"] == "0.7"
    assert config["doc_mapping"]["timestamp_field"] == "time"
    assert ingest.path == "/api/v1/falco/ingest"
    check_event(ingest.json())


def test_dynatrace_log_ingest(receiver: Receiver) -> None:
    env = {"DYNATRACE_APITOKEN": "dt0c01.X", "DYNATRACE_APIURL": receiver.url + "/api/"}
    alert = make_alert(**{"container.id": "abc123", "k8s.pod.id": "uid-1"})
    req = only(receiver, env, "dynatrace", alert)
    assert req.path == "/api/v2/logs/ingest"
    assert req.headers["authorization"] == "Api-Token dt0c01.X"
    assert req.headers["content-type"] == "application/json; charset=utf-8"
    (record,) = req.json()
    assert record["timestamp"] == "2023-11-14T16:14:13Z" and uuid.UUID(record["event.id"])
    assert record["event.name"] == ALERT["rule"] and record["severity"] == "Warning"
    assert record["event.provider"] == "Falco" and record["host.name"] == "node-1"
    assert record["k8s.namespace.name"] == "default" and record["k8s.pod.uid"] == "uid-1"
    assert record["container.id"] == "abc123" and record["process.executable.name"] == "cat"
    assert record["mitre.technique"] == "T1555"
    assert record["mitre.tactic"] == "mitre_credential_access"
    assert record["content"]["output"] == ALERT["output"]


def test_web_event_posts(receivers: list) -> None:
    """Node-RED, n8n, Talon, Tekton: the event JSON, with their authentication."""
    nodered, n8n, talon, tekton = Receiver(), Receiver(), Receiver(), Receiver()
    receivers += [nodered, n8n, talon, tekton]
    outs = outputs_from_env(
        {
            "NODERED_ADDRESS": nodered.url + "/falco",
            "NODERED_USER": "u",
            "NODERED_PASSWORD": "p",
            "N8N_ADDRESS": n8n.url + "/webhook/falco",
            "N8N_HEADERAUTHNAME": "X-N8N-Auth",
            "N8N_HEADERAUTHVALUE": "secret",
            "TALON_ADDRESS": talon.url,
            "TEKTON_EVENTLISTENER": tekton.url + "/el",
        }
    )
    assert sorted(outs) == ["n8n", "nodered", "talon", "tekton"]
    for out in outs.values():
        send(out, ALERT)
    (nr,), (n8,), (ta,), (te,) = (r.wait_for(1) for r in (nodered, n8n, talon, tekton))
    assert nr.path == "/falco"
    assert nr.headers["authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
    assert n8.path == "/webhook/falco" and n8.headers["x-n8n-auth"] == "secret"
    assert "authorization" not in n8.headers
    assert ta.path == "/" and te.path == "/el"
    for req in (nr, n8, ta, te):
        assert req.headers["content-type"] == "application/json"
        check_event(req.json())


def test_webui_event_and_outputs(receiver: Receiver) -> None:
    outs = outputs_from_env(
        {"WEBUI_URL": receiver.url + "/api/v1/", "SLACK_WEBHOOKURL": "http://127.0.0.1:9/x"}
    )
    send(outs["webui"], ALERT)
    (req,) = receiver.wait_for(1)
    assert req.path == "/api/v1/"
    body = req.json()
    assert body["outputs"] == ["slack", "webui"]
    check_event(body["event"])


def test_fission_router(receiver: Receiver) -> None:
    env = {"FISSION_FUNCTION": "falco-handler", "FISSION_ROUTERADDRESS": receiver.url}
    outs = outputs_from_env(env)
    assert (
        outs["fission"].url(Alert.from_dict(ALERT))
        == receiver.url + "/fission-function/falco-handler"
    )
    in_cluster = outputs_from_env({"FISSION_FUNCTION": "f"})["fission"]
    assert in_cluster.url(Alert.from_dict(ALERT)) == (
        "http://router.fission.svc.cluster.local:80/fission-function/f"
    )
    send(outs["fission"], ALERT)
    (req,) = receiver.wait_for(1)
    assert req.path == "/fission-function/falco-handler" and uuid.UUID(req.headers["event-id"])
    check_event(req.json())


class LineServer:
    """A TCP server that records lines (Logstash's `tcp` input with `json_lines`)."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as stream:
                self.lines.extend(stream)

    def close(self) -> None:
        self.sock.close()


def test_logstash_json_lines() -> None:
    server = LineServer()
    try:
        env = {
            "LOGSTASH_ADDRESS": "127.0.0.1",
            "LOGSTASH_PORT": str(server.port),
            "LOGSTASH_TAGS": "k8s,prod",
        }
        alert = make_alert(**{"proc.aname[2]": "bash"})
        send(outputs_from_env(env)["logstash"], alert, make_alert(rule="second"))
        wait_until(lambda: len(server.lines) == 2, 10, "two lines")
        first = json.loads(server.lines[0])
        assert server.lines[0].endswith(b"\n")
        assert first["output_fields"]["proc.aname.2"] == "bash"
        assert "proc.aname[2]" not in first["output_fields"]
        assert first["tags"] == [*ALERT["tags"], "k8s", "prod"]
        assert json.loads(server.lines[1])["rule"] == "second"
    finally:
        server.close()


HTTP_ENVS = {
    "webex": {"WEBEX_WEBHOOKURL": "{url}/x"},
    "cliq": {"CLIQ_WEBHOOKURL": "{url}/x"},
    "telegram": {"TELEGRAM_HOST": "{url}", "TELEGRAM_TOKEN": "t", "TELEGRAM_CHATID": "1"},
    "gotify": {"GOTIFY_HOSTPORT": "{url}"},
    "grafana": {"GRAFANA_HOSTPORT": "{url}", "GRAFANA_APIKEY": "k"},
    "grafanaoncall": {"GRAFANAONCALL_WEBHOOKURL": "{url}/x"},
    "datadog": {"DATADOG_APIKEY": "k", "DATADOG_HOST": "{url}"},
    "datadoglogs": {"DATADOGLOGS_APIKEY": "k", "DATADOGLOGS_HOST": "{url}"},
    "splunk": {"SPLUNK_HOST": "{url}/services/collector/event"},
    "sumologic": {"SUMOLOGIC_RECEIVERURL": "{url}/r"},
    "zincsearch": {"ZINCSEARCH_HOSTPORT": "{url}"},
    "openobserve": {"OPENOBSERVE_HOSTPORT": "{url}"},
    "quickwit": {"QUICKWIT_HOSTPORT": "{url}"},
    "dynatrace": {"DYNATRACE_APITOKEN": "k", "DYNATRACE_APIURL": "{url}"},
    "nodered": {"NODERED_ADDRESS": "{url}"},
    "n8n": {"N8N_ADDRESS": "{url}"},
    "talon": {"TALON_ADDRESS": "{url}"},
    "tekton": {"TEKTON_EVENTLISTENER": "{url}"},
    "webui": {"WEBUI_URL": "{url}"},
    "fission": {"FISSION_FUNCTION": "f", "FISSION_ROUTERADDRESS": "{url}"},
    "wavefront": {"WAVEFRONT_ENDPOINTTYPE": "direct", "WAVEFRONT_ENDPOINTHOST": "{url}"},
}


@pytest.mark.parametrize("kind", sorted(HTTP_ENVS))
def test_outage_is_retried_and_refusal_is_not(receiver: Receiver, kind: str) -> None:
    """Target down or answering 503/429: DeliveryError (the worker retries); 400:
    PermanentError (dropped and counted); then up again: delivered."""
    down = f"http://127.0.0.1:{free_port()}"

    def output(url: str):
        env = {k: v.format(url=url) for k, v in HTTP_ENVS[kind].items()}
        return outputs_from_env(env)[kind]

    async def attempt(url: str) -> None:
        out = output(url)
        try:
            await out.send(Alert.from_dict(ALERT))
        finally:
            await out.close()

    with pytest.raises(DeliveryError) as info:
        asyncio.run(attempt(down))
    assert not isinstance(info.value, PermanentError)
    receiver.fail_next, receiver.fail_status = 1, 503
    with pytest.raises(DeliveryError) as info:
        asyncio.run(attempt(receiver.url))
    assert not isinstance(info.value, PermanentError)
    receiver.fail_next, receiver.fail_status = 1, 400
    with pytest.raises(PermanentError):
        asyncio.run(attempt(receiver.url))
    asyncio.run(attempt(receiver.url))
    assert len(receiver.wait_for(1)) == 1


def test_sidekick_delivers_through_an_outage(tmp: Path, sidekicks: list) -> None:
    """A running sidekick with the WebUI output: the UI answers 503 for a while; every
    accepted alert arrives once it is back, none lost (at-least-once)."""
    ui = Receiver(fail_next=6, fail_status=503)
    try:
        sk = Sidekick(
            tmp,
            {
                "webui": {"url": ui.url + "/api/v1/"},
                "delivery": {"backoff": 0.05, "maxbackoff": 0.2},
            },
        )
        sidekicks.append(sk)
        for i in range(5):
            assert sk.post(make_alert(rule=f"rule {i}")).status_code == 200
        got = ui.wait_for(5, timeout=30)
        assert [r.json()["event"]["rule"] for r in got] == [f"rule {i}" for i in range(5)]
        assert ui.attempts >= 11
    finally:
        ui.close()


def _otlp_env(url: str, timeout_ms: int = 2000) -> dict[str, str]:
    return {
        "OTLP_TRACES_ENDPOINT": url + "/v1/traces",
        "OTLP_TRACES_HEADERS": "x-scope=sec,authorization=Bearer t",
        "OTLP_TRACES_DURATION": "250",
        "OTLP_TRACES_TIMEOUT": str(timeout_ms),
        "OTLP_LOGS_ENDPOINT": url + "/v1/logs",
        "OTLP_LOGS_TIMEOUT": str(timeout_ms),
    }


def test_otlp_traces_and_logs_over_http(receiver: Receiver) -> None:
    """OTLP/HTTP (protobuf) as the OpenTelemetry protocol specifies it, decoded with the
    official proto classes: a span per alert, a log record per alert."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from lanner.services.sidekick.outputs.otlp import fnv1a_128

    assert fnv1a_128(b"a") == 0xD228CB696F1A8CAF78912B704E4A8964  # FNV-1a 128 test vector
    outs = outputs_from_env(_otlp_env(receiver.url))
    assert sorted(outs) == ["otlplogs", "otlptraces"]
    send(outs["otlptraces"], ALERT)
    send(outs["otlplogs"], ALERT)
    traces, logs = receiver.wait_for(2)
    assert (
        traces.path == "/v1/traces" and traces.headers["content-type"] == "application/x-protobuf"
    )
    assert traces.headers["x-scope"] == "sec" and traces.headers["authorization"] == "Bearer t"
    (rs,) = ExportTraceServiceRequest.FromString(traces.body).resource_spans
    resource = {a.key: a.value.string_value for a in rs.resource.attributes}
    assert resource["service.name"] == "falco"
    (span,) = rs.scope_spans[0].spans
    assert span.name == ALERT["rule"] and span.kind == span.SPAN_KIND_SERVER
    assert span.start_time_unix_nano == 1699978453012345678
    assert span.end_time_unix_nano - span.start_time_unix_nano == 250_000_000
    # Falcosidekick's trace id: FNV-1a 128 of "<k8s.ns.name>:<k8s.pod.name>"
    assert span.trace_id == fnv1a_128(b"default:web-7d4b9").to_bytes(16, "big")
    attrs = {a.key: a.value for a in span.attributes}
    assert (
        attrs["priority"].string_value == "Warning" and attrs["rule"].string_value == ALERT["rule"]
    )
    assert attrs["fd.name"].string_value == "/etc/shadow"
    assert attrs["evt.time"].string_value == "1700000053012345678"
    assert [v.string_value for v in attrs["tags"].array_value.values] == ALERT["tags"]
    assert uuid.UUID(attrs["uuid"].string_value)
    assert [e.name for e in span.events] == [ALERT["output"]]
    assert logs.path == "/v1/logs"
    (rl,) = ExportLogsServiceRequest.FromString(logs.body).resource_logs
    (record,) = rl.scope_logs[0].log_records
    assert record.body.string_value == ALERT["output"]
    assert record.time_unix_nano == 1699978453012345678 and record.severity_text == "INFO"
    rattrs = {a.key: a.value.string_value for a in record.attributes}
    assert rattrs["rule"] == ALERT["rule"] and rattrs["tags"] == ",".join(ALERT["tags"])


def test_otlp_traces_over_grpc() -> None:
    """OTLP/gRPC against an in-process gRPC server implementing the collector's
    TraceService (the official proto service definition): a double of a collector."""
    from concurrent import futures

    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    got: list = []

    class Collector(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request, context):
            got.append((request, dict(context.invocation_metadata())))
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Collector(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        env = {
            "OTLP_TRACES_ENDPOINT": f"127.0.0.1:{port}",
            "OTLP_TRACES_PROTOCOL": "grpc",
            "OTLP_TRACES_HEADERS": "x-scope=sec",
        }
        send(outputs_from_env(env)["otlptraces"], ALERT)
        wait_until(lambda: got, 20, "an export")
        request, metadata = got[0]
        assert metadata["x-scope"] == "sec"
        (span,) = request.resource_spans[0].scope_spans[0].spans
        assert span.name == ALERT["rule"]
    finally:
        server.stop(0)


def test_otlp_outage_is_retried(receiver: Receiver) -> None:
    """Collector down, or answering 503: the export fails and DeliveryError asks the worker
    to retry; once it is back the same span (same ids) goes through."""
    down = f"http://127.0.0.1:{free_port()}"

    async def attempt(url: str) -> None:
        out = outputs_from_env(_otlp_env(url, 500))["otlptraces"]
        try:
            await out.send(Alert.from_dict(ALERT))
        finally:
            await out.close()

    with pytest.raises(DeliveryError):
        asyncio.run(attempt(down))
    receiver.fail_next, receiver.fail_status = 50, 503
    with pytest.raises(DeliveryError):
        asyncio.run(attempt(receiver.url))
    receiver.fail_next = 0
    asyncio.run(attempt(receiver.url))
    asyncio.run(attempt(receiver.url))
    first, second = receiver.wait_for(2)
    assert first.body == second.body  # a retry exports the very same span


def test_otlp_metrics_counter(receiver: Receiver) -> None:
    """OTLP/HTTP metrics, decoded with the official protos: the cumulative counter
    falcosecurity_falco_rules_matches_total with Falcosidekick's attributes."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )

    env = {
        "OTLP_METRICS_ENDPOINT": receiver.url + "/v1/metrics",
        "OTLP_METRICS_EXTRAATTRIBUTES": "fd.name",
        "CUSTOMFIELDS": "cluster:prod",
    }
    send(outputs_from_env(env)["otlpmetrics"], ALERT, ALERT, make_alert(priority="Critical"))
    (req,) = receiver.wait_for(1)  # shutdown flushes what was counted
    assert req.path == "/v1/metrics"
    request = ExportMetricsServiceRequest.FromString(req.body)
    (metric,) = request.resource_metrics[0].scope_metrics[0].metrics
    assert metric.name == "falcosecurity_falco_rules_matches_total"
    assert metric.sum.is_monotonic
    points = {}
    for point in metric.sum.data_points:
        attrs = {a.key: a.value for a in point.attributes}
        points[attrs["priority"].string_value] = (point.as_int, attrs)
    assert points["Warning"][0] == 2 and points["Critical"][0] == 1
    attrs = points["Warning"][1]
    assert (
        attrs["rule"].string_value == ALERT["rule"] and attrs["hostname"].string_value == "node-1"
    )
    assert (
        attrs["cluster"].string_value == "prod" and attrs["fd_name"].string_value == "/etc/shadow"
    )
    assert [v.string_value for v in attrs["tags"].array_value.values] == ALERT["tags"]


def test_spyderbat_source_and_record(receiver: Receiver) -> None:
    """The Spyderbat API double: the sources list is empty, so the output creates its
    source, then posts the gzip NDJSON record."""
    import gzip

    receiver.reply = b"[]"
    env = {"SPYDERBAT_ORGUID": "org1", "SPYDERBAT_APIKEY": "key", "SPYDERBAT_APIURL": receiver.url}
    alert = make_alert(
        **{"proc.pid": 4242, "proc.cmdline": "cat /etc/shadow", "container.id": "c1"}
    )
    send(outputs_from_env(env)["spyderbat"], alert)
    lookup, create, data = receiver.wait_for(3)
    assert lookup.method == "GET" and lookup.headers["authorization"] == "Bearer key"
    assert create.path == "/api/v1/org/org1/source/"
    assert create.json() == {
        "name": "falcosidekick",
        "description": "",
        "uid": "falcosidekick_org1",
    }
    assert data.path == "/api/v1/org/org1/source/falcosidekick_org1/data/sb-agent"
    assert data.headers["authorization"] == "Bearer key"
    assert data.headers["content-encoding"] == "gzip"
    assert data.headers["content-type"] == "application/ndjson"
    (line,) = gzip.decompress(data.body).splitlines()
    record = json.loads(line)
    assert record["schema"] == "falco_alert::1.0.0" and record["pid"] == 4242
    assert record["time"] == 1700000053.0 and record["level"] == "medium"
    assert record["args"] == "cat /etc/shadow" and record["container"] == "c1"
    assert record["msg"][:2] == ["Sensitive", "file"]


def test_spyderbat_refuses_an_alert_without_pid() -> None:
    env = {"SPYDERBAT_ORGUID": "o", "SPYDERBAT_APIURL": "http://127.0.0.1:9"}
    out = outputs_from_env(env)["spyderbat"]
    with pytest.raises(PermanentError, match=r"proc\.pid"):
        out.body(Alert.from_dict(ALERT))


def test_wavefront_proxy_and_direct(receiver: Receiver) -> None:
    """Wavefront's data format (`<metric> <value> <timestamp> source=<source> <tags>`): to
    a TCP line server standing for the proxy, and to the direct ingestion API double
    (`POST /report?f=wavefront`, Bearer token, gzip)."""
    import gzip

    server = LineServer()
    try:
        env = {
            "WAVEFRONT_ENDPOINTTYPE": "proxy",
            "WAVEFRONT_ENDPOINTHOST": "127.0.0.1",
            "WAVEFRONT_ENDPOINTMETRICPORT": str(server.port),
        }
        alert = make_alert(**{"proc.aname[2]": "bash"})
        send(outputs_from_env(env)["wavefront"], alert)
        wait_until(lambda: server.lines, 10, "a line")
        line = server.lines[0].decode()
        assert line.startswith('"falco.alert" 1.0 1699978453012345678 source="falco-exporter" ')
        assert '"severity"="Warning"' in line and '"rule"="Read sensitive file untrusted"' in line
        assert '"fd.name"="/etc/shadow"' in line and '"proc.aname_2_"="bash"' in line
    finally:
        server.close()
    env = {
        "WAVEFRONT_ENDPOINTTYPE": "direct",
        "WAVEFRONT_ENDPOINTHOST": receiver.url,
        "WAVEFRONT_ENDPOINTTOKEN": "wf-token",
    }
    send(outputs_from_env(env)["wavefront"], ALERT)
    (req,) = receiver.wait_for(1)
    assert req.path == "/report?f=wavefront"
    assert req.headers["authorization"] == "Bearer wf-token"
    assert req.headers["content-encoding"] == "gzip"
    assert gzip.decompress(req.body).decode().startswith('"falco.alert" 1.0 1699978453012345678')


def test_wavefront_needs_a_type() -> None:
    with pytest.raises(ConfigError, match=r"wavefront\.endpointtype"):
        outputs_from_env({"WAVEFRONT_ENDPOINTHOST": "wavefront.example"})


def test_gcp_chronicle_import(receivers: list) -> None:
    """Chronicle API double: a service-account key whose token_uri is a local OAuth token
    endpoint double (google-auth signs a JWT with the key and exchanges it), then the
    logs:import request with the access token."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    token_server, api = Receiver(), Receiver()
    receivers += [token_server, api]
    token_server.reply = (
        b'{"access_token": "ya29.test", "expires_in": 3600, "token_type": "Bearer"}'
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    account = {
        "type": "service_account",
        "project_id": "p1",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "sidekick@p1.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_server.url + "/token",
    }
    env = {
        "GCP_CREDENTIALS": base64.b64encode(json.dumps(account).encode()).decode(),
        "GCP_CHRONICLE_PROJECTID": "p1",
        "GCP_CHRONICLE_REGION": "europe-west1",
        "GCP_CHRONICLE_INSTANCEID": "inst-1",
        "GCP_CHRONICLE_APIURL": api.url,
    }
    send(outputs_from_env(env)["gcpchronicle"], ALERT)
    (token_req,) = token_server.wait_for(1)
    assert token_req.path == "/token" and b"grant_type=urn" in token_req.body
    (req,) = api.wait_for(1)
    assert req.path == (
        "/v1beta/projects/p1/locations/europe-west1/instances/inst-1/logTypes/FALCO_IDS/logs:import"
    )
    assert req.headers["authorization"] == "Bearer ya29.test"
    (log,) = req.json()["inlineSource"]["logs"]
    assert (
        log["logEntryTime"] == "2023-11-14T16:14:13Z"
        and log["collectionTime"] > log["logEntryTime"]
    )
    check_event(json.loads(base64.b64decode(log["data"])))


def test_gcp_chronicle_names_are_checked() -> None:
    env = {"GCP_CHRONICLE_PROJECTID": "p1", "GCP_CHRONICLE_REGION": "eu/../x"}
    with pytest.raises(ConfigError, match=r"gcp\.chronicle\.region"):
        outputs_from_env({**env, "GCP_CHRONICLE_INSTANCEID": "i"})
