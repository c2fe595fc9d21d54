"""Every action, the default rules no action covers (and why), and selection by regex."""

from __future__ import annotations

import re

from lanner.services.generate import (
    cloudtrail_actions,
    gcp_actions,
    github_actions,
    k8s_actions,
    k8s_upstream,
    okta_actions,
    syscall_container,
    syscall_files,
    syscall_kernel,
    syscall_network,
    syscall_process,
    syscall_upstream,
    syscall_upstream_more,
)
from lanner.services.generate.action import Action, Uncovered

UNCOVERED: list[Uncovered] = [
    Uncovered(
        "Kubernetes API contacted from a shell in container",
        "needs a pod (k8s.pod.name from a container runtime's metadata)",
    ),
    Uncovered("Privileged container started", "needs a container runtime starting a container"),
    Uncovered(
        "Container with sensitive host mount started",
        "needs a container runtime starting a container",
    ),
    Uncovered(
        "Kernel module loaded",
        "loading a module changes the running kernel; the generator leaves the host as it was",
    ),
]


# upstream falco_rules.yaml rules no action triggers on a bare host, and why
UNCOVERED_FALCO: list[Uncovered] = [
    Uncovered(
        "Contact K8S API Server From Container",
        "needs the cluster's DNS name kubernetes.default.svc.cluster.local to resolve "
        "(the rule reads fd.sip.name)",
    ),
    *(
        Uncovered(
            rule,
            f"never fires with the upstream defaults ({macro} is always true); "
            "it does once that macro is overridden",
        )
        for rule, macro in (
            ("Create Disallowed Pod", "allowed_k8s_containers"),
            ("Full K8s Administrative Access", "allowed_full_admin_users"),
            ("Untrusted Node Successfully Joined the Cluster", "allow_all_k8s_nodes"),
            ("Untrusted Node Unsuccessfully Tried to Join the Cluster", "allow_all_k8s_nodes"),
        )
    ),
    Uncovered("All K8s Audit Events", "matches only with consider_all_events overridden (kall)"),
    # falco-incubating_rules.yaml and falco-sandbox_rules.yaml
    Uncovered(
        "Network Connection outside Local Subnet",
        "never fires with the upstream defaults (the list namespace_scope_network_only_subnet "
        "of k8s namespaces it watches is empty); it does once that list names a namespace",
    ),
    Uncovered(
        "Launch Disallowed Container",
        "never fires with the upstream defaults (allowed_containers is container.id exists, "
        "true for every container); it does once that macro is overridden",
    ),
]


def all_actions() -> list[Action]:
    """Every action: syscall actions first, then the k8s audit ones, then the cloud and
    SaaS sources' (CloudTrail, GitHub, Okta, GCP audit logs)."""
    return [
        *syscall_files.ACTIONS,
        *syscall_process.ACTIONS,
        *syscall_network.ACTIONS,
        *syscall_kernel.ACTIONS,
        *syscall_container.ACTIONS,
        *syscall_upstream.ACTIONS,
        *syscall_upstream_more.ACTIONS,
        *k8s_actions.ACTIONS,
        *k8s_upstream.ACTIONS,
        *cloudtrail_actions.ACTIONS,
        *github_actions.ACTIONS,
        *okta_actions.ACTIONS,
        *gcp_actions.ACTIONS,
    ]


def select(
    pattern: str | None = None, source: str | None = None, ruleset: str | None = None
) -> list[Action]:
    """Actions whose name or rule matches ``pattern`` (a regex, searched), of ``source``,
    for ``ruleset`` ("lanner", "falco"; None: both)."""
    rx = re.compile(pattern) if pattern else None
    return [
        a
        for a in all_actions()
        if (source is None or a.source == source)
        and (ruleset is None or a.ruleset == ruleset)
        and (rx is None or rx.search(a.name) or rx.search(a.rule))
    ]
