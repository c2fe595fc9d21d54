"""Configuration with Falco's keys: a YAML file, ``-o key.sub=value`` overrides, ${ENV}.

This holds the keys the rule engine and the replay loop use; the daemon issue extends it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

DEFAULTS: dict[str, Any] = {
    "rules_files": [],
    "priority": "debug",
    "json_output": False,
    "json_include_output_property": True,
    "json_include_tags_property": True,
    "json_include_output_fields_property": True,
    "json_include_message_property": False,
    "time_format_iso_8601": False,
    "rule_matching": "first",
    "stdout_output": {"enabled": True},
}


class ConfigError(Exception):
    """A configuration value of the wrong type or shape, with its key path."""


def _expand_env(value: Any) -> Any:
    if isinstance(value, str):
        return _ENV.sub(lambda m: os.environ.get(m[1], ""), value)
    if isinstance(value, list):
        return [_expand_env(v) for v in value]
    if isinstance(value, dict):
        return {k: _expand_env(v) for k, v in value.items()}
    return value


def _parse_scalar(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def apply_override(doc: dict[str, Any], assignment: str) -> None:
    """Apply ``key.sub=value`` (value read as YAML, so ``true``, ``5`` and ``[a, b]`` work)."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"invalid override '{assignment}': expected key=value")
    parts = key.strip().split(".")
    node = doc
    for i, part in enumerate(parts[:-1]):
        nxt = node.get(part)
        if not isinstance(nxt, dict):
            if nxt is not None:
                raise ConfigError(f"'{'.'.join(parts[: i + 1])}' is not a mapping")
            nxt = node[part] = {}
        node = nxt
    node[parts[-1]] = _parse_scalar(raw)


@dataclass(slots=True)
class Config:
    """The effective configuration."""

    values: dict[str, Any] = field(default_factory=lambda: dict(DEFAULTS))
    source_file: str | None = None

    def get(self, key: str, default: Any = None) -> Any:
        """A value by dotted path."""
        node: Any = self.values
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def boolean(self, key: str) -> bool:
        """A boolean value; a wrong type is a ConfigError naming the key."""
        value = self.get(key)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ConfigError(f"{key}: expected a boolean, got {value!r}")

    def string_list(self, key: str) -> list[str]:
        """A list of strings (a single string is a one-item list)."""
        value = self.get(key) or []
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key}: expected a list of strings, got {value!r}")
        return value


def load_config(path: str | Path | None, overrides: Iterable[str] = ()) -> Config:
    """Read a config file (optional) and apply ``-o`` overrides."""
    values: dict[str, Any] = {
        k: (dict(v) if isinstance(v, dict) else v) for k, v in DEFAULTS.items()
    }
    if path is not None:
        try:
            doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: {exc}") from None
        if not isinstance(doc, dict):
            raise ConfigError(f"{path}: the configuration must be a mapping")
        if "rules_file" in doc and "rules_files" not in doc:
            doc["rules_files"] = doc.pop("rules_file")
        values.update(_expand_env(doc))
    for assignment in overrides:
        apply_override(values, _expand_env(assignment))
    return Config(values, str(path) if path else None)
