"""Where the cloud and SaaS actions deliver their events (``RunContext.targets``):

- ``cloudtrail``: a CloudTrail log file (gzip JSON, CloudTrail's key layout) put into an
  S3 bucket and announced on an SQS queue as CloudTrail's SNS notification, which
  ``lanner run`` reads with ``open_params: sqs://QUEUE``;
- ``eks``: audit events as log events of ``/aws/eks/<cluster>/cluster``, stream
  ``kube-apiserver-audit-lanner-generate``, which the k8saudit-eks plugin polls;
- ``aks``: audit events as AKS's diagnostic settings send them to an Azure Event Hub
  (``{"records": [{"category": "kube-audit", "properties": {"log": ...}}]}``), which the
  k8saudit-aks plugin reads (Microsoft's client, azure-eventhub);
- ``github``: webhook deliveries signed with ``X-Hub-Signature-256`` as GitHub signs them;
- ``github_api``: a stand-in for GitHub's REST API the plugin fetches diffs and workflow
  files from (:mod:`.github_api_double`);
- ``okta``: a System Log API the okta plugin polls (:mod:`.okta_double`).

AWS through boto3 (endpoint, region and credentials from the SDK's settings, or
``--aws-endpoint``): point it at a test account or a local AWS API (moto), as these
writes are fake events.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import os
import threading
from datetime import UTC, datetime
from typing import Any

import httpx

from lanner.exceptions import ActionError, WebhookError

TARGET_OPTIONS = {
    "cloudtrail": "--cloudtrail-queue",
    "eks": "--eks-cluster",
    "aks": "--aks-eventhub",
    "github": "--github",
    "github_api": "--github-api-serve",
    "okta": "--okta-serve",
    "gcp": "--gcp-topic",  # lanner.services.generate.gcp_actions
}
ACCOUNT = "123456789012"  # the account the generated records name
EKS_STREAM = "kube-apiserver-audit-lanner-generate"


def aws_client(service: str, endpoint: str | None) -> Any:
    """A boto3 client; the region from AWS_REGION (else boto3's own settings)."""
    import boto3

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return boto3.client(service, endpoint_url=endpoint or None, region_name=region)


class TrailTarget:
    """Puts CloudTrail log files into ``bucket`` and notifies ``queue`` of each."""

    def __init__(self, bucket: str, queue: str, endpoint: str | None = None) -> None:
        self.bucket = bucket
        self.s3 = aws_client("s3", endpoint)
        self.sqs = aws_client("sqs", endpoint)
        try:
            self.queue_url = self.sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        except Exception as exc:  # botocore's errors
            raise ActionError(f"--cloudtrail-queue {queue}: {exc}") from None

    def deliver(self, records: list[dict[str, Any]], marker: str) -> str:
        """One log file with ``records``; its key."""
        now = datetime.now(UTC)
        region = records[0].get("awsRegion", "us-east-1") if records else "us-east-1"
        key = (f"AWSLogs/{ACCOUNT}/CloudTrail/{region}/{now:%Y/%m/%d}/"
               f"{ACCOUNT}_CloudTrail_{region}_{now:%Y%m%dT%H%MZ}_{marker}.json.gz")  # fmt: skip
        body = gzip.compress(json.dumps({"Records": records}).encode())
        note = {"s3Bucket": self.bucket, "s3ObjectKey": [key]}
        message = {"Type": "Notification", "Message": json.dumps(note)}
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
            self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(message))
        except Exception as exc:
            raise ActionError(f"cloudtrail delivery to s3://{self.bucket}: {exc}") from None
        return key


class EksTarget:
    """Writes audit events into an EKS cluster's CloudWatch log group."""

    def __init__(self, cluster: str, endpoint: str | None = None) -> None:
        self.group = f"/aws/eks/{cluster}/cluster"
        self.logs = aws_client("logs", endpoint)
        self._lock = threading.Lock()
        self._ready = False

    def _prepare(self) -> None:
        groups = self.logs.describe_log_groups(logGroupNamePrefix=self.group)["logGroups"]
        if not any(g["logGroupName"] == self.group for g in groups):
            self.logs.create_log_group(logGroupName=self.group)
        streams = self.logs.describe_log_streams(
            logGroupName=self.group, logStreamNamePrefix=EKS_STREAM
        )["logStreams"]
        if not any(s["logStreamName"] == EKS_STREAM for s in streams):
            self.logs.create_log_stream(logGroupName=self.group, logStreamName=EKS_STREAM)
        self._ready = True

    def put(self, events: list[dict[str, Any]]) -> None:
        """One log event per audit event, as EKS writes them."""
        now = int(datetime.now(UTC).timestamp() * 1000)
        records = [{"timestamp": now, "message": json.dumps(e)} for e in events]
        try:
            with self._lock:
                if not self._ready:
                    self._prepare()
                self.logs.put_log_events(
                    logGroupName=self.group, logStreamName=EKS_STREAM, logEvents=records
                )
        except Exception as exc:
            raise WebhookError(f"CloudWatch Logs {self.group}: {exc}") from None


class AksTarget:
    """Sends audit events to an Azure Event Hub as AKS's diagnostic settings do."""

    def __init__(self, connection_string: str, hub: str | None = None) -> None:
        from azure.eventhub import EventHubProducerClient

        try:
            self.producer = EventHubProducerClient.from_connection_string(
                connection_string, eventhub_name=hub or None
            )
        except (ValueError, TypeError) as exc:
            raise ActionError(f"--aks-eventhub: {exc}") from None
        self.hub = hub or "(the connection string's EntityPath)"
        self._lock = threading.Lock()

    def put(self, events: list[dict[str, Any]]) -> None:
        """One Event Hubs event whose records carry the audit events, in order."""
        from azure.eventhub import EventData

        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        records = [
            {"category": "kube-audit", "operationName": "Microsoft.ContainerService/"
             "managedClusters/diagnosticLogs/Read", "time": now,
             "properties": {"log": json.dumps(e), "stream": "stdout", "pod": "lanner-generate"}}
            for e in events
        ]  # fmt: skip
        try:
            with self._lock:
                self.producer.send_batch([EventData(json.dumps({"records": records}))])
        except Exception as exc:  # azure-eventhub's errors
            raise WebhookError(f"Event Hub {self.hub}: {type(exc).__name__}: {exc}") from None


class GithubTarget:
    """Posts webhook deliveries to ``url``, signed with ``secret``, about ``repo``."""

    def __init__(self, url: str, secret: str, repo: str) -> None:
        if repo.count("/") != 1:
            raise ActionError(f"--github-repo {repo!r}: expected OWNER/NAME")
        self.url, self.secret, self.repo = url, secret.encode(), repo
        self.deliveries = 0

    def post(self, kind: str, payload: dict[str, Any], timeout: float = 10.0) -> None:
        body = json.dumps(payload).encode()
        digest = hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        self.deliveries += 1
        headers = {
            "X-GitHub-Event": kind,
            "X-GitHub-Delivery": f"lanner-generate-{self.deliveries}",
            "X-Hub-Signature-256": f"sha256={digest}",
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/lanner-generate",
        }
        try:
            resp = httpx.post(self.url, content=body, headers=headers, timeout=timeout)
        except httpx.HTTPError as exc:
            raise WebhookError(f"{self.url}: {exc}") from None
        if resp.status_code >= 300:
            raise WebhookError(f"{self.url}: HTTP {resp.status_code} {resp.text[:200]}")
