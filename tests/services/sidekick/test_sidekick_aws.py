"""The AWS outputs driven through boto3 against moto's AWS API server on loopback (moto
implements the services' wire APIs; nothing leaves the machine), plus an outage."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from lanner.exceptions import ConfigError
from lanner.services.sidekick.alert import Alert, now_rfc3339
from lanner.services.sidekick.config import load_config

from .cloud_util import AWS_ENV, Relay, event, moto_server
from .helpers import Sidekick, make_alert, metric_value, wait_until
from .outputs_util import outputs_from_env, send

pytestmark = pytest.mark.servers


@pytest.fixture
def moto(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto on loopback; boto3 in this process (and sidekick's outputs) pointed at it."""
    with moto_server(tmp) as url:
        for key, value in {**AWS_ENV, "AWS_DEFAULT_REGION": "us-east-1"}.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        yield url


def client(service: str, url: str) -> Any:
    return boto3.client(service, endpoint_url=url, region_name="us-east-1")


def fresh_alert(**kwargs: Any) -> dict[str, Any]:
    """An alert stamped now (CloudWatch Logs refuses events older than 14 days)."""
    return {**make_alert(**kwargs), "time": now_rfc3339()}


def test_sqs_sns_kinesis_messages(moto: str) -> None:
    sqs = client("sqs", moto)
    queue = sqs.create_queue(QueueName="falco")["QueueUrl"]
    # an SNS topic delivering to a queue, where the test reads what the topic got
    sns = client("sns", moto)
    topic = sns.create_topic(Name="falco")["TopicArn"]
    tap = sqs.create_queue(QueueName="tap")["QueueUrl"]
    tap_arn = sqs.get_queue_attributes(QueueUrl=tap, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=tap_arn["Attributes"]["QueueArn"])
    kinesis = client("kinesis", moto)
    kinesis.create_stream(StreamName="falco", ShardCount=1)

    alert = fresh_alert(priority="Critical", **{"proc.aname[2]": "bash", "proc.pid": 42})
    outs = outputs_from_env(
        {
            "AWS_SQS_URL": queue,
            "AWS_SNS_TOPICARN": topic,
            "AWS_KINESIS_STREAMNAME": "falco",
            "AWS_CHECKIDENTITY": "false",
        }
    )
    assert {"awssqs", "awssns", "awskinesis"} <= set(outs)
    for kind in ("awssqs", "awssns", "awskinesis"):
        send(outs[kind], alert)

    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert [event(json.loads(m["Body"])) for m in got] == [alert]

    envelope = json.loads(sqs.receive_message(QueueUrl=tap)["Messages"][0]["Body"])
    assert envelope["Message"] == alert["output"]
    attrs = {k: (v["Type"], v["Value"]) for k, v in envelope["MessageAttributes"].items()}
    assert attrs["priority"] == ("String", "Critical")
    assert attrs["rule"] == ("String", alert["rule"])
    assert attrs["source"] == ("String", "syscall")
    assert attrs["tags"] == ("String", "filesystem,mitre_credential_access,T1555")
    assert attrs["hostname"] == ("String", "node-1")
    assert attrs["proc.aname.2"] == ("String", "bash")  # [2] as .2, Falcosidekick's way
    assert attrs["evt.time"] == ("Number", "1700000053012345678")
    # SNS takes 10 attributes per message: the first fields by name fill what is left
    assert len(attrs) == 10
    assert "proc.pid" not in attrs and "proc.name" not in attrs

    raw = outputs_from_env(
        {"AWS_SNS_TOPICARN": topic, "AWS_SNS_RAWJSON": "true", "AWS_CHECKIDENTITY": "false"}
    )
    send(raw["awssns"], alert)
    envelope = json.loads(sqs.receive_message(QueueUrl=tap)["Messages"][0]["Body"])
    assert event(json.loads(envelope["Message"])) == alert

    shard = kinesis.describe_stream(StreamName="falco")["StreamDescription"]["Shards"][0]
    iterator = kinesis.get_shard_iterator(
        StreamName="falco", ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = kinesis.get_records(ShardIterator=iterator)["Records"]
    assert [event(json.loads(r["Data"])) for r in records] == [alert]
    assert re.fullmatch(r"[0-9a-f-]{36}", records[0]["PartitionKey"])


def test_cloudwatch_logs_s3_and_lambda(moto: str) -> None:
    logs = client("logs", moto)
    logs.create_log_group(logGroupName="falco")
    s3 = client("s3", moto)
    s3.create_bucket(Bucket="falco-alerts")
    iam = client("iam", moto)
    role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("handler.py", "def handler(event, context):\n    return event\n")
    lam = client("lambda", moto)
    lam.create_function(
        FunctionName="falco-handler",
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": code.getvalue()},
    )
    httpx.post(moto + "/moto-api/recorder/start-recording")

    alert = fresh_alert()
    outs = outputs_from_env(
        {
            "AWS_CLOUDWATCHLOGS_LOGGROUP": "falco",
            "AWS_S3_BUCKET": "falco-alerts",
            "AWS_S3_PREFIX": "alerts",
            "AWS_LAMBDA_FUNCTIONNAME": "falco-handler",
        }
    )
    for kind in ("awscloudwatchlogs", "awss3", "awslambda"):
        send(outs[kind], alert, alert)

    # no logstream configured: Falcosidekick's stream is created, then reused
    events = logs.get_log_events(logGroupName="falco", logStreamName="falcosidekick-logstream")
    assert [event(json.loads(e["message"])) for e in events["events"]] == [alert, alert]
    assert events["events"][0]["timestamp"] == Alert.from_dict(alert).time_ns // 1_000_000

    today = datetime.now(UTC).strftime("%Y-%m-%d")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="falco-alerts")["Contents"]]
    assert len(keys) == 2
    for key in keys:
        assert re.fullmatch(rf"alerts/{today}/{today}T\d\d:\d\d:\d\d(\.\d+)?Z\.json", key), key
        obj = s3.get_object(Bucket="falco-alerts", Key=key)
        assert event(json.loads(obj["Body"].read())) == alert
    acl = s3.get_object_acl(Bucket="falco-alerts", Key=keys[0])
    assert acl["Grants"]  # the canned ACL was applied (bucket-owner-full-control)

    recording = httpx.get(moto + "/moto-api/recorder/download-recording").text
    invokes = [
        json.loads(line)
        for line in recording.splitlines()
        if "/functions/falco-handler/invocations" in line
    ]
    assert len(invokes) == 2
    headers = invokes[0]["headers"]
    assert headers["X-Amz-Invocation-Type"] == "RequestResponse"
    assert headers["X-Amz-Log-Type"] == "Tail"
    body = invokes[0]["body"]
    if invokes[0].get("body_encoded"):
        body = base64.b64decode(body).decode()
    assert event(json.loads(body)) == alert


