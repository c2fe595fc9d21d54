"""NATS Streaming (STAN): the protocol's messages and a publisher connection over nats-py."""

from .client import StanConnection

__all__ = ["StanConnection"]
