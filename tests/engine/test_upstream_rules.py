"""Falco's own rules files load without errors and every rule in them compiles.

The sources are dynamic dict sources (any field name is a string field) so the test is
about the rule language, not about which fields a real source provides.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helpers import shared_fixture
from lanner.engine.engine import Engine
from lanner.engine.loader import load_rules
from lanner.sources.memory import dict_source

FIXTURES = shared_fixture("rules")
FALCO = FIXTURES / "falco_rules.yaml"
SOURCE_NAMES = ("syscall", "k8s_audit", "aws_cloudtrail", "github", "okta", "gcp_auditlog")

# each file with what upstream loads before it
FILE_SETS = {
    "falco_rules": [FALCO],
    "falco-incubating_rules": [FALCO, FIXTURES / "falco-incubating_rules.yaml"],
    "falco-sandbox_rules": [FALCO, FIXTURES / "falco-sandbox_rules.yaml"],
    "k8s_audit_rules": [FIXTURES / "k8s_audit_rules.yaml"],
    "aws_cloudtrail_rules": [FIXTURES / "aws_cloudtrail_rules.yaml"],
    "github": [FIXTURES / "github.yaml"],
    "okta_rules": [FIXTURES / "okta_rules.yaml"],
    "gcp_auditlog_rules": [FIXTURES / "gcp_auditlog_rules.yaml"],
    # GKE's file extends the upstream k8s audit rules, loaded before it
    "k8s_audit_rules_gke": [
        FIXTURES / "k8s_audit_rules.yaml",
        FIXTURES / "k8s_audit_rules_gke.yaml",
    ],
}


def sources() -> list:
    return [dict_source(name, dynamic=True) for name in SOURCE_NAMES]


def defined_rules(path: Path) -> list[str]:
    """Names of the rules a file defines (not appends, overrides or enable-only items)."""
    names: list[str] = []
    for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        for item in doc or []:
            if not isinstance(item, dict) or "rule" not in item:
                continue
            if item.get("append") or "override" in item or "condition" not in item:
                continue
            if item["rule"] not in names:
                names.append(item["rule"])
    return names


def test_every_upstream_file_is_covered() -> None:
    assert sorted(p.name for p in FIXTURES.glob("*.yaml")) == sorted(
        f"{name}.yaml" for name in FILE_SETS
    )


@pytest.mark.parametrize("name", list(FILE_SETS))
def test_upstream_file_loads_and_every_rule_compiles(name: str) -> None:
    paths = FILE_SETS[name]
    out = load_rules(paths, sources())
    assert [r.name for r in out.results] == [str(p) for p in paths]
    for result in out.results:
        assert result.errors == [], "\n".join(d.describe() for d in result.errors)
        assert result.warnings == [], "\n".join(d.describe() for d in result.warnings)
    expected = [n for p in paths for n in defined_rules(p)]
    assert len(expected) == len(set(expected))
    assert [r.name for r in out.ruleset] == expected
    assert len(out.ruleset) == len(expected)


def test_rule_counts() -> None:
    # guards the counting helper above against silently counting nothing
    # (GKE's file only appends to and overrides the k8s audit rules: it defines none)
    counts = {
        name: len(defined_rules(FIXTURES / f"{name}.yaml"))
        for name in FILE_SETS
        if name != "k8s_audit_rules_gke"
    }
    assert all(n > 10 for n in counts.values()), counts


def test_every_upstream_file_together() -> None:
    paths = FILE_SETS["falco-incubating_rules"] + FILE_SETS["falco-sandbox_rules"][1:]
    paths += FILE_SETS["k8s_audit_rules"] + FILE_SETS["aws_cloudtrail_rules"]
    out = load_rules(paths, sources())
    assert out.successful
    by_source = {s: sum(1 for r in out.ruleset if r.source == s) for s in SOURCE_NAMES[:3]}
    assert by_source == {
        "syscall": len(defined_rules(paths[0]))
        + len(defined_rules(paths[1]))
        + len(defined_rules(paths[2])),
        "k8s_audit": len(defined_rules(paths[3])),
        "aws_cloudtrail": len(defined_rules(paths[4])),
    }


def test_upstream_rule_detects_an_event() -> None:
    engine = Engine(sources(), hostname="h")
    assert engine.load_rules([FALCO]).successful
    event = {
        "evt.type": "execve",
        "evt.num": "5",
        "container.id": "3ad7b26ded6d",
        "proc.name": "bash",
        "proc.pname": "runc",
        "proc.tty": "34816",
        "proc.cmdline": "bash",
        "user.name": "root",
    }
    alerts = engine.process(event, "syscall")
    assert [a.rule for a in alerts] == ["Terminal shell in container"]
    assert alerts[0].message.startswith(
        "A shell was spawned in a container with an attached terminal | evt_type=execve "
        "user=root user_uid=<NA>"
    )
    assert engine.process({**event, "container.id": "host"}, "syscall") == []
    assert engine.process({**event, "proc.tty": "0"}, "syscall") == []
    assert engine.process({**event, "proc.name": "python"}, "syscall") == []


def test_upstream_k8s_audit_and_cloudtrail_rules_detect_events() -> None:
    engine = Engine(sources(), hostname="h")
    paths = FILE_SETS["k8s_audit_rules"] + FILE_SETS["aws_cloudtrail_rules"]
    assert engine.load_rules(paths).successful
    exec_event = {
        "jevt.value": {"/stage": "ResponseStarted"},
        "jevt.rawtime": "1700000000000000000",
        "ka.verb": "create",
        "ka.target.resource": "pods",
        "ka.target.subresource": "exec",
        "ka.target.name": "web-0",
        "ka.target.namespace": "shop",
        "ka.user.name": "alice",
        "ka.uri.param": {"command": "sh"},
    }
    (alert,) = engine.process(exec_event, "k8s_audit")
    assert alert.rule == "Attach/Exec Pod"
    assert alert.message == (
        "Attach/Exec to pod (user=alice pod=web-0 resource=pods ns=shop action=exec command=sh)"
    )
    assert engine.process({**exec_event, "ka.target.subresource": "log"}, "k8s_audit") == []
    login = {
        "ct.name": "ConsoleLogin",
        "ct.user.identitytype": "IAMUser",
        "ct.user": "bob",
        "ct.srcip": "192.0.2.7",
        "ct.region": "eu-west-1",
        "json.value": {
            "/responseElements/ConsoleLogin": "Success",
            "/additionalEventData/MFAUsed": "No",
        },
    }
    alerts = engine.process(login, "aws_cloudtrail")
    assert [a.rule for a in alerts] == ["Console Login Without MFA"]
    assert "requesting user=bob" in alerts[0].message
    assert engine.process({**login, "ct.error": "Failed"}, "aws_cloudtrail") == []
