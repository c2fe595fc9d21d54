"""Configuration with Falco's keys: a YAML file, ``-o key.sub=value`` overrides, ${ENV}.

Every key of Falco's ``falco.yaml`` that Lanner knows is declared once in
:data:`lanner.app.config_keys.SCHEME`; values are checked against it (a wrong type or an
out-of-range value is a :class:`ConfigError` naming the key path,
``http_output.max_retries: expected an integer, got 'x'``), unknown keys become warnings,
and missing keys take the scheme's defaults.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from lanner.app.config_keys import (
    LOG_LEVELS,
    SCHEME,
    STRATEGIES,
    Key,
    Node,
    Section,
    defaults,
    no_effect,
    refused,
)
from lanner.app.container_plugin import container_engines
from lanner.engine.priority import Priority
from lanner.exceptions import ConfigError
from lanner.records import Record

_ENV = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_DURATION_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
    "y": 31536000.0,
}
_INDEXED = re.compile(r"^([^\[\]]+)((?:\[\d*\])*)$")
APPEND = -1  # ``key[]`` in an override: a new list item
# plugins whose ``plugins`` entry a live input reads when ``load_plugins`` names them
PLUGIN_READERS = ("github", "okta", "k8saudit-eks", "gcpaudit", "k8saudit-gke", "k8saudit-aks")
# backslash escapes in an override's key, and the placeholders they become while it is split
_ESCAPES = (("\\\\", "\x00"), ("\\.", "\x01"), ("\\[", "\x02"), ("\\]", "\x03"))

_TYPE_NAMES = {
    "bool": "a boolean",
    "int": "an integer",
    "number": "a number",
    "str": "a string",
    "strlist": "a list of strings",
    "strmap": "a mapping of strings",
    "priority": "a priority (emergency, alert, critical, error, warning, notice, info, debug)",
    "duration": "a duration such as 500ms, 10s, 1h30m",
    "loglevel": f"a log level ({', '.join(LOG_LEVELS)})",
    "configfiles": "a list of paths or {path: P, strategy: append|override|add-only}",
    "selectors": "a list of {enable: {rule: NAME, tag: TAG}} or {disable: ...} items",
}


def parse_duration(value: Any) -> float:
    """Seconds in a Prometheus-style duration (``1h30m``, ``500ms``); a bare number is ms."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        return float(value) / 1000.0
    text = str(value).strip()
    if not text:
        raise ValueError("empty duration")
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text) / 1000.0
    pos = 0
    total = 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m[1]) * _DURATION_UNITS[m[2]]
        pos = m.end()
    if pos != len(text):
        raise ValueError(f"not a duration: {value!r}")
    return total


def _expand_env(value: Any) -> Any:
    """``${VAR}`` becomes the variable's value (empty if unset); ``$${VAR}`` stays literal."""
    if isinstance(value, str):
        return _ENV.sub(lambda m: "${" + m[2] + "}" if m[1] else os.environ.get(m[2], ""), value)
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


def _fail(path: str, what: str, value: Any) -> ConfigError:
    return ConfigError(f"{path}: expected {what}, got {value!r}")


def _check_leaf(kind: str, value: Any, path: str) -> Any:
    """A value of a leaf kind (``bool``, ``strlist``...), normalised, or a ConfigError."""
    if kind == "any":
        return value
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
    elif kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            return int(value)
    elif kind == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif kind == "str":
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if value is None:
            return ""
    elif kind == "strlist":
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    elif kind == "strmap":
        if value is None:
            return {}
        if isinstance(value, dict) and all(
            isinstance(v, str | int | float) for v in value.values()
        ):
            return {str(k): str(v) for k, v in value.items()}
    elif kind == "priority":
        try:
            Priority.parse(str(value))
            return str(value)
        except ValueError:
            pass
    elif kind == "loglevel":
        if str(value).lower() in LOG_LEVELS:
            return str(value).lower()
    elif kind == "duration":
        try:
            parse_duration(value)
            return value
        except ValueError:
            pass
    elif kind == "selectors":
        return _check_selectors(value, path)
    elif kind == "configfiles":
        return [f"{p}" for p, _strategy in _config_file_entries(value, path)]
    raise _fail(path, _TYPE_NAMES.get(kind, str(kind)), value)


