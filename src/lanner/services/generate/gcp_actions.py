"""Google Cloud actions: Cloud Audit Log entries for upstream Falco's
gcp_auditlog_rules.yaml, and GKE audit entries for the k8s audit actions, published to a
Pub/Sub topic with Google's publisher client as a logs routing sink does; ``lanner run``
reads them with the gcpaudit or k8saudit-gke plugin from a subscription of that topic.

- ``--gcp-topic projects/P/topics/T``: each gcpaudit action publishes the entry of the API
  call its rule watches, by a principal named after the run's marker (every rule's output
  shows ``user=%gcp.user``);
- ``--gke-topic projects/P/topics/T``: the k8s audit actions' events are published as the
  GKE audit entries the k8saudit-gke plugin rebuilds them from, instead of being posted
  to the webhook (:meth:`GcpTopic.put`).

The client takes its credentials as every Google client (Application Default Credentials;
``PUBSUB_EMULATOR_HOST`` for an emulator): point it at a test project or an emulator, as
these are fake events.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from lanner.exceptions import ActionError, WebhookError
from lanner.services.generate.action import Action, Outcome, RunContext, token

Entry = dict[str, Any]
ACTIVITY = "logs/cloudaudit.googleapis.com%2Factivity"
AUDIT_LOG = "type.googleapis.com/google.cloud.audit.AuditLog"


class GcpTopic:
    """Publishes messages to a Pub/Sub topic (``projects/P/topics/T``)."""

    def __init__(self, topic: str, option: str = "--gcp-topic") -> None:
        parts = topic.split("/")
        if len(parts) != 4 or parts[0] != "projects" or parts[2] != "topics":
            raise ActionError(f"{option} {topic!r}: expected projects/PROJECT/topics/TOPIC")
        try:
            from google.cloud import pubsub_v1  # type: ignore[attr-defined]

            self.client = pubsub_v1.PublisherClient()
        except Exception as exc:  # no google-cloud-pubsub, no credentials
            raise ActionError(f"{option} {topic}: {exc}") from None
        self.topic, self.project, self.option = topic, parts[1], option

    def publish(self, *entries: Entry, timeout: float = 30.0) -> list[str]:
        """Publish each entry as one JSON message; their message ids."""
        try:
            futures = [self.client.publish(self.topic, json.dumps(e).encode()) for e in entries]
            return [f.result(timeout=timeout) for f in futures]
        except Exception as exc:  # google.api_core's errors, a timeout
            raise WebhookError(f"{self.option} {self.topic}: {exc}") from None

    def put(self, events: list[dict[str, Any]]) -> None:
        """The k8s audit actions' events, as GKE audit entries."""
        self.publish(*(gke_entry(e, self.project) for e in events))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def audit_entry(
    marker: str,
    service: str,
    method: str,
    resource: tuple[str, dict[str, str]],
    deltas: list[dict[str, str]] | None = None,
) -> Entry:
    """The Cloud Audit Log entry of ``method`` of ``service`` called by ``marker``."""
    rtype, labels = resource
    payload: Entry = {
        "@type": AUDIT_LOG, "status": {}, "serviceName": service, "methodName": method,
        "authenticationInfo": {"principalEmail": f"{marker}@lanner-generate.example"},
        "requestMetadata": {"callerIp": "198.51.100.7",
                            "callerSuppliedUserAgent": "lanner-generate"},
        "authorizationInfo": [{"permission": method, "granted": True, "resourceAttributes": {}}],
        "resourceName": f"projects/_/lanner-generate/{marker}",
        "request": {"@type": f"type.googleapis.com/{method}", "name": marker},
    }  # fmt: skip
    if deltas is not None and rtype == "gcs_bucket":
        payload["serviceData"] = {"policyDelta": {"bindingDeltas": deltas}}
    elif deltas is not None:
        payload["metadata"] = {"datasetChange": {"bindingDeltas": deltas}}
    now = _now()
    return {"protoPayload": payload, "insertId": marker, "timestamp": now,
            "receiveTimestamp": now, "severity": "NOTICE",
            "resource": {"type": rtype, "labels": {"project_id": "lanner-generate", **labels}},
            "logName": f"projects/lanner-generate/{ACTIVITY}"}  # fmt: skip


