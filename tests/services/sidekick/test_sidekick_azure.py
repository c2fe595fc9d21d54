"""The Azure Event Hubs output through Microsoft's client (azure-eventhub) against a DOUBLE of
an Event Hubs namespace (tests/helpers/eventhubs_double.py: AMQP 1.0 with CBS tokens and the
$management node, on Qpid Proton; no Event Hubs server can run here), with an outage."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

from helpers.eventhubs_double import EventHubsDouble
from lanner.exceptions import ConfigError, DeliveryError
from lanner.services.sidekick.config import load_config
from lanner.services.sidekick.outputs.azure import namespace_host

from .cloud_util import event
from .helpers import Receiver, Sidekick, make_alert, wait_until
from .outputs_util import outputs_from_env, send

pytestmark = pytest.mark.servers


@pytest.fixture
def hub() -> Iterator[EventHubsDouble]:
    double = EventHubsDouble(hub="falco", partitions=2)
    yield double
    double.close()


def test_alerts_reach_the_hub_as_falcosidekick_sends_them(
    tmp: Path, sidekicks: list, hub: EventHubsDouble
) -> None:
    """`lanner sidekick` with Falcosidekick's section (+ Lanner's connection string): each
    alert posted is one event whose body is the event JSON Falcosidekick sends (with its
    uuid); minimumpriority filters; the token was checked and the hub's properties read."""
    sk = Sidekick(
        tmp,
        {"azure": {"eventhub": {"name": "falco", "minimumpriority": "warning"}}},
        env={"AZURE_EVENTHUB_CONNECTIONSTRING": hub.connection_string()},
    )
    sidekicks.append(sk)
    alerts = [make_alert(rule=f"r{i}", priority="Critical") for i in range(3)]
    for alert in alerts:
        assert sk.post(alert).status_code == 200
    assert sk.post(make_alert(rule="quiet", priority="Notice")).status_code == 200
    bodies = hub.wait_bodies(3)
    received = sorted((event(json.loads(b)) for b in bodies), key=lambda a: a["rule"])
    assert received == alerts
    assert all(status == 202 for _, status in hub.store.tokens)
    assert any(aud.endswith(f":{hub.port}/falco") for aud, _ in hub.store.tokens)
    wait_until(
        lambda: re.search(
            r'falcosecurity_falcosidekick_outputs_total\{destination="azureeventhub",'
            r'status="ok"\} 3\.0',
            sk.metrics(),
        ),
        10,
        "3 ok deliveries on /metrics",
    )
    assert "quiet" not in b"".join(hub.bodies()).decode()


def test_wrong_key_is_refused_and_retried(hub: EventHubsDouble) -> None:
    """A token signed with the wrong key gets the service's 401: the delivery fails (to be
    retried) and nothing is stored."""
    out = outputs_from_env(
        {"AZURE_EVENTHUB_NAME": "falco",
         "AZURE_EVENTHUB_CONNECTIONSTRING": hub.connection_string(key="d3Jvbmc=")}
    )["azureeventhub"]  # fmt: skip
    with pytest.raises(DeliveryError, match="azureeventhub"):
        send(out, make_alert())
    assert hub.bodies() == []
    assert [status for _, status in hub.store.tokens] and all(
        status == 401 for _, status in hub.store.tokens
    )


def test_outage_none_lost(tmp: Path, sidekicks: list, hub: EventHubsDouble) -> None:
    """The namespace is unreachable for a while (connections cut, port refused): alerts are
    accepted, retried, and each reaches the hub once it is back."""
    sk = Sidekick(
        tmp,
        {"azure": {"eventhub": {"name": "falco"}},
         "delivery": {"backoff": 0.1, "maxbackoff": 0.5}},
        env={"AZURE_EVENTHUB_CONNECTIONSTRING": hub.connection_string()},
    )  # fmt: skip
    sidekicks.append(sk)
    assert sk.post(make_alert(rule="before")).status_code == 200
    hub.wait_bodies(1)
    hub.down()
    for i in range(3):
        assert sk.post(make_alert(rule=f"during {i}")).status_code == 200
    wait_until(
        lambda: re.search(r'destination="azureeventhub",status="error"\} [1-9]', sk.metrics()),
        30,
        "a failed attempt during the outage",
    )
    hub.up()
    bodies = hub.wait_bodies(4, timeout=60)
    rules = {json.loads(b)["rule"] for b in bodies}
    assert rules == {"before", "during 0", "during 1", "during 2"}
    assert not re.search(r'destination="azureeventhub"[^}]*status="dropped"\} [1-9]', sk.metrics())


