"""The alert outputs ``lanner run`` knows: each output class registers itself with
:func:`register`, naming the configuration section whose ``enabled`` turns it on and
building itself from that section (:meth:`Output.from_config`).

A built-in output's module is imported when the registry is read for its section
(:func:`registered`), not before: ``import lanner.app.outputs.manager`` stays cheap, and
an output that is not enabled costs nothing (the http output's ssl, the program output's
subprocess).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import TypeVar

from lanner.app.outputs.base import Output

# the built-in outputs by configuration section, in the order their alerts are queued
# (Falco's order)
BUILTIN: dict[str, str] = {
    "stdout_output": "lanner.app.outputs.stdout",
    "file_output": "lanner.app.outputs.file",
    "syslog_output": "lanner.app.outputs.syslog",
    "program_output": "lanner.app.outputs.program",
    "http_output": "lanner.app.outputs.http",
}

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


def registered(wanted: Callable[[str], bool] | None = None) -> dict[str, type[Output]]:
    """Every output by its configuration section, or those whose section ``wanted``
    accepts: the built-in ones in BUILTIN order, then others in the order they
    registered. A built-in module is imported only when its section is wanted."""
    for key, module in BUILTIN.items():
        if wanted is None or wanted(key):
            import_module(module)
    rank = {key: i for i, key in enumerate(BUILTIN)}
    chosen = [item for item in _OUTPUTS.items() if wanted is None or wanted(item[0])]
    return dict(sorted(chosen, key=lambda item: rank.get(item[0], len(rank))))
