"""Walking an audit event's JSON as the k8saudit plugin does (fastjson ``Get`` semantics).

``collect`` follows falcosecurity/plugins ``getValuesRecursive``: a path of object keys
where every array met on the way fans out (or, with an index argument, is indexed);
an element that lacks the rest of the path contributes a hole (:data:`NA`).
"""

from __future__ import annotations

from typing import Any

from lanner.sources.json_source.event import as_text
from lanner.sources.json_source.pointer import MISSING as NA


def at(doc: Any, keys: tuple[str, ...]) -> Any:
    """The value under nested object keys, or NA."""
    value = doc
    for key in keys:
        if type(value) is not dict:
            return NA
        value = value.get(key, NA)
        if value is NA:
            return NA
    return value


def collect(value: Any, index: int | None, keys: tuple[str, ...]) -> list[Any] | Any:
    """All values at ``keys`` through any arrays; NA when the path is absent.

    An empty key keeps the current value (the plugin's ``Get()``).
    """
    for i, key in enumerate(keys):
        if type(value) is list:
            if index is None:
                out: list[Any] = []
                rest = keys[i:]
                for item in value:
                    sub = collect(item, None, rest)
                    if sub is NA:
                        out.append(NA)
                    else:
                        out.extend(sub)
                return out
            if index >= len(value):
                return NA
            value = value[index]
        if key:
            if type(value) is not dict:
                return NA
            value = value.get(key, NA)
            if value is NA:
                return NA
    return [value]


def texts_skip_missing(values: list[Any]) -> list[str]:
    """Every present value as text (strings as-is, others as compact JSON)."""
    return [v if type(v) is str else as_text(v) for v in values if v is not NA]


def texts_strict(values: list[Any]) -> list[str] | None:
    """Every value as text, or None when any is missing (the plugin's ``arrayAsStrings``)."""
    if any(v is NA for v in values):
        return None
    return [v if type(v) is str else as_text(v) for v in values]


def image_repository(image: str) -> str:
    """``registry/repo:tag@digest`` -> ``registry/repo``, split as the plugin splits it."""
    return image.split(":", 1)[0].split("@", 1)[0]
