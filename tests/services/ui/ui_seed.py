"""Deterministic Falco alerts for the UI tests and the pagination benchmark."""

from __future__ import annotations

import random
from typing import Any

from lanner.services.ui.alerts import format_time_ns

RULES: list[tuple[str, str, list[str], str]] = [
    # rule, priority, tags, output template
    (
        "Read sensitive file untrusted",
        "Warning",
        ["filesystem", "mitre_credential_access", "T1555"],
        "Sensitive file opened for reading by non-trusted program"
        " (file=/etc/shadow proc.name={proc})",
    ),
    (
        "Terminal shell in container",
        "Notice",
        ["container", "shell", "mitre_execution", "T1059"],
        "A shell was spawned in a container with an attached terminal"
        " (proc.name={proc} container={ctr})",
    ),
    (
        "Detect crypto miners using the Stratum protocol",
        "Critical",
        ["network", "mitre_impact", "T1496"],
        "Possible miner running (command=xmrig -o stratum+tcp://pool proc.name={proc})",
    ),
    (
        "Write below etc",
        "Error",
        ["filesystem", "mitre_persistence"],
        "File below /etc opened for writing (file=/etc/passwd proc.name={proc})",
    ),
    (
        "Launch Privileged Container",
        "Informational",
        ["container", "cis", "mitre_privilege_escalation", "T1610"],
        "Privileged container started (container={ctr} image=nginx)",
    ),
]
HOSTS = ["node-1", "node-2", "node-3"]
PROCS = ["cat", "bash", "python3", "curl"]
CONTAINERS = ["web-1", "api-7", "db-0", ""]


def make_alert(i: int, time_ns: int, rng: random.Random | None = None) -> dict[str, Any]:
    """Alert number `i` at `time_ns`: rule, host and container cycle deterministically."""
    rng = rng or random.Random(i)
    rule, priority, tags, template = RULES[i % len(RULES)]
    proc = PROCS[rng.randrange(len(PROCS))]
    ctr = CONTAINERS[i % len(CONTAINERS)]
    fields: dict[str, Any] = {
        "evt.time": time_ns,
        "proc.name": proc,
        "user.name": "root",
        "container.id": f"{(CONTAINERS.index(ctr) + 1) * 0x1F2E3D4C5B:012x}" if ctr else "host",
        "container.name": ctr or "host",
    }
    if ctr:
        fields["k8s.ns.name"] = "prod" if i % 2 else "default"
        fields["k8s.pod.name"] = f"{ctr}-pod"
    return {
        "hostname": HOSTS[i % len(HOSTS)],
        "output": f"{format_time_ns(time_ns)[11:29]}: {priority} "
        + template.format(proc=proc, ctr=ctr or "host")
        + f" seq={i}",
        "output_fields": fields,
        "priority": priority,
        "rule": rule,
        "source": "syscall" if i % 7 else "k8s_audit",
        "tags": tags,
        "time": format_time_ns(time_ns),
    }


def make_alerts(count: int, end_ns: int, step_ns: int = 60_000_000_000) -> list[dict[str, Any]]:
    """`count` alerts, one every `step_ns`, the newest at `end_ns`, oldest first."""
    rng = random.Random(12)
    return [make_alert(i, end_ns - (count - 1 - i) * step_ns, rng) for i in range(count)]
