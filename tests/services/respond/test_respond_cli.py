"""`lanner respond` as users run it: --check, --rbac, --replay, the daemon over HTTPS with
a token and NATS, and the chain `lanner run` -> `lanner sidekick` -> `lanner respond`."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner
from respond_fake_k8s import FakeKube, free_port
from respond_helpers import make_alert, self_signed, wait_port
from respond_nats import NATS_PASSWORD, NATS_USER

from lanner.services.respond.cli import respond

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "respond"
LANNER = str(Path(sys.executable).parent / "lanner")

CONTAIN = """\
- rule: contain
  match: {priority: ">=Warning"}
  actions:
    - action: kubernetes:isolate
      parameters: {allow_dns: true}
    - action: kubernetes:label
      parameters: {labels: {lanner.dev/isolated: "true"}}
"""


def _write(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_check_ok_and_bad(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(respond, ["-r", str(_write(tmp_path, CONTAIN)), "--check"])
    path = tmp_path / "rules.yaml"
    assert result.exit_code == 0
    assert result.output == f"{path}: Lanner rules, 1 rules, 2 actions\n1 rules, 2 actions: OK\n"
    bad = _write(tmp_path, "- rule: x\n  actions: [{action: kubernetes:nuke}]\n", "bad.yaml")
    result = runner.invoke(respond, ["-r", str(bad), "--check"])
    assert result.exit_code == 1
    assert f"{bad}:2: rule 'x': unknown action 'kubernetes:nuke'" in result.output


def test_check_accepts_talons_example_files_whole_and_their_config(tmp_path: Path) -> None:
    """Talon's rules.yaml (captures, GCS and gcp:function included) and its override file
    pass --check; the rbac it prints covers the capture actionners."""
    talon = Path(__file__).parent / "fixtures" / "talon"
    rules = ["-r", str(talon / "rules.yaml"), "-r", str(talon / "rules_override.yaml")]
    result = CliRunner().invoke(respond, [*rules, "--check"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("11 rules, 15 actions: OK")
    result = CliRunner().invoke(respond, [*rules, "--rbac"])
    assert result.exit_code == 0, result.output
    role = next(d for d in yaml.safe_load_all(result.output) if d["kind"] == "ClusterRole")
    granted = {(r, v) for rule in role["rules"] for r in rule["resources"] for v in rule["verbs"]}
    assert {("pods/ephemeralcontainers", "patch"), ("jobs", "create"), ("jobs", "delete"),
            ("pods/exec", "create"), ("pods", "list")} <= granted  # fmt: skip
    config = tmp_path / "talon.yaml"
    config.write_text("gcp: {credentials_path: /etc/talon/key.json, region: us-central1}\n")
    result = CliRunner().invoke(respond, [*rules, "--config", str(config), "--check"])
    assert result.exit_code == 0, result.output


def test_rbac_is_least_privilege_for_the_rules(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        respond, ["-r", str(_write(tmp_path, CONTAIN)), "--rbac", "--rbac-namespace", "sec"]
    )
    assert result.exit_code == 0
    sa, role, binding = yaml.safe_load_all(result.output)
    assert (sa["kind"], sa["metadata"]["namespace"]) == ("ServiceAccount", "sec")
    assert role["kind"] == "ClusterRole"
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "patch"]},
        {
            "apiGroups": ["networking.k8s.io"],
            "resources": ["networkpolicies"],
            "verbs": ["create", "get", "update"],
        },
    ]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "lanner-respond", "namespace": "sec"}
    ]


def test_rbac_for_the_example_rules_covers_every_action() -> None:
    result = CliRunner().invoke(respond, ["-r", str(EXAMPLES / "response-rules.yaml"), "--rbac"])
    role = list(yaml.safe_load_all(result.output))[1]
    by_resource = {(r["apiGroups"][0], r["resources"][0]): r["verbs"] for r in role["rules"]}
    assert by_resource[("", "pods")] == ["delete", "get", "patch"]
    assert by_resource[("", "pods/exec")] == ["create", "get"]
    assert by_resource[("", "nodes")] == ["get", "patch"]
    assert by_resource[("apps", "deployments/scale")] == ["get", "patch"]
    assert "*" not in json.dumps(role)


def test_replay(tmp_path: Path, fake_kube: FakeKube, kubeconfig: Path) -> None:
    fake_kube.add_pod("default", "web-1", {"app": "web"})
    alerts = tmp_path / "alerts.jsonl"
    alerts.write_text(
        json.dumps(make_alert())
        + "\n\nnot json\n"
        + json.dumps(make_alert(priority="Debug"))
        + "\n"
    )
    audit = tmp_path / "audit.jsonl"
    result = CliRunner().invoke(
        respond,
        [
            "-r",
            str(_write(tmp_path, CONTAIN)),
            "--replay",
            str(alerts),
            "--kubeconfig",
            str(kubeconfig),
            "--audit-log",
            str(audit),
        ],
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    assert [(r["action"], r["result"]) for r in records] == [
        ("kubernetes:isolate", "ok"),
        ("kubernetes:label", "ok"),
    ]
    assert "line 3: skipped" in result.output
    assert len(audit.read_text().splitlines()) == 2
    assert fake_kube.get("networkpolicies", "default", "lanner-isolate-web-1") is not None


def test_replay_exits_non_zero_when_an_action_fails(
    tmp_path: Path, fake_kube: FakeKube, kubeconfig: Path
) -> None:
    alerts = _write(tmp_path, json.dumps(make_alert()) + "\n", "alerts.jsonl")
    result = CliRunner().invoke(
        respond,
        [
            "-r",
            str(_write(tmp_path, CONTAIN)),
            "--replay",
            str(alerts),
            "--kubeconfig",
            str(kubeconfig),
            "--retries",
            "0",
        ],
    )
    assert result.exit_code == 1
    assert '"result": "failed"' in result.stdout


def _until(predicate: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start processes that are stopped (SIGTERM, then SIGKILL) at teardown."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(args: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"proc-{len(procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, **kw)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _audit_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines()]


@pytest.mark.servers
def test_daemon_over_https_with_token_and_nats(
    tmp_path: Path,
    fake_kube: FakeKube,
    kubeconfig: Path,
    nats_user_url: str,
    spawn: Callable[..., subprocess.Popen[bytes]],
) -> None:
    fake_kube.add_pod("default", "web-1", {"app": "web"})
    fake_kube.add_pod("default", "web-2", {"app": "web2"})
    cert, key = self_signed(tmp_path)
    port = free_port()
    audit = tmp_path / "audit.jsonl"
    env = {
        **os.environ,
        "LANNER_RESPOND_TOKEN": "s3cret",
        "LANNER_RESPOND_NATS_USER": NATS_USER,
        "LANNER_RESPOND_NATS_PASSWORD": NATS_PASSWORD,
    }
    proc = spawn(
        [LANNER, "respond", "-r", str(_write(tmp_path, CONTAIN)),
         "--listen", f"127.0.0.1:{port}", "--tls-cert", str(cert), "--tls-key", str(key),
         "--kubeconfig", str(kubeconfig), "--audit-log", str(audit),
         "--nats-url", nats_user_url, "--nats-subject", "falco.>"],
        env=env,
    )  # fmt: skip
    wait_port(port, proc)
    base = f"https://127.0.0.1:{port}"
    with httpx.Client(verify=ssl.create_default_context(cafile=str(cert))) as client:
        assert client.get(f"{base}/healthz").json()["rules"] == 1
        assert client.post(f"{base}/", json=make_alert()).status_code == 401
        resp = client.post(
            f"{base}/", json=make_alert(), headers={"Authorization": "Bearer s3cret"}
        )
        assert resp.status_code == 202
        _until(lambda: len(_audit_lines(audit)) >= 2, "the HTTP alert's actions")

        import asyncio

        import nats

        async def publish() -> None:
            nc = await nats.connect(nats_user_url, user=NATS_USER, password=NATS_PASSWORD)
            fields = {**make_alert()["output_fields"], "k8s.pod.name": "web-2"}
            await nc.publish(
                "falco.critical", json.dumps(make_alert(output_fields=fields)).encode()
            )
            await nc.drain()

        asyncio.run(publish())
        _until(lambda: len(_audit_lines(audit)) >= 4, "the NATS alert's actions")
        metrics = client.get(f"{base}/metrics").text
    assert 'lanner_respond_alerts_received_total{input="nats"} 1.0' in metrics
    assert 'lanner_respond_alerts_received_total{input="http"} 1.0' in metrics
    assert [(r["action"], r["result"], r["target"]) for r in _audit_lines(audit)] == [
        ("kubernetes:isolate", "ok", "pod default/web-1"),
        ("kubernetes:label", "ok", "pod default/web-1"),
        ("kubernetes:isolate", "ok", "pod default/web-2"),
        ("kubernetes:label", "ok", "pod default/web-2"),
    ]
    for pod in ("web-1", "web-2"):
        np = fake_kube.get("networkpolicies", "default", f"lanner-isolate-{pod}")
        assert np is not None and np["spec"]["policyTypes"] == ["Ingress", "Egress"]


@pytest.mark.servers
def test_sighup_reloads_rules_and_keeps_them_on_errors(
    tmp_path: Path,
    fake_kube: FakeKube,
    kubeconfig: Path,
    spawn: Callable[..., subprocess.Popen[bytes]],
) -> None:
    fake_kube.add_pod("default", "web-1", {"app": "web"})
    rules = _write(tmp_path, CONTAIN.replace(">=Warning", "Emergency"))  # matches nothing yet
    port = free_port()
    proc = spawn(
        [LANNER, "respond", "-r", str(rules), "--listen", f"127.0.0.1:{port}",
         "--kubeconfig", str(kubeconfig), "--token", "t0ken"]
    )  # fmt: skip
    wait_port(port, proc)
    base = f"http://127.0.0.1:{port}"

    def generation() -> int:
        return int(httpx.get(f"{base}/healthz").json()["rules_generation"])

    def reload_failures() -> bool:
        return (
            'lanner_respond_rules_reloads_total{result="failed"} 1.0'
            in httpx.get(f"{base}/metrics").text
        )

    assert generation() == 0
    rules.write_text(CONTAIN)
    proc.send_signal(signal.SIGHUP)
    _until(lambda: generation() == 1, "the reload")
    rules.write_text("- rule: broken\n  actions: [{action: nope}]\n")
    proc.send_signal(signal.SIGHUP)
    _until(reload_failures, "the failed reload")
    assert generation() == 1
    token = {"Authorization": "Bearer t0ken"}
    assert httpx.post(f"{base}/", json=make_alert(), headers=token).status_code == 202
    _until(
        lambda: fake_kube.get("networkpolicies", "default", "lanner-isolate-web-1"),
        "the reloaded rule to act",
    )


C2_FALCO_RULE = """\
- rule: Pod contacts C2 server
  desc: a pod connects to a known C2 address
  condition: evt.type = connect and fd.sip = "203.0.113.7"
  output: "C2 connection (pod=%k8s.pod.name ns=%k8s.ns.name ip=%fd.sip proc=%proc.name)"
  priority: CRITICAL
  source: syscall
  tags: [network]
