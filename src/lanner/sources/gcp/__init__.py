"""Google Cloud sources: the ``gcp_auditlog`` source (Falco's gcpaudit plugin: Cloud Audit
Logs from a Pub/Sub subscription, the ``gcp.*`` fields) and the Pub/Sub reader it shares
with the k8saudit-gke plugin (:mod:`lanner.sources.gcp.pubsub`)."""

from lanner.sources.gcp.source import SOURCE_NAME, gcp_audit_source

__all__ = ["SOURCE_NAME", "gcp_audit_source"]
