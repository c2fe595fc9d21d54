"""Response actions, one module per family, looked up by name in `ACTIONS`."""

from __future__ import annotations

from lanner.services.respond.actions.base import Action, ActionContext, ActionError, ActionResult
from lanner.services.respond.actions.exec import ExecInContainer
from lanner.services.respond.actions.network import IsolatePod
from lanner.services.respond.actions.node import CordonNode, TaintNode
from lanner.services.respond.actions.notify import Webhook
from lanner.services.respond.actions.pod import AnnotatePod, DeletePod, LabelPod
from lanner.services.respond.actions.python import PythonHandler
from lanner.services.respond.actions.workload import ScaleToZero

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

__all__ = ["ACTIONS", "Action", "ActionContext", "ActionError", "ActionResult"]
