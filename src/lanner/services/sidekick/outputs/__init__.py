"""All outputs, registered by kind in `OUTPUTS`; one module per family."""

from . import alerting, aws, brokers, chat, email, faas, lanner, logs, metrics, queues, sql
from .base import OUTPUTS, DeliveryError, Output, OutputContext, PermanentError

__all__ = [
    "OUTPUTS",
    "DeliveryError",
    "Output",
    "OutputContext",
    "PermanentError",
    "alerting",
    "aws",
    "brokers",
    "chat",
    "email",
    "faas",
    "lanner",
    "logs",
    "metrics",
    "queues",
    "sql",
]
