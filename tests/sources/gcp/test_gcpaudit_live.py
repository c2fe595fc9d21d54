"""The gcpaudit plugin in ``lanner run``: Cloud Audit Log entries published to a Pub/Sub
topic are read from its subscription through Google's subscriber client, against a
DOUBLE of Pub/Sub (tests/helpers/pubsub_double.py), and the upstream
gcp_auditlog_rules.yaml, loaded unmodified, fires on each rule's events and stays quiet
on near misses."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from gcp_testutil import RULES, start_lanner, write_config

from helpers import free_port, wait_until
from helpers.lanner_process import metrics
from helpers.pubsub_double import PubSubDouble

GCP_RULES = RULES / "gcp_auditlog_rules.yaml"
PUBLIC = [{"action": "ADD", "member": "allUsers", "role": "roles/storage.objectViewer"}]
PRIVATE = [{"action": "ADD", "member": "user:bob@example.com", "role": "roles/viewer"}]
REMOVED = [{"action": "REMOVE", "member": "allUsers", "role": "roles/storage.objectViewer"}]

SQL, GCS, BQ, GCE = ("cloudsql.googleapis.com", "storage.googleapis.com",
                     "bigquery.googleapis.com", "compute.googleapis.com")  # fmt: skip
IAM, CRM, GCF, KMS = ("iam.googleapis.com", "cloudresourcemanager.googleapis.com",
                      "cloudfunctions.googleapis.com", "cloudkms.googleapis.com")  # fmt: skip
PUBSUB, LOGGING = "pubsub.googleapis.com", "logging.googleapis.com"
BQ_METADATA = "type.googleapis.com/google.cloud.audit.BigQueryAuditMetadata"
ACTIVITY = "projects/test-project/logs/cloudaudit.googleapis.com%2Factivity"
ADMIN, GCFV1 = "google.iam.admin.v1.", "google.cloud.functions.v1.CloudFunctionsService."

# (service, method, bindingDeltas or None) -> the rules it must fire, all of them
FIRING: list[tuple[str, str, list[dict[str, str]] | None, set[str]]] = [
    (SQL, "cloudsql.users.update", None, {"GCP Cloud SQL database user modified or deleted"}),
    (SQL, "cloudsql.users.delete", None, {"GCP Cloud SQL database user modified or deleted"}),
    (SQL, "cloudsql.backupRuns.delete", None, {"GCP Cloud SQL database backup deleted"}),
    (SQL, "cloudsql.instances.export", None, {"GCP Cloud SQL database instance data exported"}),
    (SQL, "cloudsql.instances.delete", None, {"GCP Cloud SQL database instance deleted"}),
    (SQL, "cloudsql.instances.patch", None,
     {"GCP Cloud SQL database instance modified or created"}),
    (GCS, "storage.setIamPermissions", PUBLIC,
     {"GCP Bucket configured to be public", "GCP Bucket permissions modified"}),
    (GCS, "storage.objects.update", PUBLIC, {"GCP Bucket objects configured to be public"}),
    (GCS, "storage.buckets.list", None, {"GCP Bucket enumerated"}),
    (GCS, "storage.buckets.delete", None, {"GCP Bucket deleted"}),
    (GCS, "storage.buckets.update", None, {"GCP Bucket updated"}),
    (BQ, "google.iam.v1.IAMPolicy.SetIamPolicy", PUBLIC,
     {"GCP BigQuery Dataset access configured to be public"}),
    (GCE, "v1.compute.instances.insert", None, {"GCP VM modified"}),
    (GCE, "beta.compute.instances.setServiceAccount", None, {"GCP VM modified"}),
    (GCE, "v1.compute.instances.stop", None, {"GCP VM stopped"}),
    (GCE, "v1.compute.firewalls.insert", None, {"GCP GCE Firewall rule modified"}),
    (GCE, "v1.compute.securityPolicies.patch", None, {"GCP WAF Network policy modified"}),
    (GCE, "v1.compute.securityPolicies.addRule", None, {"GCP WAF rule modified or deleted"}),
    (GCE, "v1.compute.networkEdgeSecurityServices.update", None,
     {"GCP CloudArmor edge security service modified"}),
    (GCE, "v1.compute.backendServices.delete", None, {"GCP backend service deleted"}),
    (IAM, ADMIN + "CreateServiceAccount", None, {"GCP IAM service account created"}),
    (IAM, ADMIN + "DeleteServiceAccount", None, {"GCP IAM service account deleted"}),
    (IAM, ADMIN + "UpdateServiceAccount", None, {"GCP IAM service account modified"}),
    (IAM, ADMIN + "CreateServiceAccountKey", None, {"GCP IAM service account key created"}),
    (IAM, ADMIN + "DeleteServiceAccountKey", None, {"GCP IAM service account key deleted"}),
    (IAM, ADMIN + "CreateRole", None, {"GCP IAM custom role created"}),
    (IAM, ADMIN + "UpdateRole", None, {"GCP IAM custom role modified"}),
    (CRM, "SetIamPolicy", None, {"GCP IAM policy modified"}),
    (GCF, GCFV1 + "CreateFunction", None, {"GCP cloud function created"}),
    (GCF, GCFV1 + "DeleteFunction", None, {"GCP cloud function deleted"}),
    (GCF, GCFV1 + "UpdateFunction", None, {"GCP cloud function modified"}),
    (KMS, "CreateKeyRing", None, {"GCP KMS keyring created"}),
    (KMS, "CreateCryptoKey", None, {"GCP KMS created"}),
    (KMS, "UpdateCryptoKey", None, {"GCP KMS updated"}),
    (KMS, "DestroyCryptoKeyVersion", None, {"GCP KMS deleted"}),
    (PUBSUB, "google.pubsub.v1.Publisher.DeleteTopic", None, {"GCP Pub/Sub topic deleted"}),
    (PUBSUB, "google.pubsub.v1.Subscriber.UpdateSubscription", None,
     {"GCP Pub/Sub subscription modified"}),
    (PUBSUB, "google.pubsub.v1.Subscriber.DeleteSubscription", None,
     {"GCP Pub/Sub subscription deleted"}),
    (LOGGING, "google.logging.v2.ConfigServiceV2.UpdateSink", None,
     {"GCP logging sink modified"}),
    (LOGGING, "google.logging.v2.ConfigServiceV2.DeleteSink", None,
     {"GCP logging sink deleted"}),
]  # fmt: skip

# near misses: (service, method, bindingDeltas) -> the only rules allowed to fire
QUIET: list[tuple[str, str, list[dict[str, str]] | None, set[str]]] = [
    (GCS, "storage.setIamPermissions", PRIVATE, {"GCP Bucket permissions modified"}),
    (GCS, "storage.setIamPermissions", REMOVED, {"GCP Bucket permissions modified"}),
    (GCS, "storage.objects.update", PRIVATE, set()),
    (GCS, "storage.objects.get", None, set()),
    (BQ, "google.iam.v1.IAMPolicy.SetIamPolicy", PRIVATE, set()),
    (SQL, "cloudsql.instances.get", None, set()),
    (GCS, "cloudsql.users.delete", None, set()),  # the right method of another service
    (GCE, "v1.compute.instances.get", None, set()),
    (IAM, ADMIN + "GetServiceAccount", None, set()),
    (CRM, "GetIamPolicy", None, set()),
    (KMS, "Decrypt", None, set()),
    (PUBSUB, "google.pubsub.v1.Subscriber.Pull", None, set()),
    (LOGGING, "google.logging.v2.ConfigServiceV2.GetSink", None, set()),
]  # fmt: skip

RESOURCE = {SQL: ("cloudsql_database", {"database_id": "test-project:db1",
                                         "region": "europe-west1"}),
            GCS: ("gcs_bucket", {"bucket_name": "payroll", "location": "eu"}),
            BQ: ("bigquery_dataset", {"dataset_id": "sales"}),
            GCE: ("gce_instance", {"instance_id": "4242", "zone": "europe-west1-b"}),
            IAM: ("service_account", {"email_id": "ci@test-project.iam.gserviceaccount.com",
                                      "unique_id": "1049"}),
            CRM: ("project", {}), GCF: ("cloud_function", {"function_name": "resize",
                                                           "region": "us-central1"}),
            KMS: ("cloudkms_keyring", {"location": "global"}),
            PUBSUB: ("pubsub_topic", {"topic_id": "orders"}),
            LOGGING: ("logging_sink", {"name": "falco-sink"})}  # fmt: skip


def entry(n: int, service: str, method: str, deltas: list[dict[str, str]] | None) -> bytes:
    """A Cloud Audit Log entry as a logs routing sink publishes it to Pub/Sub."""
    rtype, labels = RESOURCE[service]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    payload: dict[str, Any] = {
        "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
        "status": {}, "serviceName": service, "methodName": method,
        "authenticationInfo": {"principalEmail": "mallory@example.com"},
        "requestMetadata": {"callerIp": "203.0.113.7",
                            "callerSuppliedUserAgent": "google-cloud-sdk gcloud/470.0.0"},
        "authorizationInfo": [{"permission": f"{service.split('.')[0]}.x.y", "granted": True,
                               "resourceAttributes": {}}],
        "resourceName": f"projects/_/resources/{n}",
        "request": {"@type": f"type.googleapis.com/{method}", "n": n},
    }  # fmt: skip
    if deltas is not None and service == GCS:
        payload["serviceData"] = {"@type": "type.googleapis.com/google.iam.v1.logging.AuditData",
                                  "policyDelta": {"bindingDeltas": deltas}}  # fmt: skip
    elif deltas is not None:
        payload["metadata"] = {"@type": BQ_METADATA, "datasetChange": {"bindingDeltas": deltas}}
    doc = {"protoPayload": payload, "insertId": f"ins{n}",
           "resource": {"type": rtype, "labels": {"project_id": "test-project", **labels}},
           "timestamp": now, "severity": "NOTICE", "receiveTimestamp": now,
           "logName": ACTIVITY}  # fmt: skip
    return json.dumps(doc).encode()


@pytest.fixture
def pubsub() -> Iterator[PubSubDouble]:
    double = PubSubDouble()
    double.create_subscription("falco-sub", topic="audit-logs")
    try:
        yield double
    finally:
        double.stop()


def test_upstream_gcp_rules_fire_on_entries_read_from_pubsub(
    tmp_path: Path, pubsub: PubSubDouble
) -> None:
    web = free_port()
    cfg = write_config(tmp_path, "gcpaudit", {"project_id": "test-project",
                                              "num_goroutines": 2}, "falco-sub", web)  # fmt: skip
    cases = FIRING + QUIET
    for n, (service, method, deltas, _rules) in enumerate(cases):
        pubsub.publish("audit-logs", entry(n, service, method, deltas))
    pubsub.publish("audit-logs", b"{truncated")  # a malformed message on the way
    lanner = start_lanner(cfg, [GCP_RULES], tmp_path / "lanner.err", pubsub)
    try:
        expected = Counter(r for *_x, rules in cases for r in rules)
        alerts = lanner.take(sum(expected.values()), settle=2.0, timeout=90)
        metric = 'lanner_input_errors_total{kind="bad_message",source="gcpaudit"} 1.0'
        wait_until(lambda: metric in metrics(web), timeout=30, what="the bad message metric")
        wait_until(lambda: pubsub.pending("falco-sub") == 0, 30, "every message acked")
    finally:
        code = lanner.stop(timeout=60)
    log = lanner.log()
    assert code == 0, log
    by_entry: dict[int, set[str]] = {}
    for a in alerts:
        n = json.loads(a["output_fields"]["gcp.request"])["n"]
        by_entry.setdefault(n, set()).add(a["rule"])
    assert {n: by_entry.get(n, set()) for n in range(len(cases))} == {
        n: rules for n, (*_x, rules) in enumerate(cases)}  # fmt: skip
    fired = {a["rule"] for a in alerts}
    upstream = {r["rule"] for r in yaml.safe_load(GCP_RULES.read_text()) if "rule" in r}
    assert fired == upstream  # every rule of the file fired
    public = next(a for a in alerts if a["rule"] == "GCP Bucket configured to be public")
    fields = public["output_fields"]
    assert fields["gcp.user"] == "mallory@example.com"
    assert fields["gcp.callerIP"] == "203.0.113.7"
    assert json.loads(fields["gcp.policyDelta"]) == PUBLIC
    assert fields["gcp.storage.bucket"] == "payroll" and fields["gcp.projectId"] == "test-project"
    assert public["source"] == "gcp_auditlog" and public["priority"] == "Critical"
    sql = next(a for a in alerts if a["rule"] == "GCP Cloud SQL database backup deleted")
    assert sql["output_fields"]["gcp.cloudsql.databaseId"] == "test-project:db1"
    assert "dropped: not JSON" in log, log
    assert "has no effect" not in log, log  # the plugin entry is read


def test_restart_reads_what_was_published_meanwhile(tmp_path: Path, pubsub: PubSubDouble) -> None:
    cfg = write_config(tmp_path, "gcpaudit", {"project_id": "test-project"}, "falco-sub")
    first = start_lanner(cfg, [GCP_RULES], tmp_path / "first.err", pubsub)
    try:
        pubsub.publish("audit-logs", entry(1, GCS, "storage.buckets.delete", None))
        assert [a["rule"] for a in first.take(1, settle=2.0, timeout=90)] == ["GCP Bucket deleted"]
        wait_until(lambda: pubsub.pending("falco-sub") == 0, 30, "the ack")
    finally:
        assert first.stop(timeout=60) == 0, first.log()
    pubsub.publish("audit-logs", entry(2, KMS, "DestroyCryptoKeyVersion", None))  # while down
    second = start_lanner(cfg, [GCP_RULES], tmp_path / "second.err", pubsub)
    try:
        again = second.take(1, settle=2.0, timeout=90)
        wait_until(lambda: pubsub.pending("falco-sub") == 0, 30, "the ack")
    finally:
        assert second.stop(timeout=60) == 0, second.log()
    assert [a["rule"] for a in again] == ["GCP KMS deleted"]  # not the bucket again
    assert [attempt for _mid, attempt in pubsub.deliveries] == [1, 1]


def test_missing_subscription_stops_the_input_with_a_clear_error(
    tmp_path: Path, pubsub: PubSubDouble
) -> None:
    cfg = write_config(tmp_path, "gcpaudit", {"project_id": "test-project"}, "no-such-sub")
    lanner = start_lanner(cfg, [GCP_RULES], tmp_path / "lanner.err", pubsub)
    code = lanner.stop(timeout=60) if lanner.proc.wait(60) is None else lanner.proc.returncode
    log = lanner.log()
    assert code == 1, log
    assert ("gcpaudit: subscription projects/test-project/subscriptions/no-such-sub: not found"
            in log), log  # fmt: skip
    assert "input(s) stopped on an error: gcpaudit" in log, log


def test_list_shows_the_plugin_fields() -> None:
    import subprocess
    import sys

    args = [sys.executable, "-c", "from lanner.cli import main; main()", "run", "--list"]
    out = subprocess.run([*args, "gcp_auditlog"], capture_output=True, text=True, check=True)
    text = out.stdout
    for name, desc in (("gcp.user", "GCP principal, actor of the action"),
                       ("gcp.policyDelta", "GCP service resource access policy delta"),
                       ("gcp.time", "Timestamp of the event in RFC3339 format")):  # fmt: skip
        assert name in text and desc in text, text
    assert text.count("gcp.") >= 25
