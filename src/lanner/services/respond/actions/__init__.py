"""Response actions, one module per family, looked up by name in `ACTIONS`."""

from __future__ import annotations

from typing import Protocol

from lanner.services.respond.actions.base import Action, ActionContext, ActionResult
from lanner.services.respond.actions.exec import ExecInContainer
from lanner.services.respond.actions.network import IsolatePod
from lanner.services.respond.actions.node import CordonNode, TaintNode
from lanner.services.respond.actions.notify import Webhook
from lanner.services.respond.actions.pod import AnnotatePod, DeletePod, LabelPod
from lanner.services.respond.actions.python import PythonHandler
from lanner.services.respond.actions.talon_capture import TalonSysdig, TalonTcpdump
from lanner.services.respond.actions.talon_cloud import AwsLambda, GcpFunction
from lanner.services.respond.actions.talon_cluster import TalonDelete, TalonDrain
from lanner.services.respond.actions.talon_network import (
    CalicoNetworkPolicy,
    CiliumNetworkPolicy,
    TalonNetworkPolicy,
)
from lanner.services.respond.actions.talon_pod import (
    TalonAnnotation,
    TalonDownload,
    TalonExec,
    TalonLabel,
    TalonLog,
    TalonScript,
    TalonTerminate,
)
from lanner.services.respond.actions.workload import ScaleToZero


class ActionSpecLike(Protocol):
    """What action_class needs of a rules.ActionSpec."""

    @property
    def action(self) -> str: ...

    @property
    def registry(self) -> str: ...


ACTIONS: dict[str, type[Action]] = {
    cls.name: cls
    for cls in (
        IsolatePod,
        DeletePod,
        LabelPod,
        AnnotatePod,
        CordonNode,
        TaintNode,
        ScaleToZero,
        ExecInContainer,
        PythonHandler,
        Webhook,
    )
}

# Falco Talon's actionners, by Talon's names (rules files in Talon's format)
TALON: dict[str, type[Action]] = {
    cls.name: cls
    for cls in (
        TalonTerminate,
        TalonLabel,
        TalonAnnotation,
        TalonNetworkPolicy,
        TalonExec,
        TalonScript,
        TalonLog,
        TalonDownload,
        TalonDelete,
        TalonDrain,
        CalicoNetworkPolicy,
        CiliumNetworkPolicy,
        AwsLambda,
        TalonTcpdump,
        TalonSysdig,
        GcpFunction,
    )
}
TALON["kubernetes:cordon"] = CordonNode

# Talon actionners Lanner reads but does not run: a rule using one is refused, saying why
TALON_NOT_AVAILABLE: dict[str, str] = {}

__all__ = [
    "ACTIONS",
    "TALON",
    "TALON_NOT_AVAILABLE",
    "Action",
    "ActionContext",
    "ActionResult",
    "action_class",
]


def action_class(spec: ActionSpecLike) -> type[Action]:
    """The class implementing a loaded action (Lanner's names or Talon's)."""
    return (TALON if spec.registry == "talon" else ACTIONS)[spec.action]