def _check_selectors(value: Any, path: str) -> list[dict[str, dict[str, str]]]:
    """Falco's ``rules:`` items: ``{enable|disable: {rule: NAME*, tag: TAG}}``, in order."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(path, _TYPE_NAMES["selectors"], value)
    out = []
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        ops = [k for k in ("enable", "disable") if isinstance(item, dict) and k in item]
        if not isinstance(item, dict) or len(ops) != 1 or len(item) != 1:
            raise _fail(where, "one key, enable or disable", item)
        op = ops[0]
        body = item[op]
        if not isinstance(body, dict) or not body or set(body) - {"rule", "tag"}:
            raise _fail(f"{where}.{op}", "a mapping with rule and/or tag", body)
        sel: dict[str, str] = {}
        for key, sub in body.items():
            if not isinstance(sub, str | int | float) or isinstance(sub, bool) or sub == "":
                raise _fail(f"{where}.{op}.{key}", "a non-empty string", sub)
            sel[key] = str(sub)
        out.append({op: sel})
    return out


def _validate(value: Any, node: Node, path: str, warnings: list[str]) -> Any:
    """``value`` checked against its declaration (a section's keys one by one)."""
    if isinstance(node, Section):
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise _fail(path, "a mapping", value)
        out: dict[str, Any] = {}
        for key, sub in value.items():
            sub_path = f"{path}.{key}" if path else str(key)
            if key not in node.keys:
                warnings.append(f"unknown configuration key '{sub_path}' (ignored)")
                out[key] = sub
                continue
            out[key] = _validate(sub, node.keys[key], sub_path, warnings)
        if node.check is not None:
            try:
                node.check(out, path)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        return out
    if node.kind == "records":
        if value is None:
            return []
        if not isinstance(value, list):
            raise _fail(path, "a list", value)
        record = Section(node.items or {})
        return [_validate(item, record, f"{path}[{i}]", warnings) for i, item in enumerate(value)]
    return _check_key(node, value, path)


def _check_key(key: Key, value: Any, path: str) -> Any:
    """A leaf value: its kind, then the declared choices, range and extra rule."""
    if key.kind == "enum":
        if str(value).lower() not in key.choices:
            raise _fail(path, f"one of {', '.join(key.choices)}", value)
        return str(value).lower()
    checked = _check_leaf(key.kind, value, path)
    if key.kind == "strlist" and key.choices:
        checked = [str(v).lower() for v in checked]
        for i, item in enumerate(checked):
            if item not in key.choices:
                raise _fail(f"{path}[{i}]", f"one of {', '.join(key.choices)}", item)
    if isinstance(checked, int | float) and not isinstance(checked, bool):
        if key.minimum is not None and checked < key.minimum:
            raise ConfigError(f"{path}: must be at least {key.minimum:g}, got {checked!r}")
        if key.maximum is not None and checked > key.maximum:
            raise ConfigError(f"{path}: must be at most {key.maximum:g}, got {checked!r}")
    if key.check is not None:
        try:
            key.check(checked, path)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return checked


def _merge(base: dict[str, Any], doc: dict[str, Any]) -> None:
    """Deep-merge ``doc`` into ``base``: mappings merge, anything else replaces; an empty
    value (``http_output:`` with its keys commented out) keeps the default."""
    for key, value in doc.items():
        if value is None and key in base:
            continue
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def apply_override(doc: dict[str, Any], assignment: str) -> None:
    """Apply ``key.sub=value`` (value read as YAML, so ``true``, ``5`` and ``[a, b]`` work).

    A segment may index a list: ``plugins[0].open_params=...``; ``[]`` appends a new item,
    as Falco's ``-o rules[].disable.rule=NAME``. A backslash makes the next dot, bracket
    or backslash part of the name: ``static_fields.team\\.name=core``.
    """
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"invalid override '{assignment}': expected key=value")
    value = _parse_scalar(raw)
    steps: list[str | int] = []
    text = key.strip()
    for escaped, placeholder in _ESCAPES:  # as Falco: \. \[ \] \\ are literal in a name
        text = text.replace(escaped, placeholder)
    for part in text.split("."):
        m = _INDEXED.match(part)
        if m is None:
            raise ConfigError(f"invalid override key '{key}'")
        name = m[1]
        for escaped, placeholder in _ESCAPES:
            name = name.replace(placeholder, escaped[1])
        steps.append(name)
        steps.extend(int(i) if i else APPEND for i in re.findall(r"\[(\d*)\]", m[2]))
    node: Any = doc
    for i, step in enumerate(steps[:-1]):
        here = ".".join(str(s) for s in steps[: i + 1])
        nxt_is_index = isinstance(steps[i + 1], int)
        if step == APPEND:
            if not isinstance(node, list):
                raise ConfigError(f"'{here}': not a list")
            node.append([] if nxt_is_index else {})
            node = node[-1]
            continue
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                raise ConfigError(f"'{here}': no such list item")
            if not isinstance(node[step], dict | list):
                node[step] = [] if nxt_is_index else {}
            node = node[step]
            continue
        if not isinstance(node, dict):
            raise ConfigError(f"'{here}': not a mapping")
        nxt = node.get(step)
        if not isinstance(nxt, dict | list):
            if nxt is not None:
                raise ConfigError(f"'{here}' is not a mapping")
            nxt = node[step] = [] if nxt_is_index else {}
        node = nxt
    last = steps[-1]
    if isinstance(last, int):
        if not isinstance(node, list):
            raise ConfigError(f"'{key}': not a list")
        if last == APPEND or last == len(node):
            node.append(value)
        elif last < len(node):
            node[last] = value
        else:
            raise ConfigError(f"'{key}': no such list item")
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ConfigError(f"'{key}': not a mapping")


