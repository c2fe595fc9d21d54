"""The json plugin's fields: ``json.value[/pointer]``, ``json.obj``, ``json.rawtime``.

``jevt.*`` are the same fields under their old names (the k8s audit rules use them).
Semantics follow falcosecurity/plugins ``plugins/json``: a pointer that leads nowhere
has no value, strings print as-is and anything else as compact JSON; ``json.obj`` is the
whole document indented by two spaces.
"""

from __future__ import annotations

import json
from typing import Any

from lanner.engine.fields import ArgKind, Field
from lanner.sources.json_source.event import as_text
from lanner.sources.json_source.fieldkit import Getter, plain, with_arg
from lanner.sources.json_source.pointer import MISSING, compile_pointer, split_pointer


def _value_getter(arg: Any) -> Getter:
    pointer = str(arg) if arg is not None else ""
    tokens = split_pointer(pointer)
    if len(tokens) == 1 and not tokens[0].isdigit():
        (key,) = tokens  # /stage and the like: the hot case, one function

        def top(event: Any) -> Any:
            doc = event.data
            if type(doc) is not dict:
                return None
            value = doc.get(key, MISSING)
            if value is MISSING:
                return None
            return value if type(value) is str else as_text(value)

        return top
    lookup = compile_pointer(pointer)

    def get(event: Any) -> Any:
        value = lookup(event.data)
        if value is MISSING:
            return None
        return value if type(value) is str else as_text(value)

    return get


def _obj(event: Any) -> str:
    return json.dumps(event.data, indent=2, ensure_ascii=False)


def _rawtime(event: Any) -> str:
    return str(event.ts)


def json_fields(prefix: str = "json") -> list[Field]:
    """``<prefix>.value``, ``<prefix>.obj`` and ``<prefix>.rawtime``."""
    return [
        with_arg(
            f"{prefix}.value",
            "a value of the JSON document: json.value[<json pointer>] (RFC 6901)",
            _value_getter,
            kind=ArgKind.KEY,
            required=True,
        ),
        plain(f"{prefix}.obj", "the whole JSON document as text", _obj),
        plain(f"{prefix}.rawtime", "the event time in ns, as text (like evt.rawtime)", _rawtime),
    ]


def all_json_fields() -> list[Field]:
    """The json plugin's fields under both names, ``json.*`` and ``jevt.*``."""
    return json_fields("json") + json_fields("jevt")
