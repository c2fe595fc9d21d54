"""deploy/grafana/lanner-dashboard.json: every metric it queries is one Lanner's services
really expose (scraped from the running stack), every PromQL query parses (promtool), and
the Loki panels select on labels sidekick's Loki output really sends."""

from __future__ import annotations

import json
import re
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from helpers import require_tool
from lanner.services.respond.metrics import RespondMetrics

from .conftest import Stack, loki_streams, send_audit_event
from .helpers import DEPLOY, wait_until

DASHBOARD = DEPLOY / "grafana/lanner-dashboard.json"
METRIC = re.compile(r"\b((?:lanner|falcosecurity)_[a-z0-9_]+)\b")
BY = re.compile(r"\bby \(([^)]*)\)")
GRAFANA_VARS = {
    "$__rate_interval": "2m",
    "$__range": "6h",
    "$__auto": "1m",
    "${priority:regex}": "Warning|Error",
    "$search": "shell",
}


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def _targets(kind: str) -> list[tuple[str, str]]:
    """(panel title, expr) of every target on that datasource type."""
    return [
        (p["title"], t["expr"])
        for p in _dashboard()["panels"]
        for t in p.get("targets", [])
        if t["datasource"]["type"] == kind
    ]


def _expand(expr: str) -> str:
    for var, value in GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    assert "$" not in expr, expr
    return expr


def _exposed(texts: list[str]) -> dict[str, set[str]]:
    """Series names a scrape can return, with the label names seen on each."""
    names: dict[str, set[str]] = defaultdict(set)
    for text in texts:
        for family in text_string_to_metric_families(text):
            suffix = {"counter": "_total", "info": "_info"}.get(family.type, "")
            names[family.name + suffix]  # a labelled family with no sample yet
            for sample in family.samples:
                names[sample.name] |= set(sample.labels)
    return names


@pytest.fixture(scope="module")
def exposed(stack: Stack) -> dict[str, set[str]]:
    from prometheus_client import generate_latest

    scrapes = [stack.metrics(name) for name in ("engine", "sidekick", "respond")]
    # respond's counters as a fresh process registers them (labelled ones without samples
    # are listed by their HELP/TYPE lines)
    scrapes.append(generate_latest(RespondMetrics().registry).decode())
    return _exposed(scrapes)


def test_dashboard_structure() -> None:
    dash = _dashboard()
    inputs = {i["name"]: i["pluginId"] for i in dash["__inputs"]}
    assert inputs == {"DS_PROMETHEUS": "prometheus", "DS_LOKI": "loki"}
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dash["templating"]["list"]}
    assert {"DS_PROMETHEUS", "DS_LOKI", "priority", "search"} <= variables
    for panel in dash["panels"]:
        assert {"x", "y", "w", "h"} <= panel["gridPos"].keys()
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] == "row":
            continue
        uid = panel["datasource"]["uid"]
        assert uid in ("${DS_PROMETHEUS}", "${DS_LOKI}"), panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]
    assert _targets("loki"), "a panel over sidekick's Loki output"
    # the priorities offered are the alert contract's spellings
    (priority,) = [v for v in dash["templating"]["list"] if v["name"] == "priority"]
    assert priority["query"].split(",") == [
        "Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug",
    ]  # fmt: skip


def test_every_queried_metric_is_exposed_by_lanner(exposed: dict[str, set[str]]) -> None:
    used = set()
    for title, expr in _targets("prometheus"):
        names = METRIC.findall(expr)
        assert names, (title, expr)
        for name in names:
            assert name in exposed, f"{title}: {name} is not a metric Lanner exposes"
            used.add(name)
        # grouping labels exist on the metrics of the query (when samples show them)
        seen = set().union(*(exposed[n] for n in names))
        if seen:
            for group in BY.findall(expr):
                for label in (x.strip() for x in group.split(",")):
                    assert label in seen, f"{title}: no label {label!r} on {names}"
    # each service has its panels
    for prefix in ("lanner_events", "lanner_sidekick_", "lanner_respond_", "falcosecurity_"):
        assert any(n.startswith(prefix) for n in used), prefix


