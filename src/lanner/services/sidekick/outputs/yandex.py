"""Yandex Cloud's S3-compatible Object Storage and Kinesis-compatible Data Streams, through
boto3 with Yandex endpoints, as Falcosidekick does through the AWS SDK.

Falcosidekick's keys: `yandex.{accesskeyid,secretaccesskey,region}` (region default
`ru-central1`) shared, `yandex.s3.{endpoint,bucket,prefix}`, `yandex.datastreams.
{endpoint,streamname}` (stream names look like `/<region>/<folder>/<database>/<stream>`).
"""

from __future__ import annotations

import time
import uuid
from typing import Any, ClassVar

from ..alert import Alert
from ..schema import Opt
from .aws import AwsOutput, object_key
from .base import OutputContext, dumps, falco_payload, register

YANDEX_OPTIONS: dict[str, Opt] = {
    "accesskeyid": Opt("str", ""),
    "secretaccesskey": Opt("str", "", secret=True),
    "region": Opt("str", "ru-central1"),
}


class YandexOutput(AwsOutput):
    """An AWS-compatible Yandex service: static keys from `yandex.*`, the section's
    `endpoint`, no STS identity check."""

    shared_options = YANDEX_OPTIONS

    def __init__(self, settings: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(settings, ctx)
        self.aws = dict(settings.get("yandex") or {})  # the keys AwsOutput reads

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """endpoint is an http(s) URL."""
        endpoint = settings["endpoint"]
        if not endpoint.lower().startswith(("http://", "https://")):
            return "endpoint", f"expected an http:// or https:// URL, got {endpoint!r}"
        return None

    def region(self) -> str | None:
        """yandex.region."""
        return str(self.aws.get("region") or "ru-central1")

    def client_kwargs(self) -> dict[str, Any]:
        """The section's endpoint."""
        return {"endpoint_url": self.settings["endpoint"]}

    async def start(self) -> None:
        """Nothing to check: Yandex has no STS."""


@register
class YandexS3(YandexOutput):
    """Stores each event as `<prefix>/<YYYY-MM-DD>/<RFC3339Nano>.json` (path-style URLs)."""

    kind = "yandexs3"
    family = "storage"
    section = "yandex.s3"
    service = "s3"
    enable_key = "bucket"
    options: ClassVar[dict[str, Opt]] = {
        "endpoint": Opt("str", "https://storage.yandexcloud.net"),
        "bucket": Opt("str", ""),
        "prefix": Opt("str", "falco"),
    }

    def _config(self) -> Any:
        config = super()._config()
        return config.merge(type(config)(s3={"addressing_style": "path"}))

    async def send(self, alert: Alert) -> None:
        """PutObject."""
        await self.call(
            "put_object",
            Bucket=self.settings["bucket"],
            Key=object_key(self.settings["prefix"], time.time_ns()),
            Body=dumps(falco_payload(alert)),
        )


@register
class YandexDataStreams(YandexOutput):
    """Puts the event JSON as one record with a random partition key."""

    kind = "yandexdatastreams"
    family = "queues"
    section = "yandex.datastreams"
    service = "kinesis"
    enable_key = "streamname"
    options: ClassVar[dict[str, Opt]] = {
        "endpoint": Opt("str", "https://yds.serverless.yandexcloud.net"),
        "streamname": Opt("str", ""),
    }

    async def send(self, alert: Alert) -> None:
        """PutRecord."""
        await self.call(
            "put_record",
            StreamName=self.settings["streamname"],
            Data=dumps(falco_payload(alert)),
            PartitionKey=str(uuid.uuid4()),
        )
