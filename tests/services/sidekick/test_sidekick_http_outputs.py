"""HTTP outputs against a local receiver: the exact payloads the services' APIs document."""

from __future__ import annotations

import base64
import json

import pytest

from lanner.exceptions import DeliveryError, PermanentError

from .helpers import Receiver, make_alert
from .outputs_util import outputs_from_env, send

ALERT = make_alert()


def only(receiver: Receiver, env: dict[str, str], kind: str, alert: dict | None = None):
    outputs = outputs_from_env(env)
    assert list(outputs) == [kind]
    send(outputs[kind], alert or ALERT)
    (req,) = receiver.wait_for(1)
    return req


def test_slack_incoming_webhook(receiver: Receiver) -> None:
    req = only(
        receiver,
        {
            "SLACK_WEBHOOKURL": receiver.url + "/services/T/B/X",
            "SLACK_CHANNEL": "#sec",
            "SLACK_MESSAGEFORMAT": 'Alert: *{{ .Rule }}* by {{ index .OutputFields "proc.name" }}',
        },
        "slack",
    )
    assert req.path == "/services/T/B/X"
    body = req.json()
    assert set(body) == {"text", "username", "icon_url", "attachments", "channel"}
    assert body["text"] == "Alert: *Read sensitive file untrusted* by cat"
    assert body["channel"] == "#sec"
    (att,) = body["attachments"]
    assert att["fallback"] == ALERT["output"] and att["text"] == ALERT["output"]
    assert att["color"] == "#ffff00"
    assert att["ts"] == 1699978453
    fields = {f["title"]: f["value"] for f in att["fields"]}
    assert fields["rule"] == ALERT["rule"] and fields["priority"] == "Warning"
    assert fields["fd.name"] == "/etc/shadow" and fields["evt.time"] == "1700000053012345678"
    assert all(set(f) == {"title", "value", "short"} for f in att["fields"])


def test_mattermost_and_rocketchat(receivers: list) -> None:
    mm, rc = Receiver(), Receiver()
    receivers += [mm, rc]
    outs = outputs_from_env(
        {
            "MATTERMOST_WEBHOOKURL": mm.url + "/hooks/abc",
            "MATTERMOST_OUTPUTFORMAT": "text",
            "ROCKETCHAT_WEBHOOKURL": rc.url + "/hooks/x/y",
            "ROCKETCHAT_USERNAME": "falco-bot",
        }
    )
    send(outs["mattermost"], ALERT)
    send(outs["rocketchat"], ALERT)
    body = mm.wait_for(1)[0].json()
    assert body["username"] == "Falcosidekick" and body["text"] == ""
    assert body["attachments"][0]["text"] == ALERT["output"]
    assert "fields" not in body["attachments"][0]  # outputformat: text
    body = rc.wait_for(1)[0].json()
    assert set(body) == {"text", "alias", "avatar", "attachments"}
    assert body["alias"] == "falco-bot"
    assert {"title": "priority", "value": "Warning", "short": True} in body["attachments"][0][
        "fields"
    ]


def test_teams_message_card(receiver: Receiver) -> None:
    body = only(receiver, {"TEAMS_WEBHOOKURL": receiver.url}, "teams").json()
    assert body["@type"] == "MessageCard"
    assert body["@context"] == "https://schema.org/extensions"
    assert body["themeColor"] == "ffff00"
    (section,) = body["sections"]
    assert section["text"] == ALERT["output"]
    assert {"name": "k8s.pod.name", "value": "web-7d4b9"} in section["facts"]


