"""Where forensic artifacts go (Falco Talon's `output:` of an action): a local folder
(`local:file`), an S3 bucket (`aws:s3`), a MinIO / S3-compatible bucket (`minio:s3`) or a
Google Cloud Storage bucket (`gcp:gcs`).

An artifact (container logs, a file copied out of a container) is stored under a key made
of the time, the namespace and pod (or the node) and the artifact's name, as Talon names
them, so a folder or bucket prefix of artifacts sorts by time. S3 credentials come from
Talon's config (`aws:` region/access_key/secret_key, `minio:` endpoint/access_key/
secret_key/use_ssl), else boto3's usual chain (environment, shared files, instance role).
GCS credentials come from Talon's `gcp.credentials_path` (a service account key file, or its
JSON text as Talon reads that key), else Google's application default credentials;
`STORAGE_EMULATOR_HOST` points the client at an emulator.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

OUTPUT_TARGETS = ("local:file", "aws:s3", "minio:s3", "gcp:gcs")
# parameters of each target (required ones first)
_PARAMS = {
    "local:file": (("destination",), ()),
    "aws:s3": (("bucket",), ("prefix", "region")),
    "minio:s3": (("bucket",), ("prefix",)),
    "gcp:gcs": (("bucket",), ("prefix",)),
}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def check_output(output: Any) -> str | None:
    """What is wrong with an action's `output` mapping, or None."""
    if not isinstance(output, dict):
        return "must be a mapping with 'target' and 'parameters'"
    unknown = set(output) - {"target", "parameters"}
    if unknown:
        return f"unknown keys {', '.join(sorted(unknown))}"
    target = output.get("target")
    if target not in OUTPUT_TARGETS:
        return f"unknown target {target!r}"
    params = output.get("parameters")
    if not isinstance(params, dict) or not params:
        return "missing 'parameters' for the output"
    required, optional = _PARAMS[target]
    unknown = set(params) - set(required) - set(optional)
    if unknown:
        return f"{target}: unknown parameters {', '.join(sorted(unknown))}"
    for key in required:
        if not isinstance(params.get(key), str) or not params[key]:
            return f"{target} needs '{key}'"
    return None


def object_key(name: str, objects: dict[str, str], now: float | None = None) -> str:
    """time_namespace_pod_name (or time_node_name): a flat, file-system-safe key."""
    stamp = time.strftime("%Y-%m-%dT%H-%M-%SZ", time.gmtime(now))
    parts = [stamp]
    if objects.get("namespace") and objects.get("pod"):
        parts += [objects["namespace"], objects["pod"]]
    elif objects.get("node"):
        parts.append(objects["node"])
    parts.append(name.replace("/", "_"))
    return _UNSAFE.sub("_", "_".join(parts)).lstrip(".")


def store(
    output: dict[str, Any],
    name: str,
    objects: dict[str, str],
    data: bytes,
    settings: dict[str, Any] | None = None,
) -> str:
    """Write an artifact to its output; returns where it went. Raises OSError (S3 errors
    included). `settings`: Talon's config sections, {"aws": {...}, "minio": {...}}."""
    target = output.get("target", "local:file")
    if target in ("aws:s3", "minio:s3"):
        conf = (settings or {}).get("minio" if target == "minio:s3" else "aws") or {}
        return _put_s3(target, output["parameters"], object_key(name, objects), data, conf)
    if target == "gcp:gcs":
        conf = (settings or {}).get("gcp") or {}
        return _put_gcs(output["parameters"], object_key(name, objects), data, conf)
    folder = Path(output["parameters"]["destination"])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / object_key(name, objects)
    # O_EXCL: never follow or overwrite a file someone placed at that name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return str(path)


def _put_s3(
    target: str, params: dict[str, Any], key: str, data: bytes, conf: dict[str, Any]
) -> str:
    """PUT the object with boto3 (prefix as Talon: no leading slash, one trailing slash)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    prefix = str(params.get("prefix") or "").strip("/")
    full_key = f"{prefix}/{key}" if prefix else key
    kwargs: dict[str, Any] = {}
    if conf.get("access_key"):
        kwargs["aws_access_key_id"] = conf["access_key"]
        kwargs["aws_secret_access_key"] = conf.get("secret_key", "")
    if target == "minio:s3":
        if not conf.get("endpoint"):
            raise OSError("minio:s3 needs minio.endpoint in the Talon config (--config)")
        scheme = "https" if conf.get("use_ssl") else "http"
        endpoint = str(conf["endpoint"])
        kwargs["endpoint_url"] = endpoint if "://" in endpoint else f"{scheme}://{endpoint}"
        kwargs["region_name"] = conf.get("region") or "us-east-1"
    else:
        region = params.get("region") or conf.get("region")
        if region:
            kwargs["region_name"] = region
    try:
        boto3.client("s3", **kwargs).put_object(Bucket=params["bucket"], Key=full_key, Body=data)
    except (BotoCoreError, ClientError) as exc:
        raise OSError(f"{target} s3://{params['bucket']}/{full_key}: {exc}") from exc
    return f"s3://{params['bucket']}/{full_key}"


def gcp_credentials(conf: dict[str, Any]) -> Any:
    """Credentials from Talon's gcp.credentials_path (a key file, or the key's JSON text),
    or None for Google's default chain. Raises OSError for an unreadable key."""
    source = str(conf.get("credentials_path") or "").strip()
    if not source:
        return None
    import json

    from google.oauth2 import service_account

    try:
        text = source if source.startswith("{") else Path(source).read_text(encoding="utf-8")
        return service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            json.loads(text), scopes=["https://www.googleapis.com/auth/cloud-platform"]
        )
    except (OSError, ValueError) as exc:
        where = "gcp.credentials_path" + ("" if source.startswith("{") else f" {source}")
        raise OSError(f"{where}: not a service account key: {exc}") from exc


def _put_gcs(params: dict[str, Any], key: str, data: bytes, conf: dict[str, Any]) -> str:
    """Upload the object with google-cloud-storage (prefix as for S3)."""
    from google.api_core.exceptions import GoogleAPICallError
    from google.auth.exceptions import GoogleAuthError
    from google.cloud import storage  # type: ignore[attr-defined]

    prefix = str(params.get("prefix") or "").strip("/")
    full_key = f"{prefix}/{key}" if prefix else key
    where = f"gs://{params['bucket']}/{full_key}"
    try:
        client = storage.Client(credentials=gcp_credentials(conf))
        blob = client.bucket(params["bucket"]).blob(full_key)
        # if_generation_match=0: never overwrite an artifact already stored under that key
        blob.upload_from_string(data, if_generation_match=0)
    except (GoogleAPICallError, GoogleAuthError, ValueError) as exc:
        raise OSError(f"gcp:gcs {where}: {exc}") from exc
    return where