class Config(Record):
    """The effective configuration."""

    __slots__ = __match_args__ = (
        "values",
        "source_file",
        "warnings",
        "files",
        "folders",
        "locations",
    )
    values: dict[str, Any]
    source_file: str | None
    warnings: list[str]
    files: list[str]  # the config files read, in order
    folders: list[str]  # config_files directories
    locations: dict[str, str]  # key path -> FILE:LINE, -o

    def __init__(
        self,
        values: dict[str, Any] | None = None,
        source_file: str | None = None,
        warnings: list[str] | None = None,
        files: list[str] | None = None,
        folders: list[str] | None = None,
        locations: dict[str, str] | None = None,
    ) -> None:
        self.values = defaults() if values is None else values
        self.source_file = source_file
        self.warnings = [] if warnings is None else warnings
        self.files = [] if files is None else files
        self.folders = [] if folders is None else folders
        self.locations = {} if locations is None else locations

    def locate(self, message: str) -> str:
        """An error about a key path, prefixed with where that key was given."""
        return locate(self.locations, message)

    def get(self, key: str, default: Any = None) -> Any:
        """A value by dotted path."""
        node: Any = self.values
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def section(self, key: str) -> dict[str, Any]:
        """A mapping by dotted path (empty when absent)."""
        value = self.get(key)
        return value if isinstance(value, dict) else {}

    def boolean(self, key: str) -> bool:
        """A boolean value; a wrong type is a ConfigError naming the key."""
        return bool(_check_leaf("bool", self.get(key), key))

    def integer(self, key: str) -> int:
        """An integer value."""
        return int(_check_leaf("int", self.get(key), key))

    def number(self, key: str) -> float:
        """A number."""
        return float(_check_leaf("number", self.get(key), key))

    def duration(self, key: str) -> float:
        """A duration, in seconds."""
        value = self.get(key)
        try:
            return parse_duration(value)
        except ValueError:
            raise _fail(key, _TYPE_NAMES["duration"], value) from None

    def string_list(self, key: str) -> list[str]:
        """A list of strings (a single string is a one-item list)."""
        return list(_check_leaf("strlist", self.get(key), key))

    def priority(self) -> Priority:
        """The ``priority`` threshold."""
        return Priority.parse(str(self.get("priority", "debug")))


def event_input(cfg: Config, capture: str | None) -> tuple[str | None, bool]:
    """What ``engine.kind`` means for a run given ``-e`` (``capture``): the file to replay
    (``replay`` reads ``engine.replay.capture_file``) and whether the eBPF probe runs
    (``modern_ebpf``; not with ``nodriver``). ``-e`` wins over the engine, as in Falco."""
    kind = str(cfg.get("engine.kind") or "modern_ebpf")
    if capture is not None:
        return capture, False
    if kind == "replay":
        path = str(cfg.get("engine.replay.capture_file") or "")
        if not path:
            raise ConfigError("engine.kind is replay but engine.replay.capture_file is empty")
        return path, False
    return None, kind == "modern_ebpf"


