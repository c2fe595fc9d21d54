"""YAML documents as plain values that remember where each node was written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

try:  # libyaml when present: several times faster
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader

_BOOL_TRUE = {"true", "yes", "on", "y"}


@dataclass(slots=True)
class YNode:
    """A YAML node: ``value`` is a scalar, a list of YNode or a dict of str -> YNode."""

    value: Any
    kind: str  # "scalar", "seq" or "map"
    line: int  # 1-based
    column: int  # 1-based
    offset: int  # 0-based
    raw: str | None = None  # a scalar's text as written (what Falco reads as a string)

    def get(self, key: str) -> YNode | None:
        """The child at ``key`` of a mapping, or None."""
        if self.kind != "map":
            return None
        child: YNode | None = self.value.get(key)
        return child

    def plain(self) -> Any:
        """The node as plain Python data, without positions."""
        if self.kind == "seq":
            return [c.plain() for c in self.value]
        if self.kind == "map":
            return {k: c.plain() for k, c in self.value.items()}
        return self.value


def _scalar(node: yaml.ScalarNode) -> Any:
    tag, text = node.tag, node.value
    if node.style in ('"', "'", "|", ">"):
        return text
    if tag.endswith(":null"):
        return None
    if tag.endswith(":bool"):
        return text.lower() in _BOOL_TRUE
    if tag.endswith(":int"):
        try:
            return int(text.replace("_", ""), 0)
        except ValueError:
            return text
    if tag.endswith(":float"):
        try:
            return float(text.replace("_", ""))
        except ValueError:
            return text
    return text


def _convert(node: yaml.Node, depth: int = 0, memo: dict[int, YNode] | None = None) -> YNode:
    # aliases share one converted node: a "billion laughs" document stays small
    memo = {} if memo is None else memo
    done = memo.get(id(node))
    if done is not None:
        return done
    mark = node.start_mark
    pos = (mark.line + 1, mark.column + 1, mark.index)
    if depth > 200:
        raise yaml.YAMLError(f"document nested too deeply at line {pos[0]}")
    if isinstance(node, yaml.ScalarNode):
        result = YNode(_scalar(node), "scalar", *pos, raw=node.value)
    elif isinstance(node, yaml.SequenceNode):
        result = YNode([_convert(c, depth + 1, memo) for c in node.value], "seq", *pos)
    elif isinstance(node, yaml.MappingNode):
        out: dict[str, YNode] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            out[str(key)] = _convert(value_node, depth + 1, memo)
        result = YNode(out, "map", *pos)
    else:
        raise yaml.YAMLError(f"unsupported YAML node at line {pos[0]}")
    memo[id(node)] = result
    return result


def load_documents(text: str) -> list[YNode | None]:
    """Parse every document of a YAML stream; raises ``yaml.YAMLError`` on bad YAML."""
    return [None if doc is None else _convert(doc) for doc in yaml.compose_all(text, _Loader)]
