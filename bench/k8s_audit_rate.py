"""Kubernetes audit events per second through the upstream k8s_audit_rules.yaml.

Builds a synthetic but realistic mix of audit.k8s.io/v1 events (system components
reading and watching, users creating pods, secrets, roles, execs; a few per cent match a
rule) and measures, with Falco's first-match semantics:
  * file replay: JSON lines read with read_audit_events and run through the rules;
  * HTTP: EventList batches POSTed over one keep-alive loopback connection to the
    AuditWebhook, whose callback runs every event through the rules before answering.

Run: .venv/bin/python bench/k8s_audit_rate.py [--events N] [--batch B]
"""

from __future__ import annotations

import argparse
import http.client
import random
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from lanner.engine.engine import Engine
from lanner.sources.json_source import JsonEvent
from lanner.sources.k8s_audit import AuditWebhook, k8s_audit_source, read_audit_events

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT.parent / "shared" / "fixtures" / "rules" / "k8s_audit_rules.yaml"
SYSTEM_USERS = ["system:kube-scheduler", "system:kube-controller-manager", "system:node:n1"]
USERS = ["minikube", "kubelet", "admin", "alice", "ci-bot"]


def _event(rng: random.Random, i: int) -> dict[str, Any]:
    kind = rng.choices(
        ["system-get", "pod", "priv-pod", "secret", "configmap", "role", "exec", "deploy"],
        weights=[60, 10, 2, 8, 8, 4, 3, 5],
    )[0]
    user = rng.choice(SYSTEM_USERS) if kind == "system-get" else rng.choice(USERS)
    verb, resource, ns = "get", "pods", "default"
    req: dict[str, Any] | None = None
    sub = None
    stage = "ResponseComplete"
    if kind == "system-get":
        verb, resource = rng.choice(["get", "list", "watch"]), rng.choice(["pods", "nodes"])
    elif kind in ("pod", "priv-pod"):
        verb = "create"
        sc = {"privileged": True} if kind == "priv-pod" else {}
        req = {
            "kind": "Pod",
            "metadata": {"name": f"p{i}"},
            "spec": {
                "containers": [{"name": "c", "image": "nginx:1.27", "securityContext": sc}],
                "volumes": [{"name": "v", "emptyDir": {}}],
            },
        }
    elif kind == "secret":
        verb, resource = rng.choice(["get", "create", "delete"]), "secrets"
    elif kind == "configmap":
        verb, resource = "create", "configmaps"
        req = {"kind": "ConfigMap", "data": {"key": rng.choice(["blue", "password=x"])}}
    elif kind == "role":
        verb, resource = "create", "clusterroles"
        req = {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]}
    elif kind == "exec":
        verb, sub, stage = "create", "exec", "ResponseStarted"
    else:
        verb, resource = rng.choice(["create", "delete", "patch"]), "deployments"
    ev: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "RequestResponse",
        "auditID": f"bench-{i}",
        "stage": stage,
        "requestURI": f"/api/v1/namespaces/{ns}/{resource}/o{i}",
        "verb": verb,
        "user": {"username": user, "groups": ["system:authenticated"]},
        "sourceIPs": ["10.0.0.1"],
        "userAgent": "kubectl/v1.31.0",
        "objectRef": {"resource": resource, "namespace": ns, "name": f"o{i}", "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": rng.choice([200, 200, 201, 403])},
        "requestReceivedTimestamp": "2026-11-25T10:00:00.000000Z",
        "stageTimestamp": "2026-11-25T10:00:00.001000Z",
        "annotations": {
            "authorization.k8s.io/decision": "allow",
            "authorization.k8s.io/reason": "",
        },
    }
    if sub:
        ev["objectRef"]["subresource"] = sub
    if req is not None:
        ev["requestObject"] = req
    return ev


def make_engine() -> Engine:
    engine = Engine([k8s_audit_source()], hostname="bench")
    outcome = engine.load_rules([RULES])
    assert outcome.successful
    return engine


def bench_file(events: list[dict[str, Any]]) -> tuple[float, float, Counter[str]]:
    """(parse-only events/s, parse+rules events/s, alerts by rule)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.log"
        path.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
        t0 = time.perf_counter()
        n = sum(1 for _ in read_audit_events(path))
        parse_rate = n / (time.perf_counter() - t0)
        engine = make_engine()
        alerts: Counter[str] = Counter()
        t0 = time.perf_counter()
        for ev in read_audit_events(path):
            for a in engine.process(ev, "k8s_audit"):
                alerts[a.rule] += 1
        full_rate = n / (time.perf_counter() - t0)
    return parse_rate, full_rate, alerts


def bench_http(events: list[dict[str, Any]], batch: int) -> tuple[float, int]:
    """(events/s over HTTP incl. the rules, alerts)."""
    engine = make_engine()
    alerts = 0

    def on_events(batch_events: list[JsonEvent]) -> None:
        nonlocal alerts
        for ev in batch_events:
            alerts += len(engine.process(ev, "k8s_audit"))

    bodies = []
    for i in range(0, len(events), batch):
        items = [
            {k: v for k, v in e.items() if k not in ("kind", "apiVersion")}
            for e in events[i : i + batch]
        ]
        bodies.append(
            orjson.dumps(
                {
                    "kind": "EventList",
                    "apiVersion": "audit.k8s.io/v1",
                    "metadata": {},
                    "items": items,
                }
            )
        )
    with AuditWebhook(on_events, host="127.0.0.1", port=0) as hook:
        conn = http.client.HTTPConnection("127.0.0.1", hook.port, timeout=60)
        headers = {"Content-Type": "application/json"}
        t0 = time.perf_counter()
        for body in bodies:
            conn.request("POST", hook.path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200, resp.status
        rate = len(events) / (time.perf_counter() - t0)
        conn.close()
    return rate, alerts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=400, help="events per EventList POST")
    args = ap.parse_args()
    rng = random.Random(7)
    events = [_event(rng, i) for i in range(args.events)]
    parse_rate, file_rate, alerts = bench_file(events)
    http_rate, http_alerts = bench_http(events, args.batch)
    total = sum(alerts.values())
    print(
        f"events: {args.events}, rules: {len(make_engine().ruleset)}, "
        f"alerts: {total} ({100 * total / args.events:.1f}%)"
    )
    print(f"file read + parse only       : {parse_rate:10,.0f} events/s")
    print(f"file replay through the rules: {file_rate:10,.0f} events/s")
    print(f"HTTP EventLists of {args.batch:<4} + rules: {http_rate:10,.0f} events/s")
    assert http_alerts == total, (http_alerts, total)
    for rule, n in alerts.most_common(8):
        print(f"   {n:6d}  {rule}")


if __name__ == "__main__":
    main()
