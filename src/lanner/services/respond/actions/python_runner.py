"""Child-process side of the `python` action: load the file, call the function once.

Reads {"event": ..., "context": ...} on stdin; anything the function prints goes to stderr;
the last stdout line is {"ok": bool, "return": ..., "error": ...}.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback
from typing import Any


def _in_cluster_files() -> None:
    """With the python action's ``in_cluster``, the service-account token and CA files the
    official client reads in a pod are the ones respond wrote (the function is unchanged)."""
    token, ca = (
        os.environ.get("LANNER_FUNCTION_TOKEN_FILE"),
        os.environ.get("LANNER_FUNCTION_CA_FILE"),
    )
    if not token:
        return
    from kubernetes.config import incluster_config

    incluster_config.SERVICE_TOKEN_FILENAME = token
    if ca:
        incluster_config.SERVICE_CERT_FILENAME = ca


def main(argv: list[str]) -> int:
    """Run the function named argv[1] from the file argv[0]."""
    path, function = argv
    payload = json.load(sys.stdin)
    _in_cluster_files()
    real_stdout = sys.stdout
    sys.stdout = sys.stderr
    verdict: dict[str, Any]
    try:
        spec = importlib.util.spec_from_file_location("lanner_respond_function", path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        handler = getattr(module, function, None)
        if not callable(handler):
            raise AttributeError(f"{path} has no function {function!r}")
        result = handler(payload["event"], payload["context"])
        verdict = {"ok": True, "return": _jsonable(result)}
    except BaseException as exc:  # report everything, including SystemExit
        traceback.print_exc()
        verdict = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        sys.stdout = real_stdout
    print(json.dumps(verdict), flush=True)
    return 0 if verdict["ok"] else 1


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
