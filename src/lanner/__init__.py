"""Lanner: runtime threat detection and response, compatible with Falco rules.

The public Python API, importable from the package root::

    from lanner import Engine, read_capture, syscall_source

    engine = Engine([syscall_source()])
    outcome = engine.load_rules(["rules.yaml"])
    for event in read_capture("capture.scap.gz"):
        for alert in engine.process(event, "syscall"):
            print(alert.output)

Names are imported on first use, so ``import lanner`` (and the CLI's start-up) stays cheap;
only the error classes (:mod:`lanner.exceptions`, which imports nothing else) load at once.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from lanner import exceptions as _exceptions
from lanner.exceptions import *  # noqa: F403  every error class, from the root too

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # the engine: rules in, alerts out
    "Engine": "lanner.engine.engine",
    "LoadOutcome": "lanner.engine.loader",
    "Rule": "lanner.engine.rules",
    "Ruleset": "lanner.engine.rules",
    "EvalErrors": "lanner.engine.evalerrors",
    # the alert contract
    "Alert": "lanner.engine.alert",
    "JsonOptions": "lanner.engine.alert",
    "Priority": "lanner.contract",
    # how a source describes its fields
    "SourceSpec": "lanner.engine.fields",
    "Field": "lanner.engine.fields",
    "FieldTable": "lanner.engine.fields",
    "FieldType": "lanner.engine.fields",
    "ArgKind": "lanner.engine.fields",
    # sources
    "syscall_source": "lanner.sources.syscall",
    "read_capture": "lanner.sources.syscall",
    "k8s_audit_source": "lanner.sources.k8s_audit",
    "read_audit_events": "lanner.sources.k8s_audit",
    "AuditWebhook": "lanner.sources.k8s_audit",
    "cloudtrail_source": "lanner.sources.cloudtrail",
    "read_cloudtrail_events": "lanner.sources.cloudtrail",
    "dict_source": "lanner.sources.memory",
    "dict_field": "lanner.sources.memory",
}

__all__ = [
    "Alert",
    "ArgKind",
    "AuditWebhook",
    "Engine",
    "EvalErrors",
    "Field",
    "FieldTable",
    "FieldType",
    "JsonOptions",
    "LoadOutcome",
    "Priority",
    "Rule",
    "Ruleset",
    "SourceSpec",
    "__version__",
    "cloudtrail_source",
    "dict_field",
    "dict_source",
    "k8s_audit_source",
    "read_audit_events",
    "read_capture",
    "read_cloudtrail_events",
    "syscall_source",
]
__all__ += _exceptions.__all__  # LannerError and its subclasses (cheap: no engine import)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'lanner' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from lanner.contract import Priority
    from lanner.engine.alert import Alert, JsonOptions
    from lanner.engine.engine import Engine
    from lanner.engine.evalerrors import EvalErrors
    from lanner.engine.fields import ArgKind, Field, FieldTable, FieldType, SourceSpec
    from lanner.engine.loader import LoadOutcome
    from lanner.engine.rules import Rule, Ruleset
    from lanner.sources.cloudtrail import cloudtrail_source, read_cloudtrail_events
    from lanner.sources.k8s_audit import AuditWebhook, k8s_audit_source, read_audit_events
    from lanner.sources.memory import dict_field, dict_source
    from lanner.sources.syscall import read_capture, syscall_source