def test_teams_adaptive_card(receiver: Receiver) -> None:
    env = {"TEAMS_WEBHOOKURL": receiver.url, "TEAMS_CARDTYPE": "adaptive"}
    body = only(receiver, env, "teams", make_alert(priority="Critical")).json()
    assert body["type"] == "message"
    (att,) = body["attachments"]
    assert att["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = att["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    title, text, facts = card["body"]
    assert title["text"] == f"Critical: {ALERT['rule']}" and title["color"] == "Attention"
    assert text["text"] == make_alert(priority="Critical")["output"]
    assert {"title": "proc.name", "value": "cat"} in facts["facts"]


def test_discord_limits(receiver: Receiver) -> None:
    many = {f"field.{i:02d}": "x" * 2000 for i in range(40)}
    alert = make_alert(priority="Critical", **many)
    alert["output"] = "o" * 5000
    body = only(receiver, {"DISCORD_WEBHOOKURL": receiver.url}, "discord", alert).json()
    (embed,) = body["embeds"]
    assert body["content"] == "Critical: Read sensitive file untrusted"
    assert embed["color"] == 0xFF9000
    assert len(embed["description"]) == 4096
    assert len(embed["fields"]) == 25
    assert max(len(f["value"]) for f in embed["fields"]) == 1024
    assert embed["fields"][0] == {"name": "rule", "value": ALERT["rule"], "inline": True}


def test_google_chat(receiver: Receiver) -> None:
    body = only(receiver, {"GOOGLECHAT_WEBHOOKURL": receiver.url}, "googlechat").json()
    assert body["text"] == ALERT["output"]
    card = body["cardsV2"][0]["card"]
    assert card["header"] == {"title": ALERT["rule"], "subtitle": "Warning"}
    widgets = card["sections"][0]["widgets"]
    assert {"decoratedText": {"topLabel": "proc.name", "text": "cat"}} in widgets


def test_pagerduty_events_v2(receiver: Receiver) -> None:
    env = {"PAGERDUTY_ROUTINGKEY": "R0UT1NG", "PAGERDUTY_APIURL": receiver.url + "/v2/enqueue"}
    req = only(receiver, env, "pagerduty", make_alert(priority="Error"))
    assert req.path == "/v2/enqueue"
    body = req.json()
    assert body["routing_key"] == "R0UT1NG" and body["event_action"] == "trigger"
    payload = body["payload"]
    assert payload["severity"] == "error"
    assert payload["source"] == "node-1" and payload["component"] == "syscall"
    assert payload["summary"] == make_alert(priority="Error")["output"]
    assert payload["timestamp"] == "2023-11-14T16:14:13.012345Z"
    assert payload["custom_details"]["fields"]["fd.name"] == "/etc/shadow"


def test_opsgenie_alert_api(receiver: Receiver) -> None:
    env = {"OPSGENIE_APIKEY": "k-123", "OPSGENIE_APIURL": receiver.url + "/v2/alerts"}
    req = only(receiver, env, "opsgenie", make_alert(priority="Critical", rule="R" * 200))
    assert req.headers["authorization"] == "GenieKey k-123"
    body = req.json()
    assert body["priority"] == "P2"
    assert len(body["message"]) == 130
    assert body["tags"] == ["filesystem", "mitre_credential_access", "T1555"]
    assert body["details"]["k8s.ns.name"] == "default"
    assert body["details"]["evt.time"] == "1700000053012345678"  # details are strings


def test_elasticsearch_and_opensearch(receivers: list) -> None:
    es, os_ = Receiver(status=201), Receiver(status=201)
    receivers += [es, os_]
    outs = outputs_from_env(
        {
            "ELASTICSEARCH_HOSTPORT": es.url,
            "ELASTICSEARCH_USERNAME": "elastic",
            "ELASTICSEARCH_PASSWORD": "pw",
            "OPENSEARCH_HOSTPORT": os_.url,
            "OPENSEARCH_INDEX": "security",
            "OPENSEARCH_SUFFIX": "monthly",
        }
    )
    send(outs["elasticsearch"], ALERT)
    send(outs["opensearch"], ALERT)
    req = es.wait_for(1)[0]
    assert req.path == "/falco-2023.11.14/_doc"
    assert req.headers["authorization"] == "Basic " + base64.b64encode(b"elastic:pw").decode()
    doc = req.json()
    assert doc["@timestamp"] == ALERT["time"] and doc["rule"] == ALERT["rule"]
    assert os_.wait_for(1)[0].path == "/security-2023.11/_doc"


def test_loki_push_api(receiver: Receiver) -> None:
    env = {
        "LOKI_HOSTPORT": receiver.url,
        "LOKI_TENANT": "team-a",
        "LOKI_EXTRALABELS": "k8s.ns.name",
        "CUSTOMFIELDS": "cluster:prod",
    }
    outputs = outputs_from_env(env)
    alert = make_alert(cluster="prod")  # customfields are merged by the enricher
    send(outputs["loki"], alert)
    req = receiver.wait_for(1)[0]
    assert req.path == "/loki/api/v1/push"
    assert req.headers["x-scope-orgid"] == "team-a"
    (stream,) = req.json()["streams"]
    assert stream["stream"] == {
        "rule": ALERT["rule"],
        "priority": "Warning",
        "source": "syscall",
        "hostname": "node-1",
        "tags": "T1555,filesystem,mitre_credential_access",
        "cluster": "prod",
        "k8s_ns_name": "default",
    }
    assert stream["values"] == [["1699978453012345678", ALERT["output"]]]


def test_kafka_rest_proxy(receiver: Receiver) -> None:
    env = {"KAFKAREST_ADDRESS": receiver.url + "/topics/falco"}
    req = only(receiver, env, "kafkarest")
    assert req.path == "/topics/falco"
    assert req.headers["content-type"] == "application/vnd.kafka.binary.v2+json"
    (record,) = req.json()["records"]
    assert json.loads(base64.b64decode(record["value"])) == ALERT


def test_functions_and_webhooks(receivers: list) -> None:
    hook, ce, faas, kl, fn, ui, rsp = (Receiver() for _ in range(7))
    receivers += [hook, ce, faas, kl, fn, ui, rsp]
    outs = outputs_from_env(
        {
            "WEBHOOK_ADDRESS": hook.url + "/x",
            "WEBHOOK_METHOD": "PUT",
            "WEBHOOK_CUSTOMHEADERS": "X-Api-Key:abc",
            "CLOUDEVENTS_ADDRESS": ce.url,
            "CLOUDEVENTS_EXTENSIONS": "team:sec",
            "OPENFAAS_FUNCTIONNAME": "isolate",
            "OPENFAAS_GATEWAYADDRESS": faas.url,
            "KUBELESS_FUNCTION": "isolate",
            "KUBELESS_ADDRESS": kl.url,
            "FUNCTION_ADDRESS": fn.url,
            "LANNERUI_ADDRESS": ui.url,
            "LANNERUI_TOKEN": "ui-token",
            "LANNERRESPOND_ADDRESS": rsp.url,
        }
    )
    for out in outs.values():
        send(out, ALERT)
    req = hook.wait_for(1)[0]
    assert (req.method, req.path, req.headers["x-api-key"]) == ("PUT", "/x", "abc")
    assert req.json() == ALERT
    req = ce.wait_for(1)[0]
    assert (
        req.headers["ce-specversion"] == "1.0" and req.headers["ce-type"] == "falco.rule.output.v1"
    )
    assert req.headers["ce-team"] == "sec" and req.headers["ce-time"] == ALERT["time"]
    assert req.json() == ALERT
    assert faas.wait_for(1)[0].path == "/function/isolate.openfaas-fn"
    req = kl.wait_for(1)[0]
    assert req.headers["event-type"] == "falco" and req.json() == ALERT
    event = fn.wait_for(1)[0].json()
    assert event["data"]["rule"] == ALERT["rule"]
    assert event["data"]["output_fields"]["k8s.pod.name"] == "web-7d4b9"
    assert event["event-type"] == "falco"
    req = ui.wait_for(1)[0]
    assert req.path == "/api/v1/events" and req.headers["authorization"] == "Bearer ui-token"
    assert rsp.wait_for(1)[0].json() == ALERT


def test_client_error_is_permanent(receiver: Receiver) -> None:
    receiver.status = 404
    outs = outputs_from_env({"WEBHOOK_ADDRESS": receiver.url})
    with pytest.raises(PermanentError, match="HTTP 404"):
        send(outs["webhook"], ALERT)


def test_rate_limit_retry_after_is_reported(receiver: Receiver) -> None:
    receiver.fail_next, receiver.fail_status = 1, 429
    receiver.fail_headers = {"Retry-After": "7"}
    outs = outputs_from_env({"SLACK_WEBHOOKURL": receiver.url})
    with pytest.raises(DeliveryError, match="HTTP 429") as info:
        send(outs["slack"], ALERT)
    assert info.value.retry_after == 7
    send(outputs_from_env({"SLACK_WEBHOOKURL": receiver.url})["slack"], ALERT)
    assert len(receiver.wait_for(1)) == 1


def test_influxdb_v2_write_api(receiver: Receiver) -> None:
    receiver.status = 204
    env = {
        "INFLUXDB_HOSTPORT": receiver.url,
        "INFLUXDB_TOKEN": "tok",
        "INFLUXDB_ORGANIZATION": "sec team",
        "INFLUXDB_PRECISION": "ms",
    }
    req = only(receiver, env, "influxdb", make_alert(**{"proc.cmdline": "cat a,b=c"}))
    assert req.path == "/api/v2/write?org=sec+team&bucket=falco&precision=ms"
    assert req.headers["authorization"] == "Token tok"
    assert req.headers["content-type"].startswith("text/plain")
    line = req.body.decode()
    assert line.startswith(
        "events,rule=Read\\ sensitive\\ file\\ untrusted,priority=Warning,source=syscall,"
    )
    assert ",proc.cmdline=cat\\ a\\,b\\=c," in line
    assert line.endswith(f' value="{ALERT["output"]}" 1699978453012')
