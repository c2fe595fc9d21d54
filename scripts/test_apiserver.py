"""Run the project's test Kubernetes API server (etcd + kube-apiserver on loopback, TLS,
tokens, RBAC; no scheduler or kubelet: pods are stored, never run) until stopped, for
demos and manual tries of `lanner respond` and the audit webhook.

Usage: .venv/bin/python scripts/test_apiserver.py DIR
Writes DIR/kubeconfig-admin (system:masters) once /readyz answers, then waits for
SIGTERM/SIGINT. The binaries come from scripts/build_kube_apiserver.sh (setup builds
them). The same code starts it for the tests (tests/deploy/apiserver.py).
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from deploy.apiserver import start  # the tests' implementation, the only one


def main() -> None:
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    server = start(folder)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        kubeconfig = server.kubeconfig("admin")
        print(f"kube-apiserver ready at {server.url}; kubeconfig {kubeconfig}", flush=True)
        stop.wait()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
