"""The alert outputs ``lanner run`` knows: each output class registers itself with
:func:`register`, naming the configuration section whose ``enabled`` turns it on and
building itself from that section (:meth:`Output.from_config`).

The modules are imported when the registry is first read (:func:`registered`), not
before: ``import lanner.app.outputs.manager`` stays cheap, and an output that needs a
slow import (httpx) does it only when it is built.
"""

from __future__ import annotations

from importlib import import_module
from typing import TypeVar

from lanner.app.outputs.base import Output

# the built-in outputs, in the order their alerts are queued (Falco's order)
BUILTIN_MODULES = ("stdout", "file", "syslog", "program", "http")

_OUTPUTS: dict[str, type[Output]] = {}  # configuration section -> output class

OutputClass = TypeVar("OutputClass", bound=type[Output])


def register(cls: OutputClass) -> OutputClass:
    """Class decorator: the output built from its ``config_key`` section when enabled."""
    key = cls.config_key
    if not key:
        raise ValueError(f"{cls.__name__} names no config_key")
    known = _OUTPUTS.get(key)
    if known is not None and known is not cls:
        raise ValueError(f"{key} is already the section of {known.__name__}")
    _OUTPUTS[key] = cls
    return cls


def registered() -> dict[str, type[Output]]:
    """Every output by its configuration section: the built-in ones in BUILTIN_MODULES
    order, then others in the order they registered."""
    modules = [f"lanner.app.outputs.{name}" for name in BUILTIN_MODULES]
    for module in modules:
        import_module(module)
    rank = {module: i for i, module in enumerate(modules)}
    ordered = sorted(_OUTPUTS.items(), key=lambda item: rank.get(item[1].__module__, len(rank)))
    return dict(ordered)
