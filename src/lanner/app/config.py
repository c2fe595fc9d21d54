"""Configuration with Falco's keys: a YAML file, ``-o key.sub=value`` overrides, ${ENV}.

Every key of Falco's ``falco.yaml`` that Lanner knows is described in :data:`SCHEMA`;
values are checked against it (a wrong type is a :class:`ConfigError` naming the key path,
``http_output.max_retries: expected an integer, got 'x'``), unknown keys become warnings,
and missing keys take the defaults of :data:`DEFAULTS`.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lanner.engine.priority import Priority

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

LOG_LEVELS = ("emergency", "alert", "critical", "error", "warning", "notice", "info", "debug")
SYSLOG_FACILITIES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
    "authpriv", "ftp", "local0", "local1", "local2", "local3", "local4", "local5", "local6",
    "local7",
)  # fmt: skip

ENGINE_KINDS = ("modern_ebpf", "replay", "nodriver", "kmod", "ebpf", "gvisor")

# Leaf types: bool, int, number, str, strlist, strmap, priority, duration, loglevel, any;
# ("enum", choices); [subschema] for a list of mappings; a dict for a nested mapping.
SCHEMA: dict[str, Any] = {
    "config_files": "configfiles",
    "rules_files": "strlist",
    "rules": "selectors",
    "load_plugins": "strlist",
    "plugins": [{"name": "str", "library_path": "str", "init_config": "any", "open_params": "any"}],
    "watch_config_files": "bool",
    "allow_empty_rules": "bool",
    "time_format_iso_8601": "bool",
    "priority": "priority",
    "json_output": "bool",
    "json_include_output_property": "bool",
    "json_include_tags_property": "bool",
    "json_include_output_fields_property": "bool",
    "json_include_message_property": "bool",
    "buffered_outputs": "bool",
    "outputs": {"rate": "number", "max_burst": "int"},
    "outputs_queue": {
        "capacity": "int",
        "max_wait": "duration",
        "spill_dir": "str",
        "spill_max_mb": "int",
    },
    "rule_matching": ("enum", ("first", "all")),
    "output_timeout": "int",
    "stdout_output": {"enabled": "bool"},
    "syslog_output": {
        "enabled": "bool",
        "address": "str",
        "facility": ("enum", SYSLOG_FACILITIES),
        "ident": "str",
    },
    "file_output": {"enabled": "bool", "keep_alive": "bool", "filename": "str"},
    "http_output": {
        "enabled": "bool",
        "url": "str",
        "user_agent": "str",
        "insecure": "bool",
        "ca_cert": "str",
        "ca_bundle": "str",
        "ca_path": "str",
        "mtls": "bool",
        "client_cert": "str",
        "client_key": "str",
        "echo": "bool",
        "compress_uploads": "bool",
        "keep_alive": "bool",
        "headers": "strmap",
        "timeout": "duration",
        "max_retries": "int",
        "retry_backoff": "duration",
        "max_consecutive_timeouts": "int",
    },
    "program_output": {"enabled": "bool", "keep_alive": "bool", "program": "str"},
    "grpc_output": {"enabled": "bool"},
    "grpc": "any",
    "webserver": {
        "enabled": "bool",
        "threadiness": "int",
        "listen_port": "int",
        "listen_address": "str",
        "k8s_healthz_endpoint": "str",
        "prometheus_metrics_enabled": "bool",
        "ssl_enabled": "bool",
        "ssl_certificate": "str",
        "k8s_audit_endpoint": "str",
        "auth_token": "str",
        "auth_token_file": "str",
    },
    "log_stderr": "bool",
    "log_syslog": "bool",
    "log_level": "loglevel",
    "libs_logger": {"enabled": "bool", "severity": "str"},
    "syscall_event_timeouts": {"max_consecutives": "int"},
    "syscall_event_drops": {
        "threshold": "number",
        "actions": "strlist",
        "rate": "number",
        "max_burst": "int",
        "simulate_drops": "bool",
    },
    "metrics": {
        "enabled": "bool",
        "interval": "duration",
        "output_rule": "bool",
        "output_file": "str",
        "rules_counters_enabled": "bool",
        "resource_utilization_enabled": "bool",
        "state_counters_enabled": "bool",
        "kernel_event_counters_enabled": "bool",
        "kernel_event_counters_per_cpu_enabled": "bool",
        "libbpf_stats_enabled": "bool",
        "plugins_metrics_enabled": "bool",
        "jemalloc_stats_enabled": "bool",
        "kernel_iter_event_counters_enabled": "bool",
        "convert_memory_to_mb": "bool",
        "include_empty_values": "bool",
    },
    "syscall_buf_size_preset": "int",
    "syscall_drop_failed_exit": "bool",
    "base_syscalls": {"custom_set": "strlist", "repair": "bool", "all": "bool"},
    "modern_bpf": {"cpus_for_each_syscall_buffer": "int"},
    "engine": {
        "kind": ("enum", ENGINE_KINDS),
        "kmod": {"buf_size_preset": "int", "drop_failed_exit": "bool"},
        "ebpf": {"probe": "str", "buf_size_preset": "int", "drop_failed_exit": "bool"},
        "modern_ebpf": {
            "cpus_for_each_buffer": "int",
            "buf_size_preset": "int",
            "drop_failed_exit": "bool",
            "disable_iterators": "bool",
        },
        "replay": {"capture_file": "str"},
        "gvisor": {"config": "str", "root": "str"},
    },
    "capture": {
        "enabled": "bool",
        "path_prefix": "str",
        "mode": ("enum", ("rules", "all_rules")),
        "default_duration": "int",
        "max_file_size_mb": "int",
    },
    "plugins_hostinfo": "bool",
    "buffer_format_base64": "bool",
    "falco_libs": {
        "thread_table_size": "int",
        "thread_table_auto_purging_interval_s": "int",
        "thread_table_auto_purging_thread_timeout_s": "int",
        "snaplen": "int",
    },
    "container_engines": "any",
    "metadata_download": "any",
    "append_output": "any",
    "static_fields": "strmap",
}

DEFAULTS: dict[str, Any] = {
    "config_files": [],
    "rules_files": [],
    "rules": [],
    "load_plugins": [],
    "plugins": [],
    "watch_config_files": True,
    "allow_empty_rules": False,
    "time_format_iso_8601": False,
    "priority": "debug",
    "json_output": False,
    "json_include_output_property": True,
    "json_include_tags_property": True,
    "json_include_output_fields_property": True,
    "json_include_message_property": False,
    "buffered_outputs": False,
    "outputs": {"rate": 0, "max_burst": 1000},
    # Lanner: a full queue holds the event loop up to max_wait, then spills to a file in
    # spill_dir (the system's temporary directory when empty) up to spill_max_mb
    "outputs_queue": {"capacity": 10000, "max_wait": "1s", "spill_dir": "", "spill_max_mb": 256},
    "rule_matching": "first",
    "output_timeout": 2000,
    "stdout_output": {"enabled": True},
    # Falco enables syslog_output and the web server in its shipped falco.yaml; without a
    # configuration file Lanner writes to stdout only (lanner.yaml turns them on).
    "syslog_output": {"enabled": False, "address": "/dev/log", "facility": "user", "ident": ""},
    "file_output": {"enabled": False, "keep_alive": False, "filename": "./events.txt"},
    "http_output": {
        "enabled": False,
        "url": "",
        "user_agent": "falcosecurity/falco",
        "insecure": False,
        "ca_cert": "",
        "ca_bundle": "",
        "ca_path": "/etc/ssl/certs",
        "mtls": False,
        "client_cert": "/etc/ssl/certs/client.crt",
        "client_key": "/etc/ssl/certs/client.key",
        "echo": False,
        "compress_uploads": False,
        "keep_alive": True,
        "headers": {},
        "timeout": "10s",
        "max_retries": 5,
        "retry_backoff": "500ms",
    },
    "program_output": {"enabled": False, "keep_alive": False, "program": ""},
    "grpc_output": {"enabled": False},
    "webserver": {
        "enabled": False,
        "threadiness": 0,
        "listen_port": 8765,
        "listen_address": "127.0.0.1",  # Falco: 0.0.0.0; a wide bind is opt-in
        "k8s_healthz_endpoint": "/healthz",
        "prometheus_metrics_enabled": True,
        "ssl_enabled": False,
        "ssl_certificate": "/etc/lanner/lanner.pem",
        "k8s_audit_endpoint": "/k8s-audit",
        "auth_token": "",  # Lanner: bearer token (else auth_token_file, else env)
        "auth_token_file": "",
    },
    "syscall_event_drops": {
        "threshold": 0.1,
        "actions": ["log", "alert"],
        "rate": 0.03333,
        "max_burst": 1,
        "simulate_drops": False,
    },
    "log_stderr": True,
    "log_syslog": False,
    "log_level": "info",
    "metrics": {
        "enabled": False,
        "interval": "1h",
        "output_rule": True,
        "output_file": "",
        "rules_counters_enabled": True,
        "resource_utilization_enabled": True,
        "state_counters_enabled": True,
        "kernel_event_counters_enabled": True,
        "libbpf_stats_enabled": False,
        "convert_memory_to_mb": True,
        "include_empty_values": False,
    },
    "base_syscalls": {"custom_set": [], "repair": False, "all": False},
    "engine": {"kind": "modern_ebpf", "replay": {"capture_file": ""}},
}

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


class ConfigError(Exception):
    """A configuration value of the wrong type or shape, with its key path."""


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


def _check_leaf(kind: Any, value: Any, path: str) -> Any:
    if kind == "any":
        return value
    if isinstance(kind, tuple):
        choices = kind[1]
        if str(value).lower() not in choices:
            raise _fail(path, f"one of {', '.join(choices)}", value)
        return str(value).lower()
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


def _validate(value: Any, spec: Any, path: str, warnings: list[str]) -> Any:
    if isinstance(spec, dict):
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise _fail(path, "a mapping", value)
        out: dict[str, Any] = {}
        for key, sub in value.items():
            sub_path = f"{path}.{key}" if path else str(key)
            if key not in spec:
                warnings.append(f"unknown configuration key '{sub_path}' (ignored)")
                out[key] = sub
                continue
            out[key] = _validate(sub, spec[key], sub_path, warnings)
        return out
    if isinstance(spec, list):
        if value is None:
            return []
        if not isinstance(value, list):
            raise _fail(path, "a list", value)
        return [_validate(item, spec[0], f"{path}[{i}]", warnings) for i, item in enumerate(value)]
    return _check_leaf(spec, value, path)


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
    as Falco's ``-o rules[].disable.rule=NAME``.
    """
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"invalid override '{assignment}': expected key=value")
    value = _parse_scalar(raw)
    steps: list[str | int] = []
    for part in key.strip().split("."):
        m = _INDEXED.match(part)
        if m is None:
            raise ConfigError(f"invalid override key '{key}'")
        steps.append(m[1])
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