def gke_entry(event: dict[str, Any], project: str) -> Entry:
    """A k8s audit event as the GKE audit entry the k8saudit-gke plugin reads: what
    GKE keeps of it (verb, object, user, source IP, request and response objects;
    not the user's groups nor the response code)."""
    ref = event.get("objectRef") or {}
    group, version = ref.get("apiGroup") or "core", ref.get("apiVersion") or "v1"
    parts = [group, version]
    if ref.get("namespace"):
        parts += ["namespaces", ref["namespace"]]
    parts += [p for p in (ref.get("resource"), ref.get("name"), ref.get("subresource")) if p]
    method = ".".join(p for p in ("io.k8s", group, version, ref.get("resource"),
                                  ref.get("subresource"), event.get("verb")) if p)  # fmt: skip
    payload: Entry = {
        "@type": AUDIT_LOG, "serviceName": "k8s.io", "methodName": method,
        "resourceName": "/".join(parts),
        "authenticationInfo": {"principalEmail": (event.get("user") or {}).get("username", "")},
        "requestMetadata": {"callerIp": (event.get("sourceIPs") or [""])[0],
                            "callerSuppliedUserAgent": event.get("userAgent", "")},
    }  # fmt: skip
    for key, name in (("requestObject", "request"), ("responseObject", "response")):
        if isinstance(event.get(key), dict):
            payload[name] = event[key]
    now = _now()
    return {"protoPayload": payload, "insertId": event.get("auditID") or token(),
            "timestamp": now, "receiveTimestamp": now, "labels": event.get("annotations") or {},
            "resource": {"type": "k8s_cluster", "labels": {
                "cluster_name": "lanner-generate", "location": "europe-west1",
                "project_id": project}},
            "logName": f"projects/{project}/{ACTIVITY}"}  # fmt: skip


PUBLIC = [{"action": "ADD", "member": "allUsers", "role": "roles/storage.objectViewer"}]
SQL, GCS, BQ, GCE = ("cloudsql.googleapis.com", "storage.googleapis.com",
                     "bigquery.googleapis.com", "compute.googleapis.com")  # fmt: skip
IAM, CRM, GCF, KMS = ("iam.googleapis.com", "cloudresourcemanager.googleapis.com",
                      "cloudfunctions.googleapis.com", "cloudkms.googleapis.com")  # fmt: skip
PUBSUB, LOGGING = "pubsub.googleapis.com", "logging.googleapis.com"
ADMIN, FUNCTIONS = "google.iam.admin.v1.", "google.cloud.functions.v1.CloudFunctionsService."
RESOURCES = {
    SQL: ("cloudsql_database", {"database_id": "lanner-generate:db", "region": "europe-west1"}),
    GCS: ("gcs_bucket", {"bucket_name": "lanner-generate", "location": "eu"}),
    BQ: ("bigquery_dataset", {"dataset_id": "lanner_generate"}),
    GCE: ("gce_instance", {"instance_id": "1", "zone": "europe-west1-b"}),
    IAM: ("service_account", {"email_id": "gen@lanner-generate.iam.gserviceaccount.com"}),
    CRM: ("project", {}),
    GCF: ("cloud_function", {"function_name": "lanner-generate", "region": "europe-west1"}),
    KMS: ("cloudkms_keyring", {"location": "global"}),
    PUBSUB: ("pubsub_topic", {"topic_id": "lanner-generate"}),
    LOGGING: ("logging_sink", {"name": "lanner-generate"}),
}

