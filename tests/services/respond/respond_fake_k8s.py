"""A small fake Kubernetes API server for the respond tests (NOT a real cluster).

It speaks the real REST paths, verbs, content types and object shapes the respond actions
use, so the official `kubernetes` client can be pointed at it through a kubeconfig:

- core/v1 pods: get, list (labelSelector), strategic-merge / merge patch, delete
  (gracePeriodSeconds in the query or a DeleteOptions body), eviction subresource, and
  exec over a websocket speaking the `v4.channel.k8s.io` subprotocol;
- core/v1 nodes: get, list, patch;
- networking.k8s.io/v1 networkpolicies: list, create, get, replace, delete;
- apps/v1 deployments (get, patch), their scale subresource (get, patch), replicasets (get);
- the pods' `ephemeralcontainers` subresource as from Kubernetes 1.22 (a strategic-merge
  patch of a Pod adding `spec.ephemeralContainers`, answered with the Pod);
- batch/v1 jobs: create, get, delete (no controller: `on_job` may play one).

Errors are real `Status` objects (401, 404, 409 AlreadyExists/Conflict, 415, 429, 400).
resourceVersion is bumped on each write and checked when a patch or PUT carries one.
Simplifications: strategic-merge patches replace lists wholesale (like a merge patch) and
`$patch` directives are rejected; exec does not run anything, it calls `exec_handler`;
nothing runs an ephemeral container or a Job's pod unless a test's `on_ephemeral` /
`on_job` hook sets the status a kubelet would.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import struct
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from helpers import free_port  # noqa: F401 - re-exported

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SMP = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"

ExecHandler = Callable[[str, str, str, list[str]], tuple[str | bytes, str, int]]


@dataclass
class Request:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str
    body: Any


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status(code: int, reason: str, message: str, name: str = "", kind: str = "") -> dict:
    """A metav1.Status failure object."""
    out: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if name or kind:
        out["details"] = {"name": name, "kind": kind}
    return out


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _has_directive(patch: Any) -> bool:
    if isinstance(patch, dict):
        return any(k.startswith("$") for k in patch) or any(
            _has_directive(v) for v in patch.values()
        )
    if isinstance(patch, list):
        return any(_has_directive(v) for v in patch)
    return False


def _selector_matches(selector: str, labels: dict[str, str]) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


class ApiError(Exception):
    """Raised inside handlers to answer with a Status object."""

    def __init__(self, body: dict) -> None:
        super().__init__(body["message"])
        self.body = body


class FakeKube:
    """The fake cluster state plus its HTTP server."""

    def __init__(self, token: str = "fake-token") -> None:
        self.token = token
        self.objects: dict[str, dict[tuple[str, str], dict]] = {
            "pods": {},
            "nodes": {},
            "networkpolicies": {},
            "deployments": {},
            "replicasets": {},
            "jobs": {},
        }
        # called (under the lock) when an ephemeral container is added / a Job created
        self.on_ephemeral: Callable[[dict, dict], None] = lambda pod, container: None
        self.on_job: Callable[[dict], None] = lambda job: None
        self.requests: list[Request] = []
        self.execs: list[dict[str, Any]] = []
        self.pdb_blocked: set[tuple[str, str]] = set()
        self.fail_next: list[tuple[str, str, int]] = []  # (method, path regex, status)
        self.exec_handler: ExecHandler = lambda ns, pod, container, argv: ("", "", 0)
        self._rv = 1000
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # ----- lifecycle -------------------------------------------------------------------
    def start(self) -> str:
        """Serve on a free loopback port; returns the base URL."""
        fake = self

        class Handler(_Handler):
            kube = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self.url

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        """Shut the server down."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def write_kubeconfig(self, path: Path) -> Path:
        """A kubeconfig pointing at this server with a bearer token."""
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                    "users": [{"name": "fake", "user": {"token": self.token}}],
                    "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
                    "current-context": "fake",
                }
            )
        )
        return path

    # ----- state helpers ---------------------------------------------------------------
    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _stamp(self, obj: dict, namespace: str | None) -> dict:
        meta = obj.setdefault("metadata", {})
        if namespace is not None:
            meta["namespace"] = namespace
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", _now())
        meta["resourceVersion"] = self._next_rv()
        return obj

    def put(self, resource: str, obj: dict) -> dict:
        """Store an object directly (test set-up)."""
        with self._lock:
            ns = obj.get("metadata", {}).get("namespace", "")
            self._stamp(obj, ns or None)
            self.objects[resource][(ns, obj["metadata"]["name"])] = obj
            return obj

    def get(self, resource: str, namespace: str, name: str) -> dict | None:
        """A stored object (a deep copy), or None."""
        with self._lock:
            obj = self.objects[resource].get((namespace, name))
            return copy.deepcopy(obj)

    def add_pod(
        self,
        namespace: str,
        name: str,
        labels: dict[str, str] | None = None,
        owner: tuple[str, str] | None = None,
        node: str = "node-1",
        containers: tuple[str, ...] = ("app",),
    ) -> dict:
        """A running pod, optionally controlled by (kind, name)."""
        meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels or {}}
        if owner:
            api = "apps/v1" if owner[0] in ("ReplicaSet", "DaemonSet", "StatefulSet") else "v1"
            meta["ownerReferences"] = [
                {
                    "apiVersion": api,
                    "kind": owner[0],
                    "name": owner[1],
                    "uid": str(uuid.uuid4()),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ]
        return self.put(
            "pods",
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": meta,
                "spec": {
                    "nodeName": node,
                    "terminationGracePeriodSeconds": 30,
                    "containers": [{"name": c, "image": f"{c}:1"} for c in containers],
                },
                "status": {"phase": "Running"},
            },
        )

    def add_node(self, name: str, taints: list[dict] | None = None) -> dict:
        """A node, schedulable unless patched."""
        spec: dict[str, Any] = {}
        if taints:
            spec["taints"] = taints
        return self.put(
            "nodes",
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                "spec": spec,
                "status": {"conditions": [{"type": "Ready", "status": "True"}]},
            },
        )

    def add_deployment(
        self, namespace: str, name: str, replicas: int, labels: dict[str, str]
    ) -> tuple[dict, dict]:
        """A Deployment and its current ReplicaSet; returns both."""
        dep = self.put(
            "deployments",
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": dict(labels)},
                    "template": {
                        "metadata": {"labels": dict(labels)},
                        "spec": {"containers": [{"name": "app", "image": "app:1"}]},
                    },
                },
                "status": {"replicas": replicas},
            },
        )
        rs_name = f"{name}-5d8f7c9b4"
        rs = self.put(
            "replicasets",
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": rs_name,
                    "namespace": namespace,
                    "labels": {**labels, "pod-template-hash": "5d8f7c9b4"},
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "Deployment",
                            "name": name,
                            "uid": dep["metadata"]["uid"],
                            "controller": True,
                            "blockOwnerDeletion": True,
                        }
                    ],
                },
                "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)}},
            },
        )
        return dep, rs

    def writes(self) -> list[Request]:
        """Every request that was not a read."""
        return [r for r in self.requests if r.method not in ("GET", "HEAD")]


_ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^/api/v1/namespaces/([^/]+)/pods$"), "pods_coll"),
    (re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)$"), "pod"),
    (re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/eviction$"), "eviction"),
    (re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/exec$"), "exec"),
    (re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/ephemeralcontainers$"), "ephemeral"),
    (re.compile(r"^/apis/batch/v1/namespaces/([^/]+)/jobs$"), "jobs_coll"),
    (re.compile(r"^/apis/batch/v1/namespaces/([^/]+)/jobs/([^/]+)$"), "job"),
    (re.compile(r"^/api/v1/nodes$"), "nodes_coll"),
    (re.compile(r"^/api/v1/nodes/([^/]+)$"), "node"),
    (
        re.compile(r"^/apis/networking\.k8s\.io/v1/namespaces/([^/]+)/networkpolicies$"),
        "np_coll",
    ),
    (
        re.compile(r"^/apis/networking\.k8s\.io/v1/namespaces/([^/]+)/networkpolicies/([^/]+)$"),
        "np",
    ),
    (re.compile(r"^/apis/apps/v1/namespaces/([^/]+)/deployments/([^/]+)$"), "deployment"),
    (re.compile(r"^/apis/apps/v1/namespaces/([^/]+)/deployments/([^/]+)/scale$"), "scale"),
    (re.compile(r"^/apis/apps/v1/namespaces/([^/]+)/replicasets/([^/]+)$"), "replicaset"),
]

_KINDS = {
    "pods": ("v1", "Pod", "PodList"),
    "nodes": ("v1", "Node", "NodeList"),
    "networkpolicies": ("networking.k8s.io/v1", "NetworkPolicy", "NetworkPolicyList"),
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    kube: FakeKube

    def log_message(self, format: str, *args: Any) -> None:
        return

    # ----- plumbing --------------------------------------------------------------------
    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._send(400, status(400, "BadRequest", "request body is not JSON"))
            return
        kube = self.kube
        with kube._lock:
            kube.requests.append(Request(method, url.path, query, ctype, body))
        auth = self.headers.get("Authorization", "")
        if auth != f"Bearer {kube.token}":
            self._send(401, status(401, "Unauthorized", "Unauthorized"))
            return
        for i, (m, pattern, code) in enumerate(list(kube.fail_next)):
            if m == method and re.search(pattern, url.path):
                del kube.fail_next[i]
                self._send(code, status(code, "InternalError", "injected failure"))
                return
        for regex, name in _ROUTES:
            match = regex.match(url.path)
            if match:
                handler = getattr(self, f"_{name}_{method.lower()}", None)
                if handler is None:
                    self._send(
                        405,
                        status(405, "MethodNotAllowed", f"{method} is not supported here"),
                    )
                    return
                try:
                    with kube._lock:
                        code, out = handler(*match.groups(), query=query, body=body, ctype=ctype)
                except ApiError as exc:
                    self._send(exc.body["code"], exc.body)
                    return
                except Exception as exc:  # a bug in the fake: answer, do not hang up
                    self._send(500, status(500, "InternalError", f"fake bug: {exc!r}"))
                    return
                if out is not None:
                    self._send(code, out)
                return
        self._send(404, status(404, "NotFound", "the server could not find the requested resource"))

    def do_GET(self) -> None:
        if self.headers.get("Upgrade", "").lower() == "websocket":
            self._websocket()
            return
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # ----- generic object operations ---------------------------------------------------
    def _must(self, resource: str, ns: str, name: str) -> dict:
        obj = self.kube.objects[resource].get((ns, name))
        if obj is None:
            kind = resource
            raise ApiError(
                status(404, "NotFound", f'{kind} "{name}" not found', name=name, kind=kind)
            )
        return obj

    def _patch(self, resource: str, ns: str, name: str, body: Any, ctype: str) -> dict:
        obj = self._must(resource, ns, name)
        if ctype not in (SMP, MERGE):
            raise ApiError(
                status(415, "UnsupportedMediaType", f"the fake does not support {ctype!r}")
            )
        if not isinstance(body, dict):
            raise ApiError(status(400, "BadRequest", "patch body must be a JSON object"))
        if ctype == SMP and _has_directive(body):
            raise ApiError(status(400, "BadRequest", "the fake rejects $patch directives"))
        want_rv = (body.get("metadata") or {}).get("resourceVersion")
        if want_rv is not None and want_rv != obj["metadata"]["resourceVersion"]:
            raise ApiError(
                status(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {resource} "{name}": the object has'
                    " been modified; please apply your changes to the latest version and"
                    " try again",
                    name=name,
                    kind=resource,
                )
            )
        new = merge_patch(obj, body)
        new["metadata"]["resourceVersion"] = self.kube._next_rv()
        self.kube.objects[resource][(ns, name)] = new
        return new

    # ----- pods ------------------------------------------------------------------------
    def _pods_coll_get(self, ns: str, *, query: dict, **_: Any) -> tuple[int, dict]:
        selector = (query.get("labelSelector") or [""])[0]
        items = [
            copy.deepcopy(o)
            for (ons, _n), o in sorted(self.kube.objects["pods"].items())
            if ons == ns and _selector_matches(selector, o["metadata"].get("labels") or {})
        ]
        return 200, {
            "kind": "PodList",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": str(self.kube._rv)},
            "items": items,
        }

    def _pod_get(self, ns: str, name: str, **_: Any) -> tuple[int, dict]:
        return 200, self._must("pods", ns, name)

    def _pod_patch(self, ns: str, name: str, *, body: Any, ctype: str, **_: Any) -> tuple:
        return 200, self._patch("pods", ns, name, body, ctype)

    def _delete_pod(self, ns: str, name: str, grace: int | None) -> dict:
        pod = self._must("pods", ns, name)
        if grace is None:
            grace = int(pod["spec"].get("terminationGracePeriodSeconds", 30))
        if grace == 0:
            del self.kube.objects["pods"][(ns, name)]
            pod = copy.deepcopy(pod)
        else:
            pod["metadata"]["deletionTimestamp"] = _now()
            pod["metadata"]["deletionGracePeriodSeconds"] = grace
            pod["metadata"]["resourceVersion"] = self.kube._next_rv()
        return pod

    def _pod_delete(self, ns: str, name: str, *, query: dict, body: Any, **_: Any) -> tuple:
        grace: int | None = None
        if query.get("gracePeriodSeconds"):
            grace = int(query["gracePeriodSeconds"][0])
        elif isinstance(body, dict) and body.get("gracePeriodSeconds") is not None:
            grace = int(body["gracePeriodSeconds"])
        return 200, self._delete_pod(ns, name, grace)

    def _eviction_post(self, ns: str, name: str, *, body: Any, **_: Any) -> tuple:
        if not isinstance(body, dict) or body.get("kind") != "Eviction":
            raise ApiError(status(400, "BadRequest", "body must be an Eviction"))
        if (body.get("metadata") or {}).get("name") != name:
            raise ApiError(status(400, "BadRequest", "name in URL and Eviction differ"))
        self._must("pods", ns, name)
        if (ns, name) in self.kube.pdb_blocked:
            raise ApiError(
                status(
                    429,
                    "TooManyRequests",
                    "Cannot evict pod as it would violate the pod's disruption budget.",
                )
            )
        grace = (body.get("deleteOptions") or {}).get("gracePeriodSeconds")
        self._delete_pod(ns, name, grace)
        return 201, {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "code": 201,
        }

    def _exec_post(self, ns: str, name: str, **_: Any) -> tuple:
        raise ApiError(status(400, "BadRequest", "Upgrade request required"))

    _exec_get = _exec_post

    def _ephemeral_get(self, ns: str, name: str, **_: Any) -> tuple[int, dict]:
        return 200, self._must("pods", ns, name)

    def _ephemeral_patch(self, ns: str, name: str, *, body: Any, ctype: str, **_: Any) -> tuple:
        pod = self._must("pods", ns, name)
        if ctype != SMP or not isinstance(body, dict) or set(body) != {"spec"}:
            raise ApiError(status(400, "BadRequest", "expected a strategic-merge patch of a Pod"))
        added = (body["spec"] or {}).get("ephemeralContainers") or []
        present = pod["spec"].setdefault("ephemeralContainers", [])
        names = {c["name"] for c in present} | {c["name"] for c in pod["spec"]["containers"]}
        for container in added:
            if not container.get("name") or not container.get("image"):
                raise ApiError(status(422, "Invalid", "ephemeralContainers: name and image"))
            if container["name"] in names:
                raise ApiError(status(422, "Invalid", f"name {container['name']} in use"))
            present.append(copy.deepcopy(container))
            self.kube.on_ephemeral(pod, container)
        pod["metadata"]["resourceVersion"] = self.kube._next_rv()
        return 200, pod

    def _jobs_coll_post(self, ns: str, *, body: Any, **_: Any) -> tuple[int, dict]:
        if not isinstance(body, dict) or body.get("kind") != "Job":
            raise ApiError(status(400, "BadRequest", "body must be a Job"))
        name = (body.get("metadata") or {}).get("name", "")
        if (ns, name) in self.kube.objects["jobs"]:
            raise ApiError(status(409, "AlreadyExists", f'jobs.batch "{name}" already exists'))
        job = self.kube._stamp(copy.deepcopy(body), ns)
        self.kube.objects["jobs"][(ns, name)] = job
        self.kube.on_job(job)
        return 201, job

    def _job_get(self, ns: str, name: str, **_: Any) -> tuple[int, dict]:
        return 200, self._must("jobs", ns, name)

    def _job_delete(self, ns: str, name: str, **_: Any) -> tuple[int, dict]:
        job = self._must("jobs", ns, name)
        del self.kube.objects["jobs"][(ns, name)]
        return 200, job

    # ----- nodes -----------------------------------------------------------------------
    def _nodes_coll_get(self, **_: Any) -> tuple[int, dict]:
        items = [copy.deepcopy(o) for _k, o in sorted(self.kube.objects["nodes"].items())]
        return 200, {"kind": "NodeList", "apiVersion": "v1", "metadata": {}, "items": items}

    def _node_get(self, name: str, **_: Any) -> tuple[int, dict]:
        return 200, self._must("nodes", "", name)

    def _node_patch(self, name: str, *, body: Any, ctype: str, **_: Any) -> tuple:
        return 200, self._patch("nodes", "", name, body, ctype)

    # ----- network policies ------------------------------------------------------------
    def _np_coll_get(self, ns: str, **_: Any) -> tuple[int, dict]:
        items = [
            copy.deepcopy(o)
            for (ons, _n), o in sorted(self.kube.objects["networkpolicies"].items())
            if ons == ns
        ]
        return 200, {
            "kind": "NetworkPolicyList",
            "apiVersion": "networking.k8s.io/v1",
            "metadata": {},
            "items": items,
        }

    def _check_np(self, ns: str, body: Any) -> str:
        if not isinstance(body, dict) or body.get("kind") != "NetworkPolicy":
            raise ApiError(status(400, "BadRequest", "body must be a NetworkPolicy"))
        meta = body.get("metadata") or {}
        if meta.get("namespace", ns) != ns:
            raise ApiError(
                status(400, "BadRequest", "the namespace of the object does not match the URL")
            )
        name = meta.get("name")
        if not name or not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", name):
            raise ApiError(status(422, "Invalid", f"metadata.name: Invalid value: {name!r}"))
        if "podSelector" not in (body.get("spec") or {}):
            raise ApiError(status(422, "Invalid", "spec.podSelector: Required value"))
        return name

    def _np_coll_post(self, ns: str, *, body: Any, **_: Any) -> tuple[int, dict]:
        name = self._check_np(ns, body)
        if (ns, name) in self.kube.objects["networkpolicies"]:
            raise ApiError(
                status(
                    409,
                    "AlreadyExists",
                    f'networkpolicies.networking.k8s.io "{name}" already exists',
                    name=name,
                    kind="networkpolicies",
                )
            )
        obj = copy.deepcopy(body)
        obj["metadata"]["generation"] = 1
        self.kube._stamp(obj, ns)
        self.kube.objects["networkpolicies"][(ns, name)] = obj
        return 201, obj

    def _np_get(self, ns: str, name: str, **_: Any) -> tuple[int, dict]:
        return 200, self._must("networkpolicies", ns, name)

    def _np_put(self, ns: str, name: str, *, body: Any, **_: Any) -> tuple[int, dict]:
        if self._check_np(ns, body) != name:
            raise ApiError(status(400, "BadRequest", "the name of the object does not match"))
        old = self._must("networkpolicies", ns, name)
        want_rv = body["metadata"].get("resourceVersion")
        if want_rv is not None and want_rv != old["metadata"]["resourceVersion"]:
            raise ApiError(status(409, "Conflict", "the object has been modified"))
        obj = copy.deepcopy(body)
        obj["metadata"]["uid"] = old["metadata"]["uid"]
        obj["metadata"]["creationTimestamp"] = old["metadata"]["creationTimestamp"]
        obj["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        self.kube._stamp(obj, ns)
        self.kube.objects["networkpolicies"][(ns, name)] = obj
        return 200, obj

    def _np_delete(self, ns: str, name: str, **_: Any) -> tuple[int, dict]:
        self._must("networkpolicies", ns, name)
        del self.kube.objects["networkpolicies"][(ns, name)]
        return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success", "metadata": {}}

    # ----- apps ------------------------------------------------------------------------
    def _deployment_get(self, ns: str, name: str, **_: Any) -> tuple[int, dict]:
        return 200, self._must("deployments", ns, name)

    def _deployment_patch(self, ns: str, name: str, *, body: Any, ctype: str, **_: Any) -> tuple:
        return 200, self._patch("deployments", ns, name, body, ctype)

    def _scale_of(self, dep: dict) -> dict:
        labels = dep["spec"]["selector"]["matchLabels"]
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                "name": dep["metadata"]["name"],
                "namespace": dep["metadata"]["namespace"],
                "uid": dep["metadata"]["uid"],
                "resourceVersion": dep["metadata"]["resourceVersion"],
            },
            "spec": {"replicas": dep["spec"]["replicas"]},
            "status": {
                "replicas": dep["status"].get("replicas", 0),
                "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
            },
        }

    def _scale_get(self, ns: str, name: str, **_: Any) -> tuple[int, dict]:
        return 200, self._scale_of(self._must("deployments", ns, name))

    def _scale_patch(self, ns: str, name: str, *, body: Any, ctype: str, **_: Any) -> tuple:
        dep = self._must("deployments", ns, name)
        if ctype not in (SMP, MERGE):
            raise ApiError(status(415, "UnsupportedMediaType", f"unsupported {ctype!r}"))
        scale = merge_patch(self._scale_of(dep), body)
        replicas = scale["spec"].get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise ApiError(status(422, "Invalid", "spec.replicas: must be >= 0"))
        dep["spec"]["replicas"] = replicas
        dep["metadata"]["resourceVersion"] = self.kube._next_rv()
        return 200, self._scale_of(dep)

    def _replicaset_get(self, ns: str, name: str, **_: Any) -> tuple[int, dict]:
        return 200, self._must("replicasets", ns, name)

    # ----- exec over websocket ---------------------------------------------------------
    def _websocket(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        kube = self.kube
        with kube._lock:
            kube.requests.append(Request("GET", url.path, query, "", None))
        match = re.match(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/exec$", url.path)
        if self.headers.get("Authorization", "") != f"Bearer {kube.token}":
            self._send(401, status(401, "Unauthorized", "Unauthorized"))
            return
        if match is None:
            self._send(404, status(404, "NotFound", "no websocket endpoint here"))
            return
        ns, name = match.groups()
        with kube._lock:
            pod = kube.objects["pods"].get((ns, name))
        if pod is None:
            self._send(404, status(404, "NotFound", f'pods "{name}" not found', name, "pods"))
            return
        names = [c["name"] for c in pod["spec"]["containers"]]
        ephemeral = [c["name"] for c in pod["spec"].get("ephemeralContainers") or []]
        container = (query.get("container") or [""])[0]
        if not container:
            if len(names) > 1:
                self._send(
                    400,
                    status(
                        400,
                        "BadRequest",
                        f"a container name must be specified for pod {name}, choose one of:"
                        f" {names}",
                    ),
                )
                return
            container = names[0]
        if container not in names + ephemeral:
            self._send(
                400,
                status(400, "BadRequest", f"container {container} is not valid for pod {name}"),
            )
            return
        protocols = [p.strip() for p in self.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        if "v4.channel.k8s.io" not in protocols:
            self._send(400, status(400, "BadRequest", "v4.channel.k8s.io subprotocol required"))
            return
        argv = query.get("command") or []
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.send_header("Sec-WebSocket-Protocol", "v4.channel.k8s.io")
        self.end_headers()
        with kube._lock:
            kube.execs.append({"namespace": ns, "pod": name, "container": container, "argv": argv})
        stdout, stderr, code = kube.exec_handler(ns, name, container, list(argv))
        if stdout:
            data = stdout if isinstance(stdout, bytes) else stdout.encode()
            for start in range(0, len(data), 1 << 16):  # frames of 64 KiB, as a kubelet's
                self._ws_frame(0x2, b"\x01" + data[start : start + (1 << 16)])
        if stderr:
            self._ws_frame(0x2, b"\x02" + stderr.encode())
        if code == 0:
            result = {"metadata": {}, "status": "Success"}
        else:
            result = {
                "metadata": {},
                "status": "Failure",
                "message": f"command terminated with non-zero exit code: exit status {code}",
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
            }
        self._ws_frame(0x2, b"\x03" + json.dumps(result).encode())
        self._ws_frame(0x8, struct.pack("!H", 1000))
        self.wfile.flush()
        try:  # let the client answer the close before the socket goes away
            self.connection.settimeout(2)
            self.connection.recv(1024)
        except (TimeoutError, OSError):
            pass
        self.close_connection = True

    def _ws_frame(self, opcode: int, payload: bytes) -> None:
        head = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            head += bytes([n])
        elif n < 65536:
            head += bytes([126]) + struct.pack("!H", n)
        else:
            head += bytes([127]) + struct.pack("!Q", n)
        self.wfile.write(head + payload)