@dataclass(slots=True)
class Config:
    """The effective configuration."""

    values: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULTS))
    source_file: str | None = None
    warnings: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # the config files read, in order
    folders: list[str] = field(default_factory=list)  # config_files directories
    locations: dict[str, str] = field(default_factory=dict)  # key path -> FILE:LINE, -o

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
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: the configuration must be a mapping")
    if "rules_file" in doc and "rules_files" not in doc:
        doc["rules_files"] = doc.pop("rules_file")
    return _expand_env(doc)


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


STRATEGIES = ("append", "override", "add-only")


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


# Keys Lanner accepts with no effect, and why; each one a user sets is named at start.
NO_EFFECT: dict[str, str] = {
    "grpc": "Lanner has no gRPC server; use http_output",
    "libs_logger": "there is no libs logger; Lanner's logs follow log_level",
    "syscall_event_timeouts": "the eBPF ring reports no timeouts",
    "syscall_buf_size_preset": "the probe's ring buffer size is fixed",
    "syscall_drop_failed_exit": "the probe sends failed exits (rules test evt.res)",
    "modern_bpf": "the probe's ring buffers are fixed (one per CPU)",
    "engine.kmod": "there is no kernel module (engine.kind: kmod is refused)",
    "engine.ebpf": "there is no legacy eBPF probe (engine.kind: ebpf is refused)",
    "engine.gvisor": "there is no gVisor engine (engine.kind: gvisor is refused)",
    "engine.modern_ebpf": "the probe's ring buffers are fixed (one per CPU)",
    "falco_libs.snaplen": "buffers are captured as the probe's fixed limits allow",
    "falco_libs.thread_table_auto_purging_interval_s": "threads are removed on their exit",
    "falco_libs.thread_table_auto_purging_thread_timeout_s": "threads are removed on their exit",
    "metadata_download": "there is no Kubernetes metadata download",
    "plugins_hostinfo": "sources are built in",
    "webserver.threadiness": "the web server runs one event loop thread",
    "http_output.max_consecutive_timeouts": "http_output retries max_retries times instead",
    "metrics.kernel_event_counters_enabled": "the snapshot has no kernel counters",
    "metrics.kernel_event_counters_per_cpu_enabled": "no per-CPU kernel counters",
    "metrics.libbpf_stats_enabled": "no libbpf statistics",
    "metrics.plugins_metrics_enabled": "sources are built in",
    "metrics.jemalloc_stats_enabled": "no jemalloc",
    "metrics.kernel_iter_event_counters_enabled": "no kernel iterators",
    "metrics.state_counters_enabled": "the snapshot's fields are fixed",
}

