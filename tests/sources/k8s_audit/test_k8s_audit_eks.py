"""The k8saudit-eks plugin in ``lanner run``: EKS audit events written into CloudWatch Logs
(log group ``/aws/eks/<cluster>/cluster``, streams ``kube-apiserver-audit-*``) of moto
in server mode on loopback (PyPI ``moto[server]``, driven by boto3, the real SDK) are
polled and the upstream k8s_audit_rules.yaml fire on them, or stay quiet, exactly as on
the webhook (the positive and negative events of test_k8s_audit_rules); a restart with
``stateFile`` neither loses nor repeats events; bad log lines and API errors are logged
and counted while the source goes on. CloudWatch's throttling answer, which moto never
gives, comes from a double of the client that raises botocore's ThrottlingException
before handing calls to the real (moto) client."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from botocore.exceptions import ClientError
from k8s_audit_testutil import K8S_RULES, fired, sentinel, until_events
from test_k8s_audit_rules import NEGATIVE, POSITIVE

from helpers import free_port, wait_until
from helpers.lanner_process import LANNER_RUN, LannerProcess, metrics
from helpers.moto_server import aws_client, aws_env, moto_server
from lanner.sources.k8s_audit.eks import EksOpen, EksPoller

GROUP = "/aws/eks/{}/cluster"
STREAM = "kube-apiserver-audit-0123456789abcdef"


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with moto_server(tmp_path_factory.mktemp("moto")) as url:
        yield url


def put(moto: str, cluster: str, messages: list[str], stream: str = STREAM) -> None:
    """Log events as EKS writes them: one audit event (JSON) per log event, now."""
    logs = aws_client(moto, "logs")
    group = GROUP.format(cluster)
    if not logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
        logs.create_log_group(logGroupName=group)
    if not logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=stream)["logStreams"]:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    now = int(time.time() * 1000)
    events = [{"timestamp": now + i, "message": m} for i, m in enumerate(messages)]
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)


def write_config(tmp: Path, cluster: str, web_port: int, **init: Any) -> Path:
    init = {"region": "us-east-1", "polling_interval": 1, "shift": 600, "buffer_size": 25,
            **init}  # fmt: skip
    cfg = {
        "json_output": True, "stdout_output": {"enabled": True}, "log_level": "info",
        "priority": "debug", "rule_matching": "all",
        "load_plugins": ["k8saudit-eks", "json"],
        "plugins": [{"name": "k8saudit-eks", "init_config": json.dumps(init),
                     "open_params": cluster}, {"name": "json"}],
        "append_output": [{"match": {"source": "k8s_audit"}, "extra_fields": ["ka.auditid"]}],
        "webserver": {"enabled": True, "listen_port": web_port, "listen_address": "127.0.0.1"},
    }  # fmt: skip
    path = tmp / f"lanner-{cluster}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def start_lanner(cfg: Path, moto: str, err: Path) -> LannerProcess:
    """``lanner run`` with k8saudit-eks against moto, its alerts read as they come."""
    return LannerProcess(cfg, [K8S_RULES], err, aws_env(moto))


def test_upstream_rules_fire_and_stay_quiet_on_cloudwatch_events(tmp_path: Path, moto: str) -> None:
    """Every positive event of the webhook's rule test fires its rule with the same
    output, every negative one leaves its rule quiet, read from CloudWatch in pages;
    another control-plane stream and bad log lines are not evaluated; restarts with the
    state file neither repeat nor lose events."""
    cluster = "prod"
    positives = [(rule, event, msg) for rule, event, msg in POSITIVE]
    negatives = [(rule, event) for rule, event in NEGATIVE]
    bad = ["not json {", '{"kind":"Pod","apiVersion":"v1"}',
           '{"kind":"Event","auditID":"a-truncated-one","verb":"get" [Truncated...]']  # fmt: skip
    end = sentinel("sentinel-1")
    messages = [json.dumps(e) for _r, e, _m in positives] + bad
    messages += [json.dumps(e) for _r, e in negatives] + [json.dumps(end)]
    put(moto, cluster, messages)
    other = sentinel("from-the-authenticator-stream")  # not an audit stream: never read
    put(moto, cluster, [json.dumps(other)], stream="authenticator-0123456789abcdef")
    web = free_port()
    cfg = write_config(tmp_path, cluster, web, stateFile=str(tmp_path / "eks-state.json"))
    lanner = start_lanner(cfg, moto, tmp_path / "first.err")
    try:
        alerts = until_events(lanner, {end["auditID"]})
        counters = metrics(web)
    finally:
        lanner.stop()
    by_event = fired(alerts)
    for rule, event, message in positives:
        assert rule in by_event.get(event["auditID"], set()), (rule, by_event)
        mine = [a for a in alerts if a["output_fields"]["ka.auditid"] == event["auditID"]]
        outputs = [a["output"] for a in mine if a["rule"] == rule]
        assert any(message in o for o in outputs), (rule, message, outputs)
    for rule, event in negatives:
        assert rule not in by_event.get(event["auditID"], set()), (rule, event)
    assert other["auditID"] not in by_event
    log = lanner.log()
    assert "not JSON" in log and "truncated by CloudWatch (auditID a-truncated-one)" in log, log
    for kind in ("bad_json", "bad_event", "truncated"):
        assert f'lanner_input_errors_total{{kind="{kind}",source="k8saudit-eks"}} 1.0' in counters

    # a restart reads nothing again; what was written meanwhile is read once
    later = sentinel("written-while-down")
    put(moto, cluster, [json.dumps(later)])
    again = start_lanner(cfg, moto, tmp_path / "second.err")
    try:
        second = until_events(again, {later["auditID"]})
        last = sentinel("written-while-up")
        put(moto, cluster, [json.dumps(last)])
        second += until_events(again, {last["auditID"]})
    finally:
        assert again.stop() == 0, again.log()[-2000:]
    assert set(fired(second)) == {later["auditID"], last["auditID"]}, second
    ids = [a["output_fields"]["ka.auditid"] for a in second if a["rule"] == "Disallowed K8s User"]
    assert ids == [later["auditID"], last["auditID"]], second


def test_missing_log_group_is_an_api_error_and_the_source_goes_on(
    tmp_path: Path, moto: str
) -> None:
    """Before the cluster's log group exists, FilterLogEvents fails (logged, counted as
    api); once it does, its events are read."""
    cluster = "late"
    web = free_port()
    lanner = start_lanner(write_config(tmp_path, cluster, web), moto, tmp_path / "late.err")
    try:
        metric = 'lanner_input_errors_total{kind="api",source="k8saudit-eks"}'
        wait_until(lambda: metric in metrics(web), timeout=30, what="the api error counted")
        event = sentinel("after-the-group-appeared")
        put(moto, cluster, [json.dumps(event)])
        alerts = until_events(lanner, {event["auditID"]})
    finally:
        lanner.stop()
    assert alerts[-1]["rule"] == "Disallowed K8s User"
    assert "ResourceNotFoundException" in lanner.log(), lanner.log()[-2000:]


class Throttled:
    """A double of the CloudWatch Logs client: the first ``n`` FilterLogEvents calls get
    the ThrottlingException CloudWatch answers when over its rate; the others go to the
    real client (moto)."""

    def __init__(self, real: Any, n: int) -> None:
        self.real, self.left, self.calls = real, n, 0

    def filter_log_events(self, **kwargs: Any) -> Any:
        self.calls += 1
        if self.left:
            self.left -= 1
            error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
            raise ClientError(error, "FilterLogEvents")
        return self.real.filter_log_events(**kwargs)


def test_throttling_is_counted_and_retried(moto: str) -> None:
    event = sentinel("after-throttling")
    put(moto, "throttled", [json.dumps(event)])
    opened = EksOpen.parse({"shift": 600, "polling_interval": 1}, "throttled", env={})
    double = Throttled(aws_client(moto, "logs"), 2)
    poller = EksPoller(opened, client=lambda _o: double)
    got: list[Any] = []

    def deliver(events: list[Any]) -> bool:
        got.extend(events)
        poller.stop.set()
        return True

    thread = threading.Thread(target=poller.run, args=(deliver,), daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive()
    assert [e.data["auditID"] for e in got] == [event["auditID"]]
    assert poller.stats.errors == {"throttled": 2} and double.calls == 3


@pytest.mark.parametrize(
    ("init", "params", "needle"),
    [
        ({"shift": 1, "pollingInterval": 3}, "prod", "pollingInterval"),
        ({"buffer_size": "big"}, "prod", "buffer_size"),
        ({}, "", "open_params"),
        ({"shift": -1}, "prod", "shift"),
        ({"profile": "no-such-profile", "region": "us-east-1"}, "prod", "no-such-profile"),
    ],
)
def test_bad_configuration_is_a_startup_error(
    tmp_path: Path, init: dict[str, Any], params: str, needle: str
) -> None:
    entry = {"name": "k8saudit-eks", "init_config": init, "open_params": params}
    cfg = {"load_plugins": ["k8saudit-eks"], "plugins": [entry]}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    res = subprocess.run([*LANNER_RUN, "-c", str(path), "-r", str(K8S_RULES), "--disable-source",
                          "syscall"], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert res.returncode != 0 and needle in res.stderr and "k8saudit-eks" in res.stderr, res.stderr
