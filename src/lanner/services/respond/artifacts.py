"""Where forensic artifacts go (Falco Talon's `output:` of an action): a local folder.

An artifact (container logs, a file copied out of a container) is stored under a key made
of the time, the namespace and pod (or the node) and the artifact's name, as Talon names
them, so a folder of artifacts sorts by time.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

OUTPUT_TARGETS = ("local:file",)
# Talon targets Lanner reads but cannot write to yet: refused at load time, with this reason
NOT_AVAILABLE = {
    "aws:s3": "S3 uploads are not available in Lanner yet",
    "minio:s3": "MinIO uploads are not available in Lanner yet",
    "gcp:gcs": "GCS uploads are not available in Lanner yet",
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
    if target in NOT_AVAILABLE:
        return f"target {target}: {NOT_AVAILABLE[target]}"
    if target not in OUTPUT_TARGETS:
        return f"unknown target {target!r}"
    params = output.get("parameters")
    if not isinstance(params, dict) or not params:
        return "missing 'parameters' for the output"
    if set(params) - {"destination"}:
        return f"local:file takes only 'destination', not {', '.join(sorted(set(params)))}"
    if not isinstance(params.get("destination"), str) or not params["destination"]:
        return "local:file needs 'destination' (a folder)"
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


def store(output: dict[str, Any], name: str, objects: dict[str, str], data: bytes) -> str:
    """Write an artifact to its output; returns where it went. Raises OSError."""
    folder = Path(output["parameters"]["destination"])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / object_key(name, objects)
    # O_EXCL: never follow or overwrite a file someone placed at that name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return str(path)