def test_config() -> None:
    base = {"PROMETHEUS_DISABLED": "true"}
    with pytest.raises(ConfigError, match=r"^azure\.eventhub\.namespace: required"):
        load_config(None, {**base, "AZURE_EVENTHUB_NAME": "falco"})
    with pytest.raises(ConfigError, match=r"^azure\.eventhub\.connectionstring: not an Event"):
        load_config(None, {**base, "AZURE_EVENTHUB_NAME": "falco",
                           "AZURE_EVENTHUB_CONNECTIONSTRING": "Endpoint=nowhere"})  # fmt: skip
    with pytest.raises(ConfigError, match=r"AZURE_EVENTHUB_NAMESPAC"):
        load_config(None, {**base, "AZURE_EVENTHUB_NAMESPAC": "x"})
    (out,) = load_config(
        None, {**base, "AZURE_EVENTHUB_NAME": "falco", "AZURE_EVENTHUB_NAMESPACE": "myns"}
    ).outputs
    assert (out.kind, out.settings["name"]) == ("azureeventhub", "falco")
    assert namespace_host("myns") == "myns.servicebus.windows.net"
    assert namespace_host("a.servicebus.windows.net") == "a.servicebus.windows.net"
    # no name: the output stays off, as in Falcosidekick
    assert load_config(None, {**base, "AZURE_EVENTHUB_NAMESPACE": "myns"}).outputs == []


def test_falcosidekick_config_with_azure_default_credential(tmp: Path, sidekicks: list) -> None:
    """Falcosidekick's own configuration (name + namespace, no connection string): the
    client takes a token from Azure's default credential chain, here its managed identity
    (App Service's identity endpoint, a receiver on loopback: IDENTITY_ENDPOINT and
    IDENTITY_HEADER), asks it for Event Hubs' scope, and presents it on $cbs over TLS
    (AMQPS with the namespace's certificate checked against tlsclient.cacertfile); Lanner's
    `endpoint` points the connection at the double, the token's audience stays the
    namespace (`falco-ns` -> falco-ns.servicebus.windows.net)."""
    token = "eyJ0eXAiOiJKV1QifQ.managed-identity-token.sig"
    identity = Receiver(
        reply=json.dumps({"access_token": token, "token_type": "Bearer",
                          "expires_on": str(int(time.time()) + 3600),
                          "resource": "https://eventhubs.azure.net"}).encode()
    )  # fmt: skip
    hub = EventHubsDouble(hub="falco", partitions=1, tls=True)
    hub.jwt_tokens.add(token)
    try:
        sk = Sidekick(
            tmp,
            {"azure": {"eventhub": {"name": "falco", "namespace": "falco-ns",
                                    "endpoint": hub.namespace}},
             "tlsclient": {"cacertfile": hub.ca_file}},
            env={"IDENTITY_ENDPOINT": identity.url + "/msi/token",
                 "IDENTITY_HEADER": "identity-secret"},
        )  # fmt: skip
        sidekicks.append(sk)
        alert = make_alert(rule="through managed identity")
        assert sk.post(alert).status_code == 200
        (body,) = hub.wait_bodies(1)
        assert event(json.loads(body)) == alert
        assert ("jwt", 202) in {(kind, status) for kind, status in hub.store.token_kinds}
        assert any("falco-ns.servicebus.windows.net/falco" in aud for aud, _ in hub.store.tokens)
        request = identity.requests[0]
        assert request.headers["x-identity-header"] == "identity-secret"
        assert "resource=https://eventhubs.azure.net" in unquote(request.path), request.path
    finally:
        hub.close()
        identity.close()
