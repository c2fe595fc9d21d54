"""Lanner's default rules, loaded by ``lanner run`` when no ``-r`` is given."""

from __future__ import annotations

from pathlib import Path

RULES_DIR = Path(__file__).resolve().parent
SYSCALL_RULES = RULES_DIR / "lanner_rules.yaml"
K8S_AUDIT_RULES = RULES_DIR / "lanner_k8s_audit_rules.yaml"


def default_rules_files() -> list[Path]:
    """The default rules files, in load order."""
    return [SYSCALL_RULES, K8S_AUDIT_RULES]
