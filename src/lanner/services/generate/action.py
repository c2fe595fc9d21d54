"""What an action is: a named, safe way to trigger one default rule, and its outcome."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class RunContext:
    """What actions may need besides themselves.

    ``webhook``: URL the k8s audit actions post to. ``kubeconfig``: when set, k8s actions
    perform real API calls instead. ``timeout``: seconds a child process may take.
    ``targets``: where the cloud and SaaS actions deliver their events, by name
    (``cloudtrail``, ``github``, ``okta``, ``eks``, ``aks``:
    :mod:`lanner.services.generate.cloud`); with ``eks`` (``aks``), the k8s audit actions
    write into CloudWatch Logs (an Event Hub) instead of posting.
    """

    webhook: str = "http://127.0.0.1:9765/k8s-audit"
    kubeconfig: str | None = None
    timeout: float = 10.0
    targets: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Outcome:
    """What one run of an action did.

    ``marker`` is a string the matching alert's output contains (a unique file name,
    command-line token or object name), so alerts are tied to the run that caused them.
    ``effects`` records side effects for verification: ``paths`` created (all removed
    again), ``pids`` of children (all reaped), ``connections`` accepted by a listener.
    """

    marker: str
    effects: dict[str, Any] = field(default_factory=dict)

    def add(self, key: str, value: Any) -> None:
        """Append ``value`` to the ``key`` list of effects."""
        self.effects.setdefault(key, []).append(value)


@dataclass(frozen=True, slots=True)
class Action:
    """One generator action, named after the rule it triggers.

    ``source`` is the rule's event source (``syscall``, ``k8s_audit``, ``aws_cloudtrail``,
    ``github``, ``okta``); ``needs`` lists the event types the live probe must capture (for
    a clear skip when it cannot); ``target`` the :attr:`RunContext.targets` entry it
    delivers to (skipped without it); ``run`` performs it and returns an :class:`Outcome`.
    """

    name: str
    rule: str
    description: str
    needs_root: bool
    run: Callable[[RunContext], Outcome]
    source: str = "syscall"
    needs: tuple[str, ...] = ()
    ruleset: str = "lanner"  # whose rule ``rule`` is: "lanner" or "falco" (upstream)
    target: str = ""

    def unavailable(self) -> str | None:
        """Why this action cannot run here, or None."""
        if self.needs_root and os.geteuid() != 0:
            return "needs root"
        return None


@dataclass(frozen=True, slots=True)
class Uncovered:
    """A default rule no action triggers on a bare host, and why."""

    rule: str
    reason: str


def token() -> str:
    """A short unique marker: ``lanner-gen-`` and 10 hex digits."""
    return "lanner-gen-" + uuid.uuid4().hex[:10]


ActionFn = Callable[[RunContext], Outcome]


def action(
    name: str,
    rule: str,
    fn: ActionFn,
    *,
    root: bool = False,
    needs: tuple[str, ...] = (),
    source: str = "syscall",
    description: str | None = None,
    ruleset: str = "lanner",
) -> Action:
    """An :class:`Action` running ``fn``, described by the first line of its docstring."""
    doc = description or (fn.__doc__ or "").strip().split("\n")[0]
    return Action(name, rule, doc, root, fn, source, needs, ruleset)
