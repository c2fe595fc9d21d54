"""What every response action is: declared parameters, RBAC needs, and a `run`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from lanner.services.respond.alert import Alert


@dataclass(frozen=True)
class Param:
    """One parameter an action accepts, checked when the rules file is loaded."""

    name: str
    kind: type | tuple[type, ...]
    required: bool = False
    default: Any = None
    choices: tuple[Any, ...] | None = None
    item: type | tuple[type, ...] | None = None
    check: Callable[[Any], str | None] | None = None

    def validate(self, value: Any) -> str | None:
        """An error message for a bad value, or None when it is acceptable."""
        kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        # YAML booleans are ints in Python: keep them apart.
        if isinstance(value, bool) and bool not in kinds:
            return f"parameter '{self.name}' must be {_kind_names(kinds)}, not a boolean"
        if not isinstance(value, kinds):
            return f"parameter '{self.name}' must be {_kind_names(kinds)}"
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(str(c) for c in self.choices)
            return f"parameter '{self.name}' must be one of {allowed}"
        if self.item is not None and isinstance(value, list | dict):
            items = value.values() if isinstance(value, dict) else value
            for item in items:
                if isinstance(item, bool) or not isinstance(item, self.item):
                    return f"parameter '{self.name}' holds a value of the wrong type: {item!r}"
        if self.check is not None:
            return self.check(value)
        return None


def _kind_names(kinds: tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "a boolean",
        list: "a list",
        dict: "a mapping",
    }
    return " or ".join(names.get(k, k.__name__) for k in kinds)


@dataclass
class ActionResult:
    """What an action did (or, in dry-run, would do) to which target."""

    target: str
    detail: str
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass
class ActionContext:
    """Everything an action needs for one run."""

    alert: Alert
    rule: str
    params: dict[str, Any]
    dry_run: bool
    kube: Any = None  # lanner.services.respond.actions.kube.KubeClients, created lazily
    previous: list[dict[str, Any]] = field(default_factory=list)  # earlier actions of the rule
    output: dict[str, Any] | None = None  # where an artifact goes (Talon's `output`)
    contexts: tuple[str, ...] = ()  # Talon additional_contexts to add before running
    settings: dict[str, Any] = field(default_factory=dict)  # Talon config's aws/minio


class Action(ABC):
    """A kind of response. Subclasses declare `name`, `params`, `rbac` and implement `run`."""

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    # Kubernetes RBAC policy rules this action needs (for the generated ClusterRole).
    rbac: ClassVar[tuple[dict[str, Any], ...]] = ()
    # parameters holding file paths, resolved against the rules file's directory
    path_params: ClassVar[tuple[str, ...]] = ()
    # output fields the action cannot do without (an alert lacking one opens no dedup window)
    required_fields: ClassVar[tuple[str, ...]] = ()
    # Falco Talon: whether the rule goes on after this actionner by default, former
    # parameter names, and whether the actionner produces an artifact needing an `output`
    talon_continue: ClassVar[bool] = True
    talon_aliases: ClassVar[dict[str, str]] = {}
    talon_noop: ClassVar[dict[str, str]] = {}  # parameters Talon accepts and never reads
    requires_output: ClassVar[bool] = False

    @classmethod
    def validate(cls, params: dict[str, Any]) -> list[str]:
        """Errors in a parameter mapping (unknown names, missing or ill-typed values)."""
        errors: list[str] = []
        known = {p.name: p for p in cls.params}
        for key in params:
            if key not in known:
                errors.append(
                    f"unknown parameter '{key}' for action '{cls.name}'"
                    f" (known: {', '.join(sorted(known)) or 'none'})"
                )
        for p in cls.params:
            if p.name not in params:
                if p.required:
                    errors.append(f"action '{cls.name}' needs parameter '{p.name}'")
                continue
            problem = p.validate(params[p.name])
            if problem:
                errors.append(problem)
        errors.extend(cls.check(params))
        return errors

    @classmethod
    def check(cls, params: dict[str, Any]) -> list[str]:
        """Cross-parameter checks; override when parameters depend on each other."""
        return []

    @classmethod
    def rbac_for(cls, params: dict[str, Any]) -> tuple[dict[str, Any], ...]:
        """RBAC policy rules needed with these parameters (override to narrow `rbac`)."""
        return cls.rbac

    @classmethod
    def has_fields(cls, alert: Alert, params: dict[str, Any]) -> bool:
        """Whether the alert carries the output fields this action cannot do without (the
        pod's namespace and name for actions with `pod_field`, else `required_fields`)."""
        names = {p.name for p in cls.params}
        needed = list(cls.required_fields)
        if "pod_field" in names:
            needed += [
                params.get("namespace_field") or "k8s.ns.name",
                params.get("pod_field") or "k8s.pod.name",
            ]
        return all(alert.get(f) not in (None, "", "<NA>") for f in needed)

    @classmethod
    def with_defaults(cls, params: dict[str, Any]) -> dict[str, Any]:
        """The parameters with declared defaults filled in."""
        full = {p.name: p.default for p in cls.params if p.default is not None}
        full.update(params)
        return full

    @abstractmethod
    def run(self, ctx: ActionContext) -> ActionResult:
        """Do the action (or describe it when `ctx.dry_run`); raise ActionError on failure."""
