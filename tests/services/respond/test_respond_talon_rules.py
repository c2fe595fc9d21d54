"""Falco Talon's rules format: its example files load unchanged, its match and action
semantics hold, and anything not understood is refused with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from respond_helpers import make_alert

from lanner.exceptions import RulesError
from lanner.services.respond.alert import Alert
from lanner.services.respond.cli import respond
from lanner.services.respond.matcher import matches, select
from lanner.services.respond.rules import load_ruleset

TALON = Path(__file__).parent / "fixtures" / "talon"
CORDON = "  actions: [{action: c, actionner: kubernetes:cordon}]\n"


def _load(tmp_path: Path, text: str, *more: str) -> list:
    paths = []
    for i, body in enumerate((text, *more)):
        path = tmp_path / f"talon{i}.yaml"
        path.write_text(body)
        paths.append(path)
    return load_ruleset(paths).rules


def _problems(tmp_path: Path, text: str) -> str:
    with pytest.raises(RulesError) as info:
        _load(tmp_path, text)
    return "\n".join(info.value.problems)


def _alert(**fields: object) -> Alert:
    data = make_alert()
    data["output_fields"] = {**data["output_fields"], **fields}
    return Alert.from_dict(data)


def test_talons_example_files_load_whole() -> None:
    """Every item of Talon's rules.yaml + rules_override.yaml loads, the capture actionners
    with Talon's parameters and defaults and their outputs (S3 and local file)."""
    ruleset = load_ruleset([TALON / "rules.yaml", TALON / "rules_override.yaml"])
    by_name = {r.name: r for r in ruleset.rules}
    (tcpdump,) = by_name["Test tcpdump"].actions
    assert tcpdump.action == "kubernetes:tcpdump" and tcpdump.line == 187
    assert tcpdump.parameters == {"image": "issif/tcpdump:latest", "duration": 5,
                                  "snaplen": 512, "start_timeout": 20}  # fmt: skip
    assert tcpdump.output == {"target": "aws:s3", "parameters": {
        "bucket": "falcosidekick-tests", "prefix": "/tcpdump/", "region": "us-east-1"}}  # fmt: skip
    assert tcpdump.continue_ is False  # Talon's capture actionners end the rule
    (sysdig,) = by_name["Test sysdig"].actions
    assert sysdig.action == "kubernetes:sysdig" and sysdig.line == 204
    assert sysdig.parameters["scope"] == "pod" and sysdig.parameters["buffer_size"] == 4096
    assert sysdig.parameters["tool"] == "sysdig" and "image" not in sysdig.parameters
    assert sysdig.output == {"target": "local:file", "parameters": {"destination": "/tmp/"}}
    notes = "\n".join(n for f in ruleset.files for n in f.notes)
    assert "not available" not in notes  # gcp:function too (its block is used by no rule)


@pytest.mark.parametrize(
    ("actionner", "parameters", "problem"),
    [
        ("kubernetes:sysdig", "{duration: 31}", "'duration' must be between 1 and 30"),
        ("kubernetes:sysdig", "{buffer_size: 64}", "'buffer_size' must be >= 128"),
        ("kubernetes:sysdig", "{scope: cluster}", "'scope' must be one of pod, node"),
        ("kubernetes:tcpdump", "{snaplen: -1}", "'snaplen' must be >= 0"),
        ("kubernetes:tcpdump", "{duration: 10, filter: x}", "unknown parameter 'filter'"),
    ],
)
def test_capture_parameters_are_checked(
    tmp_path: Path, actionner: str, parameters: str, problem: str
) -> None:
    rule = (
        "- rule: r\n  match: {rules: [x]}\n  actions:\n    - action: capture\n"
        f"      actionner: {actionner}\n      parameters: {parameters}\n"
        "      output: {target: local:file, parameters: {destination: /tmp}}\n"
    )
    assert problem in _problems(tmp_path, rule)
    without_output = rule.split("      output:")[0]
    assert f"{actionner} needs an 'output'" in _problems(tmp_path, without_output)


