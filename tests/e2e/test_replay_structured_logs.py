"""`lanner run -e` recognises Kubernetes audit logs and CloudTrail files by their content."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

from helpers import shared_fixture

ROOT = Path(__file__).resolve().parents[2]
RULES = shared_fixture("rules")
LANNER = [sys.executable, "-c", "from lanner.cli import main; main()"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LANNER, "run", *args], capture_output=True, text=True, timeout=120)


def _audit_event(verb: str, resource: str, user: str, **extra: object) -> dict[str, object]:
    return {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "RequestResponse",
        "auditID": f"id-{verb}-{resource}",
        "stage": "ResponseComplete",
        "requestURI": f"/api/v1/namespaces/default/{resource}",
        "verb": verb,
        "user": {"username": user, "groups": ["system:authenticated"]},
        "sourceIPs": ["10.0.0.7"],
        "userAgent": "kubectl/v1.30.0",
        "objectRef": {
            "resource": resource,
            "namespace": "default",
            "apiVersion": "v1",
            "name": "creds",
        },
        "responseStatus": {"metadata": {}, "code": 201},
        "requestReceivedTimestamp": "2026-11-25T10:00:00.000000Z",
        "stageTimestamp": "2026-11-25T10:00:00.100000Z",
        "annotations": {
            "authorization.k8s.io/decision": "allow",
            "authorization.k8s.io/reason": "",
        },
        **extra,
    }


def test_k8s_audit_log_lines_replay_through_the_upstream_rules(tmp_path: Path) -> None:
    configmap = {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {"name": "creds", "namespace": "default"},
        "data": {"aws_access_key_id": "AKIAXXXXXXXXXXXXXXXX"},
    }
    lines = [
        _audit_event("create", "configmaps", "admin", requestObject=configmap),
        _audit_event("get", "pods", "minikube"),
    ]
    path = tmp_path / "audit.log"
    path.write_text("".join(json.dumps(e) + "\n" for e in lines) + "not an audit event\n")
    res = _run("-r", str(RULES / "k8s_audit_rules.yaml"), "-e", str(path))
    assert res.returncode == 0, res.stderr
    assert "Create/Modify Configmap With Private Credentials" in res.stdout
    assert "user=admin" in res.stdout
    assert "Events detected: 1" in res.stdout
    assert "audit.log:3" in res.stderr  # the bad line is reported with file and line


def test_cloudtrail_log_file_replays_through_the_upstream_rules(tmp_path: Path) -> None:
    record = {
        "eventVersion": "1.08",
        "eventTime": "2026-11-25T10:00:00Z",
        "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.4",
        "userIdentity": {
            "type": "Root",
            "arn": "arn:aws:iam::123456789012:root",
            "accountId": "123456789012",
            "principalId": "123456789012",
        },
        "responseElements": {"ConsoleLogin": "Success"},
        "additionalEventData": {"MFAUsed": "No"},
        "eventType": "AwsConsoleSignIn",
        "recipientAccountId": "123456789012",
        "eventID": "e1",
        "readOnly": False,
    }
    path = tmp_path / "123456789012_CloudTrail_us-east-1_20261125T1000Z_x.json.gz"
    path.write_bytes(gzip.compress(json.dumps({"Records": [record]}).encode()))
    res = _run("-r", str(RULES / "aws_cloudtrail_rules.yaml"), "-e", str(path))
    assert res.returncode == 0, res.stderr
    assert "Events detected: 1" in res.stdout, res.stdout
    assert "Console Login Without MFA" in res.stdout or "Console Root Login" in res.stdout