# Values Lanner refuses, with the reason: (key path, value) -> message
REFUSED: dict[tuple[str, Any], str] = {
    ("buffer_format_base64", True): "buffers print as text; base64 is not provided",
    ("engine.kind", "kmod"): "Lanner has no kernel module; use modern_ebpf",
    ("engine.kind", "ebpf"): "Lanner has no legacy eBPF probe; use modern_ebpf",
    ("engine.kind", "gvisor"): "Lanner has no gVisor engine; use modern_ebpf",
    ("capture.enabled", True): "alert-triggered captures are not provided yet; "
    "record with `lanner capture`",
}


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
    values = copy.deepcopy(DEFAULTS)
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
    try:
        checked = _validate(values, SCHEMA, "", warnings)
        for (key, bad), reason in REFUSED.items():
            found, value = _present(checked, key)
            if found and value == bad:
                raise ConfigError(f"{key}: {value!r} is not supported: {reason}")
    except ConfigError as exc:
        raise ConfigError(locate(where, str(exc))) from None
    for key, reason in NO_EFFECT.items():
        if key in set_by_user:
            warnings.append(f"configuration key '{key}' is accepted but has no effect: {reason}")
    plugins = [p for p in checked.get("plugins") or [] if isinstance(p, dict)]
    if any("library_path" in p for p in plugins):
        warnings.append(
            "configuration key 'plugins[].library_path' is accepted but has no effect: "
            "the sources are built in, no plugin library is loaded"
        )
    for plugin in plugins:
        if plugin.get("name") in ("k8saudit", "k8smeta"):
            continue  # their init_config is read (lanner.sources.k8s_audit, app.k8s_metadata)
        why = (
            "container metadata is built in (see container_engines)"
            if plugin.get("name") == "container"
            else "only k8saudit's are read (the other sources replay files given with -e)"
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