def _read_yaml(path: str | Path) -> dict[str, Any]:
    if not Path(path).exists():
        raise ConfigError(f"Could not find configuration file at {path}")
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: the configuration must be a mapping")
    if "rules_file" in doc and "rules_files" in doc:
        raise ConfigError(f"{path}: both 'rules_file' and 'rules_files' are set: keep rules_files")
    if "rules_file" in doc:
        doc["rules_files"] = doc.pop("rules_file")
    expanded: dict[str, Any] = _expand_env(doc)
    return expanded


Locations = dict[str, str]  # key path (``rules[1].disable``) -> ``FILE:LINE`` or ``-o ...``


def _locations(path: str | Path) -> Locations:
    """Where each key and list item of a YAML file starts, by key path."""
    try:
        root = yaml.compose(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    out: Locations = {}

    def walk(node: yaml.Node | None, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = key_node.value
                if not prefix and key == "rules_file":
                    key = "rules_files"
                here = f"{prefix}.{key}" if prefix else key
                out[here] = f"{path}:{key_node.start_mark.line + 1}"
                walk(value, here)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                out[f"{prefix}[{i}]"] = f"{path}:{item.start_mark.line + 1}"
                walk(item, f"{prefix}[{i}]")

    walk(root, "")
    return out


def _under(key: str, path: str) -> bool:
    return path == key or path.startswith((key + ".", key + "["))


def _shifted(locs: Locations, key: str, offset: int) -> Locations:
    """The locations under ``key``, list indices of ``key[i]`` moved by ``offset``."""
    out: Locations = {}
    for path, where in locs.items():
        if not _under(key, path) or path == key:
            continue
        m = re.match(rf"{re.escape(key)}\[(\d+)\](.*)", path)
        if m:
            out[f"{key}[{int(m[1]) + offset}]{m[2]}"] = where
    return out


def _config_file_entries(value: Any, path: str = "config_files") -> list[tuple[str, str]]:
    """Falco's ``config_files`` items: a path, or ``{path: P, strategy: S}`` (default
    ``append``), as (path, strategy) pairs."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise _fail(path, _TYPE_NAMES["configfiles"], value)
    out = []
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        if isinstance(item, str):
            out.append((item, "append"))
            continue
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            raise _fail(where, "a path or a mapping with path (and strategy)", item)
        if set(item) - {"path", "strategy"}:
            raise _fail(where, "only path and strategy", item)
        strategy = item.get("strategy") or "append"
        if strategy not in STRATEGIES:
            raise _fail(f"{where}.strategy", f"one of {', '.join(STRATEGIES)}", strategy)
        out.append((item["path"], str(strategy)))
    return out


def _include(
    doc: dict[str, Any], extra: dict[str, Any], strategy: str, name: Path, where: Locations
) -> None:
    """Merge an included file into the main document at the top level, as Falco:
    ``append`` extends lists and replaces the rest, ``override`` replaces, ``add-only``
    only adds keys the document does not have. Mappings are replaced whole, not merged.
    ``where`` follows: the locations of what came from ``name``."""
    locs = _locations(name)
    for key, value in extra.items():
        if key == "config_files":
            raise ConfigError(f"{name}: 'config_files' is not allowed in an included file")
        if strategy == "add-only":
            if key in doc:
                continue
            doc[key] = value
        elif strategy == "append" and isinstance(value, list):
            have = doc.get(key)
            have = have if isinstance(have, list) else []
            doc[key] = have + value
            where.update(_shifted(locs, key, len(have)))
            where[key] = locs.get(key, str(name))
            continue
        else:
            doc[key] = value
        for path in [p for p in where if _under(key, p)]:
            del where[path]
        where.update({p: w for p, w in locs.items() if _under(key, p)})


def _paths(doc: Any, prefix: str = "") -> Iterable[str]:
    """Every key path of a document (``a``, ``a.b``...); list items are not entered."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            here = f"{prefix}.{key}" if prefix else str(key)
            yield here
            yield from _paths(value, here)


def _present(values: dict[str, Any], path: str) -> tuple[bool, Any]:
    node: Any = values
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def load_config(path: str | Path | None, overrides: Iterable[str] = ()) -> Config:
    """Read a config file (optional) and its ``config_files``, apply ``-o`` overrides,
    check every key.

    As Falco: ``-o config_files...`` applies first, the included files (paths as given,
    relative to the working directory; a directory's files in name order; a missing one
    skipped) merge at the top level by their strategy, then the other ``-o`` apply.
    """
    overrides = [_expand_env(a) for a in overrides]
    warnings: list[str] = []
    user: dict[str, Any] = {}
    files: list[str] = []
    folders: list[str] = []
    where: Locations = {}
    if path is not None:
        user = _read_yaml(path)
        where.update(_locations(path))
        files.append(str(path))
        for assignment in overrides:
            if assignment.startswith("config_files"):
                apply_override(user, assignment)
        for extra, strategy in _config_file_entries(user.get("config_files")):
            target = Path(extra)
            if target.resolve() == Path(path).resolve():
                raise ConfigError(f"config_files: '{extra}' would include the main file")
            if target.is_dir():
                folders.append(extra)
                included = sorted(f for f in target.iterdir() if f.is_file())
                included = [f for f in included if f.suffix in (".yaml", ".yml")]
            elif target.is_file():
                included = [target]
            else:
                warnings.append(f"config_files: '{extra}' does not exist (skipped)")
                continue
            for f in included:
                _include(user, _read_yaml(f), strategy, f, where)
                files.append(str(f))
    values = defaults()
    _merge(values, user)
    set_by_user = set(_paths(user))
    for assignment in overrides:
        if assignment.startswith("rules_file="):
            assignment = "rules_files=" + assignment.partition("=")[2]
        if path is not None and assignment.startswith("config_files"):
            continue
        apply_override(values, assignment)
        assigned = assignment.partition("=")[0].strip()
        for path_seen in [p for p in where if _under(re.sub(r"\[\]", "", assigned), p)]:
            del where[path_seen]
        where[re.sub(r"\[\d*\].*", "", assigned)] = f"-o {assignment}"
        key = re.sub(r"\[\d*\]", "", assigned)
        parts = key.split(".")
        set_by_user.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    if "rules_file" in values:
        values["rules_files"] = values.pop("rules_file")
    # an override that replaced or emptied a whole mapping (-o webserver=) leaves the keys
    # it does not give at their defaults, as an empty value in the file does
    filled = defaults()
    _merge(filled, values)
    values = filled
    try:
        checked = _validate(values, SCHEME, "", warnings)
        for (key, bad), reason in refused().items():
            found, value = _present(checked, key)
            if found and value == bad:
                raise ConfigError(f"{key}: {value!r} is not supported: {reason}")
    except ConfigError as exc:
        raise ConfigError(locate(where, str(exc))) from None
    for key, reason in no_effect().items():
        if key in set_by_user:
            warnings.append(f"configuration key '{key}' is accepted but has no effect: {reason}")
    plugins = [p for p in checked.get("plugins") or [] if isinstance(p, dict)]
    if any("library_path" in p for p in plugins):
        warnings.append(
            "configuration key 'plugins[].library_path' is accepted but has no effect: "
            "the sources are built in, no plugin library is loaded"
        )
    loaded = checked.get("load_plugins") or []
    for plugin in plugins:
        if plugin.get("name") == "container" and "container" in loaded:
            _container_plugin(plugin, checked, set_by_user, warnings)
            continue
        if plugin.get("name") in INIT_KEYS:  # read by Daemon._start_k8s_audit, k8s_metadata
            if plugin.get("name") in loaded:
                warnings.extend(_plugin_init_notes(plugin["name"], plugin.get("init_config")))
            continue
        if plugin.get("name") == "cloudtrail" and "cloudtrail" in loaded:
            continue  # read by app.cloudtrail_input
        if plugin.get("name") in PLUGIN_READERS and plugin.get("name") in loaded:
            continue  # read by app.github_input, okta_input, eks_input, gcp_input, aks_input
        why = (
            "container metadata is built in (see container_engines)"
            if plugin.get("name") == "container"
            else "only k8saudit's, k8smeta's, cloudtrail's, github's, okta's, k8saudit-eks's, "
            "gcpaudit's, k8saudit-gke's and k8saudit-aks's are read "
            "(the other sources replay files given with -e)"
        )
        for key in ("init_config", "open_params"):
            if plugin.get(key) not in (None, "", {}):
                warnings.append(
                    f"configuration key 'plugins[{plugin.get('name')}].{key}' is accepted "
                    f"but has no effect: {why}"
                )
    cfg = Config(checked, str(path) if path else None, warnings)
    cfg.files, cfg.folders, cfg.locations = files, folders, where
    return cfg


# init_config of the k8saudit and k8smeta plugins: the keys Lanner reads (k8saudit's by
# Daemon._start_k8s_audit, authToken, authTokenFile, maxQueuedEvents, queueWaitMs being
# Lanner's; k8smeta's by app.k8s_metadata, kubeconfig, context, inCluster, resyncPeriodS
# being Lanner's) and the plugin's keys it accepts without effect
_NO_COLLECTOR = "Lanner watches the API server itself (no k8s-metacollector)"
INIT_KEYS: dict[str, tuple[frozenset[str], dict[str, str]]] = {
    "k8saudit": (
        frozenset({"sslCertificate", "webhookMaxBatchSize", "authToken", "authTokenFile",
                   "maxQueuedEvents", "queueWaitMs"}),
        {
            "maxEventSize": "a request is bounded by webhookMaxBatchSize, not event by event",
            "useAsync": "the webhook runs in its own thread",
        },
    ),
    "k8smeta": (
        frozenset({"nodeName", "kubeconfig", "context", "inCluster", "resyncPeriodS"}),
        {
            "collectorHostname": _NO_COLLECTOR,
            "collectorPort": _NO_COLLECTOR,
            "caPEMBundle": _NO_COLLECTOR,
            "verbosity": "Lanner's logs follow log_level",
            "hostProc": "processes are read from the /proc Lanner sees",
        },
    ),
}  # fmt: skip


def _plugin_init_notes(name: str, raw: Any) -> list[str]:
    """A warning for each key of the plugin's init_config Lanner does not read."""
    read, without_effect = INIT_KEYS[name]
    config = raw
    if isinstance(raw, str) and raw.strip():
        try:
            config = json.loads(raw)
        except ValueError:
            return []  # reported by the reader of the plugin's init_config
    if not isinstance(config, dict):
        return []
    notes = []
    for key in config:
        where = f"plugins[{name}].init_config.{key}"
        if key in without_effect:
            notes.append(
                f"configuration key '{where}' is accepted but has no effect: {without_effect[key]}"
            )
        elif key not in read:
            notes.append(f"unknown configuration key '{where}' (ignored)")
    return notes


def _container_plugin(
    plugin: dict[str, Any], checked: dict[str, Any], set_by_user: set[str], warnings: list[str]
) -> None:
    """Falco 0.41+'s loaded container plugin: its ``init_config.engines`` become
    ``container_engines`` unless that key is set too (it wins, as the key Lanner reads)."""
    where = "plugins[container].init_config"
    try:
        engines, notes = container_engines(plugin)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    warnings.extend(notes)
    if engines is None:
        return
    if "container_engines" in set_by_user:
        warnings.append(f"{where}.engines not used: container_engines is set and wins")
        return
    section = SCHEME.keys["container_engines"]
    checked["container_engines"] = _validate(engines, section, f"{where}.engines", warnings)
    for key, reason in no_effect().items():
        name = key.removeprefix("container_engines.")
        if key.startswith("container_engines.") and _present(engines, name)[0]:
            warnings.append(
                f"configuration key '{where}.engines.{name}' is accepted but has no effect: "
                f"{reason}"
            )


def locate(where: Locations, message: str) -> str:
    """Prefix an error about ``KEY.PATH: ...`` with where its value was given
    (``FILE:LINE: `` or ``-o KEY=VALUE: ``), from the deepest path known."""
    path = message.split(":", 1)[0].split(" ", 1)[0]
    while path:
        if path in where:
            return f"{where[path]}: {message}"
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return message
