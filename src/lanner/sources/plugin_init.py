"""A Falco plugin entry's ``init_config``, as Lanner's built-in sources read it: a JSON
object in a string (Falco's form), a YAML mapping, or empty; every key known to the
source and of its type, else an error naming the plugin and key.

Keys match without regard to case, as Go's ``encoding/json`` matches them: the plugins are
written in Go, so Falco takes ``s3Interval`` for ``S3Interval``; the same key given twice in
two spellings is refused here rather than resolved by order."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
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
    init = canonical_keys(f"{plugin} init_config", init, keys, error)
    for key, kind in keys.items():
        value = init.get(key)
        if key in init and (
            not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)
        ):
            raise error(f"{plugin} init_config.{key}: expected {kind.__name__}")
    return init


def canonical_keys(
    where: str, given: Mapping[str, Any], keys: Iterable[str], error: type[ValueError]
) -> dict[str, Any]:
    """``given`` with each key spelled as in ``keys`` (an exact match first, else one
    without regard to case, as Go decodes JSON); ``error`` for an unknown key or a key
    given twice."""
    known = list(keys)
    folded = {key.lower(): key for key in known}
    out: dict[str, Any] = {}
    unknown = []
    for key, value in given.items():
        name = key if key in known else folded.get(str(key).lower())
        if name is None:
            unknown.append(key)
        elif name in out:
            raise error(f"{where}: {name!r} given twice (keys match without regard to case)")
        else:
            out[name] = value
    if unknown:
        raise error(f"{where}: unknown key(s) {sorted(unknown)} (known: {sorted(known)})")
    return out