# action name, rule, description, service, method, binding deltas
_CALLS: list[tuple[str, str, str, str, str, list[dict[str, str]] | None]] = [
    ("gcp_sql_user_deleted", "GCP Cloud SQL database user modified or deleted",
     "A Cloud SQL user deleted", SQL, "cloudsql.users.delete", None),
    ("gcp_sql_backup_deleted", "GCP Cloud SQL database backup deleted",
     "A Cloud SQL backup deleted", SQL, "cloudsql.backupRuns.delete", None),
    ("gcp_sql_exported", "GCP Cloud SQL database instance data exported",
     "A Cloud SQL instance exported", SQL, "cloudsql.instances.export", None),
    ("gcp_sql_instance_deleted", "GCP Cloud SQL database instance deleted",
     "A Cloud SQL instance deleted", SQL, "cloudsql.instances.delete", None),
    ("gcp_sql_instance_patched", "GCP Cloud SQL database instance modified or created",
     "A Cloud SQL instance patched", SQL, "cloudsql.instances.patch", None),
    ("gcp_bucket_made_public", "GCP Bucket configured to be public",
     "allUsers granted on a bucket", GCS, "storage.setIamPermissions", PUBLIC),
    ("gcp_bucket_objects_made_public", "GCP Bucket objects configured to be public",
     "allUsers granted on objects", GCS, "storage.objects.update", PUBLIC),
    ("gcp_buckets_listed", "GCP Bucket enumerated", "Buckets listed", GCS,
     "storage.buckets.list", None),
    ("gcp_bucket_deleted", "GCP Bucket deleted", "A bucket deleted", GCS,
     "storage.buckets.delete", None),
    ("gcp_bucket_updated", "GCP Bucket updated", "A bucket updated", GCS,
     "storage.buckets.update", None),
    ("gcp_bucket_permissions_changed", "GCP Bucket permissions modified",
     "A bucket's IAM policy set", GCS, "storage.setIamPermissions", None),
    ("gcp_bigquery_made_public", "GCP BigQuery Dataset access configured to be public",
     "allUsers granted on a dataset", BQ, "google.iam.v1.IAMPolicy.SetIamPolicy", PUBLIC),
    ("gcp_vm_modified", "GCP VM modified", "A VM's service account set", GCE,
     "v1.compute.instances.setServiceAccount", None),
    ("gcp_vm_stopped", "GCP VM stopped", "A VM stopped", GCE, "v1.compute.instances.stop", None),
    ("gcp_firewall_modified", "GCP GCE Firewall rule modified", "A firewall rule inserted",
     GCE, "v1.compute.firewalls.insert", None),
    ("gcp_waf_policy_modified", "GCP WAF Network policy modified",
     "A security policy deleted", GCE, "v1.compute.securityPolicies.delete", None),
    ("gcp_waf_rule_modified", "GCP WAF rule modified or deleted", "A WAF rule removed", GCE,
     "v1.compute.securityPolicies.removeRule", None),
    ("gcp_edge_security_modified", "GCP CloudArmor edge security service modified",
     "An edge security service updated", GCE,
     "v1.compute.networkEdgeSecurityServices.update", None),
    ("gcp_backend_service_deleted", "GCP backend service deleted",
     "A backend service deleted", GCE, "v1.compute.backendServices.delete", None),
    ("gcp_service_account_created", "GCP IAM service account created",
     "A service account created", IAM, ADMIN + "CreateServiceAccount", None),
    ("gcp_service_account_deleted", "GCP IAM service account deleted",
     "A service account deleted", IAM, ADMIN + "DeleteServiceAccount", None),
    ("gcp_service_account_modified", "GCP IAM service account modified",
     "A service account updated", IAM, ADMIN + "UpdateServiceAccount", None),
    ("gcp_service_account_key_created", "GCP IAM service account key created",
     "A service account key created", IAM, ADMIN + "CreateServiceAccountKey", None),
    ("gcp_service_account_key_deleted", "GCP IAM service account key deleted",
     "A service account key deleted", IAM, ADMIN + "DeleteServiceAccountKey", None),
    ("gcp_custom_role_created", "GCP IAM custom role created", "A custom role created", IAM,
     ADMIN + "CreateRole", None),
    ("gcp_custom_role_modified", "GCP IAM custom role modified", "A custom role updated", IAM,
     ADMIN + "UpdateRole", None),
    ("gcp_iam_policy_modified", "GCP IAM policy modified", "A project's IAM policy set", CRM,
     "SetIamPolicy", None),
    ("gcp_function_created", "GCP cloud function created", "A cloud function created", GCF,
     FUNCTIONS + "CreateFunction", None),
    ("gcp_function_deleted", "GCP cloud function deleted", "A cloud function deleted", GCF,
     FUNCTIONS + "DeleteFunction", None),
    ("gcp_function_modified", "GCP cloud function modified", "A cloud function updated", GCF,
     FUNCTIONS + "UpdateFunction", None),
    ("gcp_kms_keyring_created", "GCP KMS keyring created", "A KMS key ring created", KMS,
     "CreateKeyRing", None),
    ("gcp_kms_key_created", "GCP KMS created", "A KMS key created", KMS, "CreateCryptoKey",
     None),
    ("gcp_kms_key_updated", "GCP KMS updated", "A KMS key updated", KMS, "UpdateCryptoKey",
     None),
    ("gcp_kms_key_destroyed", "GCP KMS deleted", "A KMS key version destroyed", KMS,
     "DestroyCryptoKeyVersion", None),
    ("gcp_topic_deleted", "GCP Pub/Sub topic deleted", "A Pub/Sub topic deleted", PUBSUB,
     "google.pubsub.v1.Publisher.DeleteTopic", None),
    ("gcp_subscription_modified", "GCP Pub/Sub subscription modified",
     "A Pub/Sub subscription updated", PUBSUB,
     "google.pubsub.v1.Subscriber.UpdateSubscription", None),
    ("gcp_subscription_deleted", "GCP Pub/Sub subscription deleted",
     "A Pub/Sub subscription deleted", PUBSUB,
     "google.pubsub.v1.Subscriber.DeleteSubscription", None),
    ("gcp_logging_sink_modified", "GCP logging sink modified", "A logging sink updated",
     LOGGING, "google.logging.v2.ConfigServiceV2.UpdateSink", None),
    ("gcp_logging_sink_deleted", "GCP logging sink deleted", "A logging sink deleted",
     LOGGING, "google.logging.v2.ConfigServiceV2.DeleteSink", None),
]  # fmt: skip


def _publish(
    service: str, method: str, deltas: list[dict[str, str]] | None
) -> Callable[[RunContext], Outcome]:
    def act(ctx: RunContext) -> Outcome:
        out = Outcome(token())
        entry = audit_entry(out.marker, service, method, RESOURCES[service], deltas)
        out.effects["message_ids"] = ctx.targets["gcp"].publish(entry, timeout=ctx.timeout)
        out.effects["entry"] = entry
        return out

    return act


ACTIONS: list[Action] = [
    Action(name, rule, description, False, _publish(service, method, deltas), "gcp_auditlog",
           ruleset="falco", target="gcp")
    for name, rule, description, service, method, deltas in _CALLS
]  # fmt: skip