def test_the_check_catches_a_misspelt_metric(exposed: dict[str, set[str]]) -> None:
    assert "lanner_alerts_total" in exposed
    assert "lanner_alert_total" not in exposed
    assert "lanner_sidekick_outputs_total" in exposed and "lanner_respond_actions_total" in exposed


@pytest.fixture
def promtool() -> str:
    """promtool (Debian package prometheus, installed by setup.sh); fails when missing."""
    return require_tool("promtool", "prometheus")


@pytest.mark.usefixtures("promtool")
def test_every_promql_query_parses(tmp_path: Path) -> None:
    rules = [
        {"record": f"lanner:dashboard:{i}", "expr": _expand(expr)}
        for i, (_, expr) in enumerate(_targets("prometheus"))
    ]
    path = tmp_path / "queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(rules)} rules found" in out.stdout
    # and promtool does refuse a broken one
    path.write_text(
        yaml.safe_dump({"groups": [{"name": "x", "rules": [{"record": "a:b", "expr": "sum(("}]}]})
    )
    bad = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True)
    assert bad.returncode != 0


def test_loki_queries_select_on_labels_sidekick_sends(stack: Stack) -> None:
    send_audit_event(stack)
    streams = wait_until(lambda: loki_streams(stack), what="a Loki push")
    sent = set().union(*(s["stream"] for s in streams))
    for title, expr in _targets("loki"):
        selector = re.search(r"\{([^}]*)\}", expr)
        assert selector, (title, expr)
        for matcher in selector.group(1).split(","):
            label = re.match(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)", matcher)
            assert label, matcher
            assert label.group(1) in sent, f"{title}: sidekick sends no {label.group(1)!r}"
        # what a by() groups on is a stream label too
        for group in BY.findall(expr):
            assert {x.strip() for x in group.split(",")} <= sent


# --- Prometheus scrape config and alerting rules (deploy/prometheus) ---------------------

PROMETHEUS = DEPLOY / "prometheus"
EXTERNAL = {"up", "kube_node_info"}  # Prometheus' own series and kube-state-metrics'


def test_alert_rules_use_metrics_lanner_exposes(exposed: dict[str, set[str]]) -> None:
    groups = yaml.safe_load((PROMETHEUS / "lanner-alerts.yaml").read_text())["groups"]
    for rule in groups[0]["rules"]:
        names = set(METRIC.findall(rule["expr"])) | (
            set(re.findall(r"\b(up|kube_node_info)\b", rule["expr"]))
        )
        assert names, rule["alert"]
        for name in names - EXTERNAL:
            assert name in exposed, f"{rule['alert']}: {name}"


