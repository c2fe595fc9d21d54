"""YAML documents as plain values that remember where each node was written."""

from __future__ import annotations

from typing import Any

import yaml

from lanner.records import Record

try:  # libyaml when present: several times faster
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader

_BOOL_TRUE = {"true", "yes", "on", "y"}


class YNode(Record):
    """A YAML node: ``value`` is a scalar, a list of YNode or a dict of str -> YNode."""

    __slots__ = __match_args__ = ("value", "kind", "line", "column", "offset", "raw")
    value: Any
    kind: str  # "scalar", "seq" or "map"
    line: int  # 1-based
    column: int  # 1-based
    offset: int  # 0-based
    raw: str | None  # a scalar's text as written (what Falco reads as a string)

    def __init__(
        self,
        value: Any,
        kind: str,
        line: int,
        column: int,
        offset: int,
        raw: str | None = None,
    ) -> None:
        self.value = value
        self.kind = kind
        self.line = line
        self.column = column
        self.offset = offset
        self.raw = raw

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


_STR_TAG = "tag:yaml.org,2002:str"
_QUOTED = frozenset(('"', "'", "|", ">"))


def _scalar(node: yaml.ScalarNode) -> Any:
    tag, text = node.tag, node.value
    if tag == _STR_TAG or node.style in _QUOTED:  # most scalars of a rules file
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


def _convert(node: yaml.Node, depth: int, memo: dict[int, YNode]) -> YNode:
    mark = node.start_mark
    if depth > 200:
        raise yaml.YAMLError(f"document nested too deeply at line {mark.line + 1}")
    if isinstance(node, yaml.ScalarNode):  # a leaf: nothing to share
        text = node.value
        return YNode(_scalar(node), "scalar", mark.line + 1, mark.column + 1, mark.index, text)
    # aliases share one converted collection: a "billion laughs" document stays small
    done = memo.get(id(node))
    if done is not None:
        return done
    depth += 1
    if isinstance(node, yaml.SequenceNode):
        items = [_convert(c, depth, memo) for c in node.value]
        result = YNode(items, "seq", mark.line + 1, mark.column + 1, mark.index)
    elif isinstance(node, yaml.MappingNode):
        out: dict[str, YNode] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            out[str(key)] = _convert(value_node, depth, memo)
        result = YNode(out, "map", mark.line + 1, mark.column + 1, mark.index)
    else:
        raise yaml.YAMLError(f"unsupported YAML node at line {mark.line + 1}")
    memo[id(node)] = result
    return result


def load_documents(text: str) -> list[YNode | None]:
    """Parse every document of a YAML stream; raises ``yaml.YAMLError`` on bad YAML."""
    docs = yaml.compose_all(text, _Loader)
    return [None if doc is None else _convert(doc, 0, {}) for doc in docs]
