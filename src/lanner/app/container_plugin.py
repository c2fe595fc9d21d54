"""Falco 0.41+'s container plugin configuration, read as Lanner's ``container_engines``.

Falco moved container metadata into a plugin (``load_plugins: [container]``) whose
``init_config.engines`` lists the runtimes to ask: ``docker``, ``podman``, ``containerd``,
``cri``, ``lxc``, ``libvirt_lxc``, ``bpm``, each with ``enabled`` and ``sockets``. Lanner's
container metadata is built in; this module turns that block into the ``container_engines``
mapping its resolvers read (containerd and CRI sockets are both asked over CRI), and names
every other key of the plugin's ``init_config`` as accepted without effect.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

_WHERE = "plugins[container].init_config"
_ASKED = ("docker", "podman")  # engine -> the same container_engines section
_CRI = ("containerd", "cri")  # both asked through the CRI API
_NOT_ASKED = ("lxc", "libvirt_lxc", "bpm")  # no resolver: container_engines names them


def _init_config(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The entry's init_config as a mapping (Falco also takes it as a JSON string)."""
    raw = entry.get("init_config")
    if isinstance(raw, str) and raw.strip():
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ValueError(f"{_WHERE}: not a mapping nor a JSON object") from None
    if raw in (None, ""):
        return {}
    if not isinstance(raw, dict):
        raise ValueError(f"{_WHERE}: expected a mapping, got {raw!r}")
    return raw


def _sockets(engine: Mapping[str, Any], where: str) -> list[str]:
    """``sockets`` as a list (one path alone is accepted too)."""
    value = engine.get("sockets")
    if value in (None, ""):
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise ValueError(f"{where}.sockets: expected a list of strings, got {value!r}")


def container_engines(entry: Mapping[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
    """The ``container_engines`` mapping the plugin entry's ``init_config.engines`` asks
    for (None without ``engines``), and a warning for each key without effect. Raises
    ValueError naming the key when the block is not of the plugin's shape."""
    config = _init_config(entry)
    notes = [
        f"configuration key '{_WHERE}.{key}' is accepted but has no effect: "
        "Lanner's container metadata is built in"
        for key in config
        if key != "engines"
    ]
    engines = config.get("engines")
    if engines is None:
        return None, notes
    if not isinstance(engines, dict):
        raise ValueError(f"{_WHERE}.engines: expected a mapping, got {engines!r}")
    out: dict[str, Any] = {}
    cri_enabled = False
    cri_sockets: list[Any] = []
    for name, engine in engines.items():
        where = f"{_WHERE}.engines.{name}"
        if not isinstance(engine, dict):
            raise ValueError(f"{where}: expected a mapping, got {engine!r}")
        for key in set(engine) - {"enabled", "sockets"}:
            notes.append(
                f"configuration key '{where}.{key}' is accepted but has no effect: "
                "the plugin's engines take enabled and sockets"
            )
        enabled = engine.get("enabled", True)
        if name in _ASKED:
            out[name] = {"enabled": enabled}
            if sockets := _sockets(engine, where):
                out[name]["sockets"] = sockets
        elif name in _CRI:
            if enabled is True or str(enabled).lower() == "true":
                cri_enabled = True
                cri_sockets.extend(_sockets(engine, where))
        elif name in _NOT_ASKED:
            out[name] = {"enabled": enabled}
        else:
            raise ValueError(
                f"{where}: unknown engine (expected docker, podman, containerd, cri, lxc, "
                "libvirt_lxc or bpm)"
            )
    if any(name in engines for name in _CRI):
        out["cri"] = {"enabled": cri_enabled}
        if cri_sockets:
            out["cri"]["sockets"] = cri_sockets
    return out, notes