def test_talons_example_rules_without_the_unavailable_ones_load_as_talon_meant(
    tmp_path: Path,
) -> None:
    text = (TALON / "rules.yaml").read_text()
    keep = text.split("- rule: Test download")[0]  # drops the forensic-capture test rules
    path = tmp_path / "rules.yaml"
    path.write_text(keep)
    ruleset = load_ruleset([path, TALON / "rules_override.yaml"])
    by_name = {r.name: r for r in ruleset.rules}
    assert list(by_name) == [
        "Suspicious outbound connection",
        "Terminal shell in container",
        "Delete unknown namespace",
        "Calico netpol",
        "Test node drain",
        "Delete namespace",
        "Test exec",
    ]
    assert [f.format for f in ruleset.files] == ["talon", "talon"]
    # the override file's redefinition of "Terminate Pod" merged into the rule's action
    terminate = by_name["Terminal shell in container"].actions[0]
    assert terminate.action == "kubernetes:terminate" and terminate.title == "Terminate Pod"
    assert terminate.parameters["grace_period_seconds"] == 2  # override wins
    assert terminate.parameters["ignore_standalone_pods"] is True
    assert terminate.parameters["ignore_daemonsets"] is True
    assert terminate.continue_ is False  # Talon's terminate ends the rule by default
    # "Calico netpol": the block's old 'allow' list joined the rule's 'allow_cidr'
    netpol, calico = by_name["Calico netpol"].actions
    assert netpol.action == "kubernetes:networkpolicy"
    assert netpol.parameters["allow_cidr"] == [
        "192.168.1.0/24",
        "172.17.0.0/16",
        "192.168.1.0/24",
        "172.17.0.0/16",
    ]
    assert netpol.parameters["allow_namespaces"] == ["green-ns", "blue-ns"]
    assert calico.action == "calico:networkpolicy" and calico.parameters["order"] == 20
    exec_spec = by_name["Test exec"].actions[0]
    assert exec_spec.contexts == ("k8snode",)
    assert exec_spec.parameters == {"command": 'echo "${NODE_HOSTNAME}"', "shell": "/bin/sh"}
    notes = "\n".join(n for f in ruleset.files for n in f.notes)
    assert "parameter 'allow' read as 'allow_cidr'" in notes
    assert "parameter 'force': Talon's drain reads no 'force'" in notes
    assert "action 'Invoke Lambda function' is used by no rule" in notes
    assert "action 'Invoke GCP function' is used by no rule" in notes
    assert "action 'Terminate Pod' extends the one at" in notes


def test_check_says_which_file_is_which_format(tmp_path: Path) -> None:
    lanner = tmp_path / "lanner.yaml"
    lanner.write_text("- rule: r\n  actions: [{action: kubernetes:cordon}]\n")
    talon = tmp_path / "talon.yaml"
    talon.write_text(
        "- action: Label it\n  actionner: kubernetes:label\n"
        "  parameters: {labels: {suspicious: 'true'}}\n"
        "- rule: Shell\n  match: {rules: [Terminal shell in container]}\n"
        "  actions: [{action: Label it}]\n"
    )
    result = CliRunner().invoke(respond, ["-r", str(lanner), "-r", str(talon), "--check"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{lanner}: Lanner rules, 1 rules, 1 actions",
        f"{talon}: Falco Talon rules, 1 rules, 1 actions",
        "2 rules, 2 actions: OK",
    ]


def test_talon_match_semantics(tmp_path: Path) -> None:
    rules = _load(
        tmp_path,
        "- rule: eq\n  match: {priority: Warning}\n" + CORDON + "- rule: ge\n"
        "  match: {priority: '>=Error'}\n"
        + CORDON
        + "- rule: fields\n  match:\n    output_fields:\n"
        "      - 'k8s.ns.name!=kube-system, k8s.ns.name!=falco'\n"
        "      - 'proc.name=bash'\n"
        "  actions: [{action: c, actionner: kubernetes:cordon}]\n"
        "- rule: tags\n  match: {tags: ['network, T1071', 'shell']}\n"
        "  actions: [{action: c, actionner: kubernetes:cordon}]\n"
        "- rule: names\n  match: {rules: ['Outbound Connection to *'], source: syscall}\n"
        "  actions: [{action: c, actionner: kubernetes:cordon}]\n",
    )
    eq, ge, fields, tags, names = (r.match for r in rules)
    crit, warn = _alert(), Alert.from_dict(make_alert(priority="Warning"))
    assert matches(eq, warn) and not matches(eq, crit)  # a bare priority means equal
    assert matches(ge, crit) and not matches(ge, warn)
    # one string: all of it; any string enough
    assert matches(fields, _alert())
    assert not matches(fields, _alert(**{"k8s.ns.name": "falco"}))
    assert matches(fields, _alert(**{"k8s.ns.name": "falco", "proc.name": "bash"}))
    assert matches(tags, crit)  # has network and T1071
    assert not matches(tags, Alert.from_dict(make_alert(tags=["network"])))
    assert matches(tags, Alert.from_dict(make_alert(tags=["shell"])))
    assert not matches(names, crit)  # Talon names are exact, no globs
    # rules go on by default in Talon: every matching rule runs
    assert [r.name for r in select(rules, crit)] == ["ge", "fields", "tags"]


def test_rule_continue_false_stops_later_rules(tmp_path: Path) -> None:
    rules = _load(
        tmp_path,
        "- rule: first\n  continue: false\n  actions: [{action: c, actionner: kubernetes:cordon}]\n"
        "- rule: second\n  actions: [{action: c, actionner: kubernetes:cordon}]\n",
    )
    assert [r.name for r in select(rules, _alert())] == ["first"]


def test_a_rule_redefined_in_a_later_file_is_extended(tmp_path: Path) -> None:
    rules = _load(
        tmp_path,
        "- rule: r\n  match: {rules: [A]}\n" + CORDON,
        "- rule: r\n  match: {rules: [B]}\n  dry_run: true\n"
        "  actions: [{action: l, actionner: kubernetes:label, parameters: {labels: {a: b}}}]\n",
    )
    (rule,) = rules
    assert rule.match.rules == ("A", "B") and rule.dry_run is True
    assert [a.action for a in rule.actions] == ["kubernetes:cordon", "kubernetes:label"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "- rule: r\n  bogus: 1\n  actions: [{action: c, actionner: kubernetes:cordon}]\n",
            "talon0.yaml:1: rule 'r': unknown key 'bogus'",
        ),
        (
            "- rule: r\n  description: d\n  actions: [{action: c, actionner: kubernetes:nope}]\n",
            "talon0.yaml:3: rule 'r': action 'c': unknown actionner 'kubernetes:nope'",
        ),
        (
            "- rule: r\n  description: d\n  actions: [{action: Undefined}]\n",
            "rule 'r': action 'Undefined': missing actionner",
        ),
        (
            "- rule: r\n  continue: maybe\n  description: d\n"
            "  actions: [{action: c, actionner: kubernetes:cordon}]\n",
            "rule 'r': 'continue' must be true or false, not 'maybe'",
        ),
        (
            "- rule: r\n  match: {priority: '>=Loud'}\n  description: d\n"
            "  actions: [{action: c, actionner: kubernetes:cordon}]\n",
            "incorrect priority '>=Loud'",
        ),
        (
            "- rule: r\n  match: {output_fields: ['k8s.ns.name~kube']}\n"
            "  actions: [{action: c, actionner: kubernetes:cordon}]\n",
            "incorrect output field condition 'k8s.ns.name~kube'",
        ),
        (
            "- action: T\n  actionner: kubernetes:terminate\n  parameters: {grace: 5}\n"
            "- rule: r\n  actions: [{action: T}]\n",
            "action 'T' (kubernetes:terminate): unknown parameter 'grace'",
        ),
        (
            "- rule: r\n  notifiers: [teams]\n"
            "  actions: [{action: c, actionner: kubernetes:cordon}]\n",
            "unknown notifier 'teams'",
        ),
        (
            "- rule: r\n  description: d\n  actions:\n    - action: L\n"
            "      actionner: kubernetes:log\n      output: {target: local:file}\n",
            "output: missing 'parameters' for the output",
        ),
        (
            "- rule: r\n  description: d\n  actions:\n    - action: D\n"
            "      actionner: kubernetes:download\n      parameters: {file: /etc/passwd}\n",
            "kubernetes:download needs an 'output'",
        ),
    ],
)
def test_what_is_not_understood_is_refused_with_file_and_line(
    tmp_path: Path, text: str, message: str
) -> None:
    assert message in _problems(tmp_path, text)


