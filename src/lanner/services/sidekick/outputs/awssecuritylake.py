"""AWS Security Lake custom source: alerts as OCSF Security Findings (class 2001) in
Parquet files under `<prefix>/region=<region>/accountId=<id>/eventDay=<YYYYMMDD>/`.

As in Falcosidekick, alerts are gathered: a file is written when `batchsize` alerts wait or
`interval` minutes (5 to 60) after the first of them, whichever comes first. Waiting alerts
are in the spool like any other output's, so a restart does not lose them.
"""

from __future__ import annotations

import io
import logging
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from ..alert import Alert, Priority
from ..schema import Opt
from .aws import AwsOutput
from .base import OutputContext, alert_uuid, dumps, falco_payload, register

log = logging.getLogger("lanner.sidekick")

OCSF_VERSION = "0.1.0"  # the schema version Falcosidekick declares

# OCSF severity_id and name per Falco priority (Falcosidekick's mapping)
_SEVERITY = {
    Priority.DEBUG: (1, "Informational"),
    Priority.INFORMATIONAL: (1, "Informational"),
    Priority.NOTICE: (2, "Low"),
    Priority.WARNING: (3, "Medium"),
    Priority.ERROR: (4, "High"),
    Priority.CRITICAL: (5, "Critical"),
    Priority.ALERT: (6, "Fatal"),
    Priority.EMERGENCY: (6, "Fatal"),
}


def ocsf_finding(alert: Alert) -> dict[str, Any]:
    """One alert as an OCSF Security Finding row."""
    millis = alert.time_ns // 1_000_000
    severity_id, severity = _SEVERITY[alert.priority]
    observables = []
    if alert.hostname:
        observables.append(
            {"name": "hostname", "type": "Other", "type_id": 0, "value": alert.hostname}
        )
    for name, value in alert.output_fields.items():
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            observables.append({"name": name, "type": "Other", "type_id": 0, "value": str(value)})
    return {
        "activity_id": 1,
        "activity_name": "Generate",
        "category_uid": 2,
        "category_name": "Findings",
        "class_name": "Security Finding",
        "class_uid": 2001,
        "type_uid": 200101,
        "type_name": "Security Finding: Generate",
        "finding": {
            "created_time": millis,
            "desc": alert.output,
            "title": alert.rule,
            "types": [alert.source],
            "uid": alert_uuid(alert),
        },
        "message": alert.rule,
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"vendor_name": "Falcosecurity", "name": "Falco"},
            "labels": list(alert.tags),
        },
        "observables": observables,
        "raw_data": dumps(falco_payload(alert)).decode(),
        "severity": severity,
        "severity_id": severity_id,
        "state": "New",
        "state_id": 1,
        "status": alert.priority.label,
        "time": millis,
    }


def ocsf_schema() -> Any:
    """The Parquet schema of the rows."""
    import pyarrow as pa

    text, i32, i64 = pa.string(), pa.int32(), pa.int64()
    return pa.schema(
        [
            ("activity_id", i32),
            ("activity_name", text),
            ("category_name", text),
            ("category_uid", i32),
            ("class_name", text),
            ("class_uid", i32),
            (
                "finding",
                pa.struct(
                    [
                        ("created_time", i64),
                        ("desc", text),
                        ("title", text),
                        ("types", pa.list_(text)),
                        ("uid", text),
                    ]
                ),
            ),
            ("message", text),
            (
                "metadata",
                pa.struct(
                    [
                        ("version", text),
                        ("product", pa.struct([("vendor_name", text), ("name", text)])),
                        ("labels", pa.list_(text)),
                    ]
                ),
            ),
            (
                "observables",
                pa.list_(
                    pa.struct([("name", text), ("type", text), ("type_id", i32), ("value", text)])
                ),
            ),
            ("raw_data", text),
            ("severity", text),
            ("severity_id", i32),
            ("state", text),
            ("state_id", i32),
            ("status", text),
            ("time", i64),
            ("type_name", text),
            ("type_uid", i32),
        ]
    )


def to_parquet(alerts: list[Alert]) -> bytes:
    """The alerts as one Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([ocsf_finding(a) for a in alerts], schema=ocsf_schema())
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


@register
class AwsSecurityLake(AwsOutput):
    """Writes batches of alerts as OCSF Parquet objects for a Security Lake custom source."""

    kind = "awssecuritylake"
    family = "siem"
    section = "aws.securitylake"
    service = "s3"
    enable_key = "bucket"
    options: ClassVar[dict[str, Opt]] = {
        "bucket": Opt("str", ""),
        "region": Opt("str", ""),
        "prefix": Opt("str", ""),
        "accountid": Opt("str", ""),
        "interval": Opt("int", 5),
        "batchsize": Opt("int", 1000, minimum=1),
    }

    def __init__(self, settings: dict[str, Any], ctx: OutputContext) -> None:
        super().__init__(settings, ctx)
        interval = min(max(settings["interval"], 5), 60)
        if interval != settings["interval"]:  # Falcosidekick's bounds, applied as it does
            log.warning(
                "awssecuritylake: interval %s minutes is outside 5..60; using %s",
                settings["interval"],
                interval,
            )
        self.batch_window = interval * 60.0
        self.max_batch = settings["batchsize"]  # type: ignore[misc]  # per instance

    @classmethod
    def validate(cls, settings: dict[str, Any]) -> tuple[str, str] | None:
        """With a bucket, region, accountid and prefix are required (Falcosidekick leaves
        the output off without them; here that is an error naming the key)."""
        problem = super().validate(settings)
        if problem:
            return problem
        if settings["bucket"]:
            for key in ("region", "accountid", "prefix"):
                if not settings[key]:
                    return key, "required with aws.securitylake.bucket"
        return None

    def region(self) -> str | None:
        """The bucket's region."""
        return str(self.settings["region"])

    def key(self, now: datetime, name: str) -> str:
        """The object key of one file."""
        s = self.settings
        return (
            f"{s['prefix'].strip('/')}/region={s['region']}/accountId={s['accountid']}"
            f"/eventDay={now.strftime('%Y%m%d')}/{name}.parquet"
        )

    async def send(self, alert: Alert) -> None:
        """One alert alone: a file of one row."""
        await self.send_batch([alert])

    async def send_batch(self, alerts: list[Alert]) -> list[Alert]:
        """Write one Parquet object with every alert; the batch is retried as a whole."""
        body = to_parquet(alerts)
        await self.call(
            "put_object",
            Bucket=self.settings["bucket"],
            Key=self.key(datetime.now(UTC), str(uuid.uuid4())),
            Body=body,
            ContentType="Apache Parquet",
            ACL="bucket-owner-full-control",
        )
        return []
