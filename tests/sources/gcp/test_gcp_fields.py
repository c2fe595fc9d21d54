"""The gcp.* fields on Cloud Audit Log entries, each read where the gcpaudit plugin reads
it (its extract.go), through the engine's field table."""

from __future__ import annotations

from typing import Any

from lanner.sources.gcp import gcp_audit_source
from lanner.sources.json_source.event import JsonEvent

SPEC = gcp_audit_source()


def value(name: str, doc: dict[str, Any]) -> Any:
    return SPEC.fields.fields[name].bind(None)(JsonEvent(doc, 1, 1))


def test_location_is_location_else_region_else_the_zone_without_its_letter() -> None:
    def labels(**kw: str) -> dict[str, Any]:
        return {"resource": {"type": "gce_instance", "labels": kw}}

    assert value("gcp.location", labels(location="eu", region="x", zone="y-z")) == "eu"
    assert value("gcp.location", labels(region="europe-west1", zone="y-z")) == "europe-west1"
    assert value("gcp.location", labels(zone="us-central1-a")) == "us-central1"
    assert value("gcp.location", labels(zone="ab")) == "ab"
    assert value("gcp.location", labels()) is None


def test_sink_only_of_logging_sinks_and_policy_delta_by_resource_type() -> None:
    sink = {"resource": {"type": "logging_sink", "labels": {"name": "s1"}}}
    assert value("gcp.logging.sink", sink) == "s1"
    other = {"resource": {"type": "gcs_bucket", "labels": {"name": "s1"}}}
    assert value("gcp.logging.sink", other) is None
    delta = [{"action": "ADD", "member": "allUsers"}]
    bucket = {"resource": {"type": "gcs_bucket"},
              "protoPayload": {"serviceData": {"policyDelta": {"bindingDeltas": delta}},
                               "metadata": {"datasetChange": {"bindingDeltas": []}}}}  # fmt: skip
    assert value("gcp.policyDelta", bucket) == '[{"action":"ADD","member":"allUsers"}]'
    dataset = {**bucket, "resource": {"type": "bigquery_dataset"}}
    assert value("gcp.policyDelta", dataset) == "[]"


def test_json_values_and_missing_ones() -> None:
    doc = {"timestamp": "2026-12-07T10:00:00Z",
           "resource": {"type": "gcs_bucket", "labels": {"project_id": "p", "bucket_name": "b"}},
           "protoPayload": {"request": {"@type": "t", "n": 1}, "methodName": "m",
                            "authorizationInfo": [{"granted": True}]}}  # fmt: skip
    assert value("gcp.request", doc) == '{"@type":"t","n":1}'
    assert value("gcp.authorizationInfo", doc) == '[{"granted":true}]'
    assert value("gcp.resourceLabels", doc) == '{"project_id":"p","bucket_name":"b"}'
    assert value("gcp.time", doc) == "2026-12-07T10:00:00Z"
    assert value("gcp.storage.bucket", doc) == "b" and value("gcp.methodName", doc) == "m"
    for name in ("gcp.user", "gcp.callerIP", "gcp.userAgent", "gcp.dns.zone"):
        assert value(name, doc) is None, name
    assert len([n for n in SPEC.fields.fields if n.startswith("gcp.")]) == 25
