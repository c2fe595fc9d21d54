"""Real API calls for k8s actions, with a kubeconfig: the requests whose audit events the
action would otherwise post, made on the cluster, then undone.

Safety: namespaced objects go to a new namespace named after the run's marker (deleted
at the end, with everything in it), except for the actions about system namespaces;
pods are bound to a node that does not exist, so no container ever starts; every object
created is deleted again. Exec, attach, port-forward, CSR approval and anonymous
requests are not made (they need a running pod, a signed CSR or anonymous access).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from lanner.exceptions import ActionError
from lanner.services.generate.action import Outcome, RunContext
from lanner.services.generate.k8s_events import API, request_uri

NO_NODE = "lanner-generate-no-such-node"
DEFAULT_NS = "default"
KINDS = {
    "secrets": "Secret",
    "serviceaccounts": "ServiceAccount",
    "namespaces": "Namespace",
    "configmaps": "ConfigMap",
    "validatingwebhookconfigurations": "ValidatingWebhookConfiguration",
    "mutatingwebhookconfigurations": "MutatingWebhookConfiguration",
}
METHODS = {
    "create": "POST",
    "get": "GET",
    "list": "GET",
    "update": "PUT",
    "patch": "PATCH",
    "delete": "DELETE",
    "deletecollection": "DELETE",
}
UNSUPPORTED = {"exec", "attach", "portforward", "approval"}

Call = Callable[[str, str, dict[str, Any] | None], Any]


def api_caller(kubeconfig: str) -> Call:
    """``call(method, path, body)`` on the cluster of ``kubeconfig`` (kubernetes client)."""
    try:
        from kubernetes import config
    except ImportError:
        raise ActionError(
            "real API calls need the kubernetes client: pip install kubernetes"
        ) from None
    client = config.new_client_from_config(config_file=kubeconfig)

    def call(method: str, path: str, body: dict[str, Any] | None) -> Any:
        params = client.param_serialize(
            method,
            path,
            header_params={"Content-Type": "application/json", "Accept": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            resp = client.call_api(*params, _request_timeout=10)
            data = resp.read()
        except Exception as exc:  # urllib3 and client errors alike
            raise ActionError(f"{method} {path}: {exc}") from None
        if resp.status >= 400:
            raise ActionError(f"{method} {path}: {resp.status} {resp.reason}")
        return json.loads(data) if data else None

    return call


def _stub(resource: str, name: str, namespace: str | None) -> dict[str, Any]:
    """The smallest object of ``resource`` named ``name``."""
    group, version = API[resource]
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {
        "apiVersion": f"{group}/{version}" if group else version,
        "kind": KINDS[resource],
        "metadata": meta,
    }


def perform(
    ctx: RunContext, out: Outcome, events_for: Callable[[str], list[dict[str, Any]]]
) -> None:
    """Make the API calls whose audit events ``events_for`` describes, then undo them."""
    if not ctx.kubeconfig:
        raise ActionError("no kubeconfig")
    events = events_for(out.marker)
    for ev in events:
        ref = ev["objectRef"]
        if ref.get("subresource") in UNSUPPORTED or ev["user"]["username"].startswith("system:"):
            raise ActionError(
                f"{ev['verb']} {ref['resource']}/{ref.get('subresource', '')} is not made on "
                "a real cluster (needs a running pod, a signed CSR or anonymous access); "
                "run without --kubeconfig to post the audit events instead"
            )
    _perform(api_caller(ctx.kubeconfig), out, events)


def _perform(call: Call, out: Outcome, events: list[dict[str, Any]]) -> None:
    """The calls, with prerequisites and clean-up, through ``call``."""
    undo: list[str] = []
    own_ns = out.marker
    calls: list[tuple[str, str]] = []
    out.effects["calls"] = calls

    def do(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        calls.append((method, path))
        return call(method, path, body)

    try:
        needs_ns = any(e["objectRef"].get("namespace") in (DEFAULT_NS, own_ns) for e in events)
        if needs_ns:
            do("POST", "/api/v1/namespaces", _stub("namespaces", own_ns, None))
            undo.append(request_uri("namespaces", None, own_ns))
        for ev in events:
            ref = ev["objectRef"]
            resource, name, sub = ref["resource"], ref.get("name"), ref.get("subresource")
            ns = ref.get("namespace")
            if ns == DEFAULT_NS:
                ns = own_ns
            verb = ev["verb"]
            body = ev.get("requestObject")
            if body is not None:
                body = json.loads(json.dumps(body))
                if ns and "metadata" in body:
                    body["metadata"]["namespace"] = ns
                if resource == "pods":
                    body.setdefault("spec", {})["nodeName"] = NO_NODE
            existing = resource == "namespaces" and name == own_ns and needs_ns
            must_exist = (verb != "create" or sub) and not existing  # acts on an object
            if must_exist and name and resource in KINDS:
                do("POST", request_uri(resource, ns, None), _stub(resource, name, ns))
                undo.append(request_uri(resource, ns, name))
            if verb == "create" and not sub:
                do("POST", request_uri(resource, ns, None), body)
                undo.append(request_uri(resource, ns, name))
            else:
                path = request_uri(resource, ns, None if verb == "deletecollection" else name, sub)
                do(METHODS[verb], path, body if verb in ("create", "update", "patch") else None)
                if verb == "delete" and path in undo:
                    undo.remove(path)
    finally:
        errors = []
        for path in reversed(undo):
            try:
                do("DELETE", path)
            except ActionError as exc:
                if " 404 " not in str(exc):
                    errors.append(str(exc))
        if errors:
            raise ActionError("clean-up failed: " + "; ".join(errors))
