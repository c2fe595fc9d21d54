"""AWS's APIs on loopback: moto in server mode (PyPI ``moto[server]``, installed by
scripts/setup.sh), for the cloudtrail and k8saudit-eks sources and their generate actions,
driven by boto3 (the real SDK)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import httpx

from helpers.polling import free_port, wait_until

REGION = "us-east-1"
AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
       "AWS_REGION": REGION}  # fmt: skip


@contextmanager
def moto_server(folder: Path, **env: str) -> Iterator[str]:
    """A moto server on a free loopback port, its log in ``folder``, ``env`` added to its
    environment; yields its URL and stops it after. Fails loudly when moto_server is not
    installed."""
    binary = Path(sys.executable).with_name("moto_server")
    assert binary.exists(), f"{binary} missing: install the dev extras (scripts/setup.sh)"
    port = free_port()
    log = open(folder / "moto.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([str(binary), "-H", "127.0.0.1", "-p", str(port)],
                            env={**os.environ, **AWS, **env}, stdout=log, stderr=log)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(url + "/moto-api/").status_code < 500, what="moto")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def aws_client(moto: str, service: str) -> Any:
    """A boto3 client of ``service`` talking to the moto server at ``moto``."""
    return boto3.client(service, endpoint_url=moto, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip


def aws_env(moto: str) -> dict[str, str]:
    """This process's environment with the test credentials and moto as the endpoint."""
    return {**os.environ, **AWS, "AWS_ENDPOINT_URL": moto}
