"""Forensic artifacts (Talon's `output:`): a local folder, and S3 / MinIO buckets on moto's
S3 server (PyPI `moto[server]`, the AWS API on loopback)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from respond_fake_k8s import free_port
from respond_helpers import wait_port

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


@pytest.mark.parametrize(
    ("output", "problem"),
    [
        ({"target": "aws:s3", "parameters": {"prefix": "x"}}, "aws:s3 needs 'bucket'"),
        ({"target": "aws:s3", "parameters": {"bucket": "b", "acl": "x"}}, "unknown parameters acl"),
        ({"target": "gcp:gcs", "parameters": {"bucket": "b"}}, "GCS uploads are not available"),
        ({"target": "ftp", "parameters": {"bucket": "b"}}, "unknown target 'ftp'"),
        ({"target": "local:file"}, "missing 'parameters'"),
    ],
)
def test_bad_outputs_are_refused_at_load_time(output: dict, problem: str) -> None:
    assert problem in (artifacts.check_output(output) or "")