"""


@pytest.mark.servers
def test_run_sidekick_respond_isolates_the_offending_pod(
    tmp_path: Path,
    fake_kube: FakeKube,
    kubeconfig: Path,
    spawn: Callable[..., subprocess.Popen[bytes]],
) -> None:
    """`lanner run` replays an event file and its http_output posts the alerts to
    `lanner sidekick`, whose lannerrespond output forwards them to `lanner respond`,
    which isolates the pod."""
    fake_kube.add_pod("default", "web-1", {"app": "web", "tier": "frontend"})
    fake_kube.add_pod("default", "bystander", {"app": "db"})
    respond_port, sidekick_port = free_port(), free_port()
    audit = tmp_path / "audit.jsonl"
    respond_rules = _write(
        tmp_path,
        "- rule: isolate C2 talkers\n  match:\n    rules: [Pod contacts C2 server]\n"
        "  actions:\n    - action: kubernetes:isolate\n      parameters: {allow_dns: true}\n",
        "respond.yaml",
    )
    respond_proc = spawn(
        [LANNER, "respond", "-r", str(respond_rules), "--listen", f"127.0.0.1:{respond_port}",
         "--kubeconfig", str(kubeconfig), "--audit-log", str(audit), "--token", "t0ken"]
    )  # fmt: skip
    sidekick_cfg = _write(
        tmp_path,
        yaml.safe_dump(
            {
                "listenaddress": "127.0.0.1",
                "listenport": sidekick_port,
                "lannerrespond": {"address": f"http://127.0.0.1:{respond_port}", "token": "t0ken"},
                "delivery": {"spooldir": str(tmp_path / "spool")},
            }
        ),
        "sidekick.yaml",
    )
    sidekick_proc = spawn([LANNER, "sidekick", "-c", str(sidekick_cfg)])
    wait_port(respond_port, respond_proc)
    wait_port(sidekick_port, sidekick_proc)

    falco_rules = _write(tmp_path, C2_FALCO_RULE, "falco.yaml")
    events = tmp_path / "events.jsonl"
    events.write_text(
        "\n".join(
            json.dumps({"source": "syscall", "evt.type": "connect", "fd.sip": ip,
                        "k8s.pod.name": pod, "k8s.ns.name": "default", "proc.name": "curl"})
            for ip, pod in (("10.0.0.5", "bystander"), ("203.0.113.7", "web-1"))
        ) + "\n"
    )  # fmt: skip
    run = subprocess.run(
        [LANNER, "run", "-r", str(falco_rules), "-e", str(events), "-o", "json_output=true",
         "-o", "http_output.enabled=true",
         "-o", f"http_output.url=http://127.0.0.1:{sidekick_port}/"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    alerts = [json.loads(x) for x in run.stdout.splitlines() if x.startswith("{")]
    assert [a["rule"] for a in alerts] == ["Pod contacts C2 server"]

    _until(lambda: _audit_lines(audit), "respond to act")
    [record] = _audit_lines(audit)
    assert (record["action"], record["result"], record["target"]) == (
        "kubernetes:isolate", "ok", "pod default/web-1",
    )  # fmt: skip
    np = fake_kube.get("networkpolicies", "default", "lanner-isolate-web-1")
    uid = fake_kube.get("pods", "default", "web-1")["metadata"]["uid"]
    assert np["spec"]["podSelector"] == {"matchLabels": {"lanner.dev/quarantine": uid}}
    assert fake_kube.get("networkpolicies", "default", "lanner-isolate-bystander") is None


def test_example_deployment_is_consistent(tmp_path: Path) -> None:
    """The example Deployment's rules load and its arguments are real options."""
    docs = list(yaml.safe_load_all((EXAMPLES / "deployment.yaml").read_text()))
    config_map = next(d for d in docs if d["kind"] == "ConfigMap")
    rules = _write(tmp_path, config_map["data"]["rules.yaml"])
    result = CliRunner().invoke(respond, ["-r", str(rules), "--check"])
    assert result.exit_code == 0, result.output
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"][0] == "respond"
    known = {opt for p in respond.params for opt in p.opts}
    flags = {a.split("=")[0] for a in container["args"][1:]}
    assert flags <= known, flags - known
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "lanner-respond"
    rbac = list(yaml.safe_load_all((EXAMPLES / "rbac.yaml").read_text()))
    assert rbac[0]["metadata"]["name"] == "lanner-respond"