def test_minimumpriority_and_identity_check(moto: str, caplog: pytest.LogCaptureFixture) -> None:
    queue = client("sqs", moto).create_queue(QueueName="q")["QueueUrl"]
    outs = outputs_from_env({"AWS_SQS_URL": queue, "AWS_SQS_MINIMUMPRIORITY": "error"})
    sqs = outs["awssqs"]
    assert not sqs.accepts(Alert.from_dict(make_alert(priority="Warning")))
    assert sqs.accepts(Alert.from_dict(make_alert(priority="Error")))
    caplog.set_level("INFO", "lanner.sidekick")
    send(sqs)  # start() checks the identity through STS (moto answers)
    assert "awssqs: AWS identity arn:aws:" in caplog.text


def test_aws_config_keys_and_errors() -> None:
    env = {
        "PROMETHEUS_DISABLED": "true",
        "AWS_REGION": "eu-west-3",
        "AWS_ROLEARN": "arn:aws:iam::123456789012:role/x",
        "AWS_SQS_URL": "https://sqs.eu-west-3.amazonaws.com/123456789012/falco",
    }
    config = load_config(None, env)
    (sqs,) = config.outputs
    assert sqs.kind == "awssqs"
    assert sqs.settings["url"].endswith("/falco")
    assert sqs.settings["aws"]["region"] == "eu-west-3"
    assert sqs.settings["aws"]["rolearn"].endswith("role/x")
    assert sqs.settings["aws"]["checkidentity"] is True
    with pytest.raises(ConfigError, match=r"^aws\.lambda\.invocationtype: 'sync' is not"):
        load_config(
            None, {**env, "AWS_LAMBDA_FUNCTIONNAME": "f", "AWS_LAMBDA_INVOCATIONTYPE": "sync"}
        )
    with pytest.raises(ConfigError, match=r"^aws\.externalid: must be 2 to 1224"):
        load_config(None, {**env, "AWS_EXTERNALID": "x"})
    with pytest.raises(ConfigError, match=r"^aws\.sqs\.urll: unknown key"):
        _load_yaml({"aws": {"sqs": {"urll": "x"}}})


def _load_yaml(data: dict[str, Any]) -> Any:
    import tempfile

    import yaml

    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        yaml.safe_dump(data, f)
        f.flush()
        return load_config(f.name, {})


def test_sqs_outage_retried_none_lost(tmp: Path, moto: str, sidekicks: list) -> None:
    sqs = client("sqs", moto)
    queue = sqs.create_queue(QueueName="falco")["QueueUrl"]
    relay = Relay(int(moto.rsplit(":", 1)[1]))
    env = {**AWS_ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{relay.port}"}
    sk = Sidekick(
        tmp,
        {
            "aws": {"checkidentity": False, "sqs": {"url": queue}},
            "delivery": {"backoff": 0.05, "maxbackoff": 0.3, "timeout": 2},
        },
        env=env,
    )
    sidekicks.append(sk)

    def bodies() -> list[str]:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        for m in got.get("Messages", []):
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
        return [json.loads(m["Body"])["rule"] for m in got.get("Messages", [])]

    assert sk.post(make_alert(rule="before")).status_code == 200
    assert wait_until(bodies, 20, "first message") == ["before"]
    relay.down()
    for i in range(5):
        assert sk.post(make_alert(rule=f"during {i}")).status_code == 200
    wait_until(
        lambda: metric_value(sk.metrics(), "lanner_sidekick_outputs_total",
                             destination="awssqs", status="failed") >= 2,
        20, "failed attempts while the endpoint is down",
    )  # fmt: skip
    relay.up()
    seen: list[str] = []
    wait_until(lambda: seen.extend(bodies()) or len(seen) >= 5, 30, "queued alerts")
    assert seen == [f"during {i}" for i in range(5)]  # all, in order, once
    text = sk.metrics()
    assert metric_value(text, "lanner_sidekick_outputs_total", destination="awssqs",
                        status="sent") == 6  # fmt: skip
    assert metric_value(text, "lanner_sidekick_outputs_total", destination="awssqs",
                        status="dropped") == 0  # fmt: skip
    # Falcosidekick's own series, for its dashboards
    fsk = "falcosecurity_falcosidekick_outputs_total"
    assert metric_value(text, fsk, destination="awssqs", status="ok") == 6
    assert metric_value(text, fsk, destination="awssqs", status="error") >= 2
    relay.down()


def _lake_env(bucket: str) -> dict[str, str]:
    return {
        "AWS_SECURITYLAKE_BUCKET": bucket,
        "AWS_SECURITYLAKE_REGION": "us-east-1",
        "AWS_SECURITYLAKE_ACCOUNTID": "123456789012",
        "AWS_SECURITYLAKE_PREFIX": "ext/falco",
        "AWS_SECURITYLAKE_BATCHSIZE": "3",
        "AWS_CHECKIDENTITY": "false",
    }


def _lake_files(s3: Any, bucket: str) -> list[tuple[str, Any]]:
    import pyarrow.parquet as pq

    out = []
    for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        data = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        out.append((obj["Key"], pq.read_table(io.BytesIO(data))))
    return sorted(out, key=lambda kv: kv[1].column("time")[0].as_py())


def test_security_lake_ocsf_parquet_layout(moto: str) -> None:
    s3 = client("s3", moto)
    s3.create_bucket(Bucket="lake")
    out = outputs_from_env(_lake_env("lake"))["awssecuritylake"]
    assert (out.max_batch, out.batch_window) == (3, 300.0)  # batchsize; interval 5 min
    alerts = [fresh_alert(priority=p, rule=f"r{i}") for i, p in enumerate(["Critical", "Notice"])]

    async def run() -> None:
        try:
            assert await out.send_batch([Alert.from_dict(a) for a in alerts]) == []
        finally:
            await out.close()

    asyncio.run(run())
    ((key, table),) = _lake_files(s3, "lake")
    day = datetime.now(UTC).strftime("%Y%m%d")
    assert re.fullmatch(
        rf"ext/falco/region=us-east-1/accountId=123456789012/eventDay={day}/[0-9a-f-]{{36}}\.parquet",
        key,
    )
    rows = table.to_pylist()
    assert [r["finding"]["title"] for r in rows] == ["r0", "r1"]
    first = rows[0]
    assert (first["class_uid"], first["type_uid"], first["category_uid"]) == (2001, 200101, 2)
    assert (first["severity_id"], first["severity"], first["status"]) == (5, "Critical", "Critical")
    assert (rows[1]["severity_id"], rows[1]["severity"]) == (2, "Low")
    assert first["metadata"]["product"] == {"vendor_name": "Falcosecurity", "name": "Falco"}
    assert first["metadata"]["labels"] == alerts[0]["tags"]
    assert first["finding"]["types"] == ["syscall"]
    assert first["time"] == Alert.from_dict(alerts[0]).time_ns // 1_000_000
    assert event(json.loads(first["raw_data"])) == alerts[0]
    assert json.loads(first["raw_data"])["uuid"] == first["finding"]["uid"]
    observed = {o["name"]: o["value"] for o in first["observables"]}
    assert observed["hostname"] == "node-1" and observed["fd.name"] == "/etc/shadow"
    assert observed["evt.time"] == "1700000053012345678"


def test_security_lake_batches_through_outage(moto: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker gathers alerts into files of `batchsize`; while S3 is unreachable the
    batch is retried whole, and every alert lands once. (In-process, with the batch window
    shortened from Falcosidekick's 5 minutes to 1 s so the test is quick.)"""
    from prometheus_client import CollectorRegistry

    from lanner.services.sidekick.delivery import Dispatcher, RetryPolicy
    from lanner.services.sidekick.stats import Stats

    s3 = client("s3", moto)
    s3.create_bucket(Bucket="lake")
    relay = Relay(int(moto.rsplit(":", 1)[1]))
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{relay.port}")
    out = outputs_from_env(_lake_env("lake"))["awssecuritylake"]
    out.batch_window = 1.0
    stats = Stats(CollectorRegistry())

    async def run() -> None:
        dispatcher = Dispatcher([out], stats, RetryPolicy(0, 0.05, 0.3), timeout=2)
        await dispatcher.start()
        try:
            for i in range(3):  # a full batch: written at once
                dispatcher.submit(Alert.from_dict(fresh_alert(rule=f"a{i}")))
            await asyncio.to_thread(wait_until, lambda: len(_lake_files(s3, "lake")) == 1, 20)
            relay.down()
            for i in range(2):  # not full: written when the window closes, once S3 is back
                dispatcher.submit(Alert.from_dict(fresh_alert(rule=f"b{i}")))
            await asyncio.to_thread(
                wait_until, lambda: stats.tally[("awssecuritylake", "failed")] >= 2, 20
            )
            relay.up()
            assert await dispatcher.drain(20)
        finally:
            await dispatcher.stop()
            relay.down()

    asyncio.run(run())
    files = _lake_files(s3, "lake")
    rules = [[r["finding"]["title"] for r in t.to_pylist()] for _, t in files]
    assert rules == [["a0", "a1", "a2"], ["b0", "b1"]]
    assert stats.tally[("awssecuritylake", "sent")] == 5
    assert stats.tally[("awssecuritylake", "dropped")] == 0


def test_security_lake_needs_its_keys() -> None:
    env = {"PROMETHEUS_DISABLED": "true", **_lake_env("lake")}
    del env["AWS_SECURITYLAKE_ACCOUNTID"]
    with pytest.raises(ConfigError, match=r"^aws\.securitylake\.accountid: required"):
        load_config(None, env)


def test_role_assumed_and_s3_endpoint_key(moto: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`aws.rolearn` (+ `externalid`): requests are signed with the role's temporary keys
    from STS AssumeRole; `aws.s3.endpoint` alone points S3 at another store."""
    sqs = client("sqs", moto)
    queue = sqs.create_queue(QueueName="falco")["QueueUrl"]
    httpx.post(moto + "/moto-api/recorder/start-recording")
    outs = outputs_from_env(
        {
            "AWS_SQS_URL": queue,
            "AWS_ROLEARN": "arn:aws:iam::123456789012:role/falco-forwarder",
            "AWS_EXTERNALID": "ext-42",
            "AWS_CHECKIDENTITY": "false",
        }
    )
    send(outs["awssqs"], make_alert())
    recording = []
    for line in httpx.get(moto + "/moto-api/recorder/download-recording").text.splitlines():
        entry = json.loads(line)
        body = entry.get("body") or ""
        if entry.get("body_encoded"):
            body = base64.b64decode(body).decode()
        recording.append((entry["headers"], body))
    assume = [b for _, b in recording if "Action=AssumeRole" in b]
    assert len(assume) == 1 and "ExternalId=ext-42" in assume[0]
    assert "role%2Ffalco-forwarder" in assume[0]
    sends = [h for h, _ in recording if h.get("X-Amz-Target") == "AmazonSQS.SendMessage"]
    assert len(sends) == 1
    assert "Credential=testing/" not in sends[0]["Authorization"]  # the role's keys
    assert sends[0].get("X-Amz-Security-Token")
    assert len(sqs.receive_message(QueueUrl=queue)["Messages"]) == 1

    client("s3", moto).create_bucket(Bucket="compat")
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    outs = outputs_from_env(
        {"AWS_S3_BUCKET": "compat", "AWS_S3_ENDPOINT": moto, "AWS_CHECKIDENTITY": "false"}
    )
    send(outs["awss3"], make_alert())
    assert len(client("s3", moto).list_objects_v2(Bucket="compat")["Contents"]) == 1


def test_yandex_s3_and_data_streams(moto: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Yandex's Object Storage and Data Streams speak the S3 and Kinesis APIs: the same
    boto3 calls to the `endpoint` keys (moto standing in for Yandex here)."""
    monkeypatch.delenv("AWS_ENDPOINT_URL")  # only the yandex.*.endpoint keys point at moto
    s3 = client("s3", moto)
    s3.create_bucket(Bucket="ya-bucket")
    kinesis = client("kinesis", moto)
    kinesis.create_stream(StreamName="ya-stream", ShardCount=1)
    env = {
        "YANDEX_ACCESSKEYID": "ya-key",
        "YANDEX_SECRETACCESSKEY": "ya-secret",
        "YANDEX_REGION": "us-east-1",  # moto's regions are AWS's (the default is ru-central1)
        "YANDEX_S3_ENDPOINT": moto,
        "YANDEX_S3_BUCKET": "ya-bucket",
        "YANDEX_DATASTREAMS_ENDPOINT": moto,
        "YANDEX_DATASTREAMS_STREAMNAME": "ya-stream",
    }
    httpx.post(moto + "/moto-api/recorder/start-recording")
    outs = outputs_from_env(env)
    alert = make_alert()
    send(outs["yandexs3"], alert)
    send(outs["yandexdatastreams"], alert)

    (obj,) = s3.list_objects_v2(Bucket="ya-bucket")["Contents"]
    assert obj["Key"].startswith("falco/")  # Falcosidekick's default prefix
    body = s3.get_object(Bucket="ya-bucket", Key=obj["Key"])["Body"].read()
    assert event(json.loads(body)) == alert
    shard = kinesis.describe_stream(StreamName="ya-stream")["StreamDescription"]["Shards"][0]
    iterator = kinesis.get_shard_iterator(
        StreamName="ya-stream", ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    (record,) = kinesis.get_records(ShardIterator=iterator)["Records"]
    assert event(json.loads(record["Data"])) == alert

    lines = httpx.get(moto + "/moto-api/recorder/download-recording").text.splitlines()
    heads = [json.loads(line)["headers"] for line in lines]
    put = [h for h in heads if "Credential=ya-key/" in h.get("Authorization", "")]
    assert len(put) == 2  # signed with the yandex.* keys, in yandex.region
    assert all("/us-east-1/" in h["Authorization"] for h in put)
    paths = [json.loads(line).get("url", "") for line in lines]
    assert any("/ya-bucket/falco/" in p for p in paths)  # path-style, as Falcosidekick
    defaults = load_config(None, {"PROMETHEUS_DISABLED": "true", "YANDEX_S3_BUCKET": "b"})
    (ya,) = defaults.outputs
    assert ya.settings["yandex"]["region"] == "ru-central1"
    assert ya.settings["endpoint"] == "https://storage.yandexcloud.net"