@pytest.mark.usefixtures("promtool")
def test_prometheus_config_and_rules_pass_promtool() -> None:
    out = subprocess.run(
        ["promtool", "check", "config", "prometheus.yaml"],
        cwd=PROMETHEUS,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 8 rules found" in out.stdout
    config = yaml.safe_load((PROMETHEUS / "prometheus.yaml").read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    # the scrape targets are the manifests' Services and ports
    from .helpers import rendered

    services = {
        o["metadata"]["name"]: o["spec"]["ports"][0]["port"]
        for o in rendered("overlays/standard")
        if o["kind"] == "Service"
    }
    (engine,) = jobs["lanner-engine"]["dns_sd_configs"]
    assert engine["names"] == ["lanner-engine-metrics.lanner.svc.cluster.local"]
    assert engine["port"] == services["lanner-engine-metrics"]
    for job, svc in (("lanner-sidekick", "lanner-sidekick"), ("lanner-respond", "lanner-respond")):
        (target,) = jobs[job]["static_configs"][0]["targets"]
        assert target == f"{svc}.lanner.svc.cluster.local:{services[svc]}"


@pytest.mark.usefixtures("promtool")
def test_alert_rules_fire_on_the_situations_they_describe(tmp_path: Path) -> None:
    """promtool's rule unit tests: synthetic series in, the alerts expected out."""
    node = 'instance="10.0.0.1:8765", job="lanner-engine"'
    tests = {
        "rule_files": [str(PROMETHEUS / "lanner-alerts.yaml")],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": f"up{{{node}}}", "values": "1 1 0x20"},
                    {
                        "series": "lanner_event_drops_total"
                        f'{{{node}, source="syscall", reason="kernel_ring_full"}}',
                        "values": "0+50x30",
                    },
                    {
                        "series": f'lanner_rules_reloads_total{{{node}, result="failure"}}',
                        "values": "0 0 0 1 1 1 1 1",
                    },
                    {
                        "series": 'lanner_sidekick_outputs_total{destination="slack",'
                        ' priority="warning", status="dropped"}',
                        "values": "0+1x30",
                    },
                    # docker answered, then went away at minute 3; the CRI socket of
                    # the defaults is not on this node: never up, never an alert
                    {
                        "series": f'lanner_container_runtime_up{{{node}, runtime="docker",'
                        ' socket="/var/run/docker.sock"}',
                        "values": "1 1 1 0x20",
                    },
                    {
                        "series": f'lanner_container_runtime_up{{{node}, runtime="cri",'
                        ' socket="/run/crio/crio.sock"}',
                        "values": "0x23",
                    },
                    {
                        "series": 'lanner_respond_actions_total{action="kubernetes:isolate",'
                        ' result="failed"}',
                        "values": "0x30",
                    },
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "10m",
                        "alertname": "LannerEngineDown",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "critical",
                                    "instance": "10.0.0.1:8765",
                                    "job": "lanner-engine",
                                },
                                "exp_annotations": {
                                    "summary": "Lanner engine on 10.0.0.1:8765 is not"
                                    " answering /metrics",
                                    "description": "No detection on that node while it is down.",
                                },
                            }
                        ],
                    },
                    {"eval_time": "3m", "alertname": "LannerEngineDown", "exp_alerts": []},
                    {
                        "eval_time": "20m",
                        "alertname": "LannerEventsDropped",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "warning",
                                    "instance": "10.0.0.1:8765",
                                    "source": "syscall",
                                    "reason": "kernel_ring_full",
                                },
                                "exp_annotations": {
                                    "summary": "Lanner on 10.0.0.1:8765 drops syscall events"
                                    " (kernel_ring_full)",
                                    "description": "Events lost before evaluation: the engine"
                                    " cannot keep up (CPU limit, ring or queue size).",
                                },
                            }
                        ],
                    },
                    {
                        "eval_time": "5m",
                        "alertname": "LannerRulesReloadFailed",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "warning",
                                    "instance": "10.0.0.1:8765",
                                    "job": "lanner-engine",
                                    "result": "failure",
                                },
                                "exp_annotations": {
                                    "summary": "A rules or configuration change was rejected"
                                    " on 10.0.0.1:8765",
                                    "description": "The previous rules keep running; the"
                                    " engine's log has the loader's diagnostics.",
                                },
                            }
                        ],
                    },
                    {
                        "eval_time": "20m",
                        "alertname": "LannerSidekickDropping",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "warning", "destination": "slack"},
                                "exp_annotations": {
                                    "summary": "sidekick gives up on alerts for slack",
                                    "description": "Refused, retries exhausted or queue full"
                                    ' (lanner_sidekick_outputs_total{status="dropped"}).',
                                },
                            }
                        ],
                    },
                    # down for 4 minutes: pending, not firing yet
                    {
                        "eval_time": "7m",
                        "alertname": "LannerContainerRuntimeDown",
                        "exp_alerts": [],
                    },
                    {
                        "eval_time": "10m",
                        "alertname": "LannerContainerRuntimeDown",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "warning",
                                    "instance": "10.0.0.1:8765",
                                    "job": "lanner-engine",
                                    "runtime": "docker",
                                    "socket": "/var/run/docker.sock",
                                },
                                "exp_annotations": {
                                    "summary": "Container runtime docker (/var/run/docker.sock)"
                                    " is down for Lanner on 10.0.0.1:8765",
                                    "description": "Its socket is gone or its last metadata"
                                    " lookup failed: container.* and k8s.* fields of new"
                                    " containers stay empty until it is back.",
                                },
                            }
                        ],
                    },
                    # a counter that does not move raises nothing
                    {
                        "eval_time": "25m",
                        "alertname": "LannerRespondActionsFailing",
                        "exp_alerts": [],
                    },
                ],
            }
        ],
    }
    path = tmp_path / "alerts_test.yaml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False))
    out = subprocess.run(
        ["promtool", "test", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout
