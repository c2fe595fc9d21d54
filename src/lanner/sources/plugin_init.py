"""A Falco plugin entry's ``init_config``, as Lanner's built-in sources read it: a JSON
object in a string (Falco's form), a YAML mapping, or empty; every key known to the
source and of its type, else an error naming the plugin and key."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def read_init_config(
    plugin: str, init_config: Any, keys: Mapping[str, type], error: type[ValueError]
) -> dict[str, Any]:
    """The keys of ``init_config``; ``error`` for one that is not JSON, not an object, has
    a key not in ``keys`` or a value not of its type (a boolean is no integer)."""
    if init_config in (None, ""):
        return {}
    if isinstance(init_config, dict):
        init = init_config
    else:
        try:
            init = json.loads(str(init_config))
        except ValueError as exc:
            raise error(f"{plugin} init_config: not JSON: {exc}") from None
        if not isinstance(init, dict):
            raise error(f"{plugin} init_config: expected a JSON object")
    unknown = sorted(set(init) - set(keys))
    if unknown:
        raise error(f"{plugin} init_config: unknown key(s) {unknown} (known: {sorted(keys)})")
    for key, kind in keys.items():
        value = init.get(key)
        if key in init and (
            not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)
        ):
            raise error(f"{plugin} init_config.{key}: expected {kind.__name__}")
    return init