def test_lanner_files_stay_lanner(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "- rule: r\n  match: {rules: ['Outbound Connection to *']}\n"
        "  actions: [{action: kubernetes:isolate}]\n"
    )
    ruleset = load_ruleset([path])
    assert ruleset.files[0].format == "lanner"
    assert matches(ruleset.rules[0].match, _alert())  # Lanner globs still work


def test_talons_config_example_is_read_saying_what_flags_replace(tmp_path: Path) -> None:
    """Talon's config_example.yaml: notifiers and dedup are read; every other key is named
    with the flag that replaces it; an unknown key is refused."""
    rules = tmp_path / "r.yaml"
    rules.write_text(
        "- rule: r\n  description: d\n  notifiers: [slack]\n"
        "  actions: [{action: c, actionner: kubernetes:cordon}]\n"
    )
    config = TALON / "config_example.yaml"
    result = CliRunner().invoke(respond, ["-r", str(rules), "--config", str(config), "--check"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for key, flag in (("listen_port", "--listen"), ("rules_files", "-r"), ("otel", "/metrics")):
        assert f"{config}: '{key}' is not read from here; lanner respond uses {flag}" in lines
    assert any("'deduplication.leader_election' is not read" in line for line in lines)
    assert lines[-1] == "1 rules, 1 actions: OK"
    bad = tmp_path / "bad.yaml"
    bad.write_text(config.read_text() + "mystery: 1\n")
    result = CliRunner().invoke(respond, ["-r", str(rules), "--config", str(bad), "--check"])
    assert result.exit_code == 1 and f"{bad}: unknown key 'mystery'" in result.output
    # a rule's notifier that the config does not set is refused before start
    no_slack = tmp_path / "no-slack.yaml"
    no_slack.write_text("notifiers: {webhook: {url: 'http://127.0.0.1:9/'}}\n")
    result = CliRunner().invoke(respond, ["-r", str(rules), "--config", str(no_slack), "--check"])
    assert result.exit_code == 1
    assert "rule 'r' uses notifier 'slack', which --config does not set" in result.output
