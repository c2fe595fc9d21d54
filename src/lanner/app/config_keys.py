"""The configuration scheme: one declaration per falco.yaml key Lanner knows.

Each :class:`Key` says the kind of value, the default Lanner uses when the key is absent,
the allowed choices and range, whether Lanner honours it (``no_effect`` names why not),
values it refuses, and what a change needs on reload. Validation and defaults
(:mod:`lanner.app.config`), the reload decisions of the daemon, the generated key
reference of docs/configuration.md and ``lanner run --config-schema`` are all derived from
:data:`SCHEME`; nothing else lists the keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

from lanner.engine.rule_schema import PRIORITY
from lanner.records import FrozenRecord

NO_DEFAULT: Any = object()  # the key is absent from the effective configuration unless set

Reload = Literal["rules", "outputs", "restart"]
# rules: taken on a reload with the rules; outputs: the outputs are rebuilt on reload;
# restart: read at start only (a change on reload is named in a warning)

LOG_LEVELS = ("emergency", "alert", "critical", "error", "warning", "notice", "info", "debug")
SYSLOG_FACILITIES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
    "authpriv", "ftp", "local0", "local1", "local2", "local3", "local4", "local5", "local6",
    "local7",
)  # fmt: skip
ENGINE_KINDS = ("modern_ebpf", "replay", "nodriver", "kmod", "ebpf", "gvisor")
DROP_ACTIONS = ("ignore", "log", "alert", "exit")
STRATEGIES = ("append", "override", "add-only")

# Kinds of leaf values: bool, int, number, str, strlist, strmap, priority, duration,
# loglevel, enum (one of ``choices``), any, configfiles, selectors, records (a list of
# mappings described by ``items``).


class Key(FrozenRecord):
    """One configuration key (a leaf)."""

    __slots__ = __match_args__ = (
        "kind",
        "default",
        "choices",
        "minimum",
        "maximum",
        "items",
        "no_effect",
        "refused",
        "reload",
        "check",
    )
    kind: str
    default: Any
    choices: tuple[str, ...]  # enum: the value; strlist: each item
    minimum: float | None
    maximum: float | None
    items: Mapping[str, Key] | None  # records: the keys of each mapping
    no_effect: str  # accepted without effect: why (named at start when set)
    refused: Mapping[Any, str]  # value -> why it is refused
    reload: Reload
    check: Callable[[Any, str], None] | None  # extra rule; raises ValueError

    def __init__(
        self,
        kind: str,
        default: Any = NO_DEFAULT,
        choices: tuple[str, ...] = (),
        minimum: float | None = None,
        maximum: float | None = None,
        items: Mapping[str, Key] | None = None,
        no_effect: str = "",
        refused: Mapping[Any, str] | None = None,
        reload: Reload = "rules",
        check: Callable[[Any, str], None] | None = None,
    ) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "kind", kind)
        setattr_(self, "default", default)
        setattr_(self, "choices", choices)
        setattr_(self, "minimum", minimum)
        setattr_(self, "maximum", maximum)
        setattr_(self, "items", items)
        setattr_(self, "no_effect", no_effect)
        setattr_(self, "refused", {} if refused is None else refused)
        setattr_(self, "reload", reload)
        setattr_(self, "check", check)


class Section(FrozenRecord):
    """A mapping of keys (``http_output``, ``engine.modern_ebpf``)."""

    __slots__ = __match_args__ = ("keys", "no_effect", "reload", "check")
    keys: Mapping[str, Key | Section]
    no_effect: str
    reload: Reload
    check: Callable[[Mapping[str, Any], str], None] | None  # over its keys together

    def __init__(
        self,
        keys: Mapping[str, Key | Section],
        no_effect: str = "",
        reload: Reload = "rules",
        check: Callable[[Mapping[str, Any], str], None] | None = None,
    ) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "keys", keys)
        setattr_(self, "no_effect", no_effect)
        setattr_(self, "reload", reload)
        setattr_(self, "check", check)


Node = Key | Section


def _drop_actions(value: Any, path: str) -> None:
    """Falco: ``ignore`` makes no sense together with ``log`` or ``alert``."""
    actions = [str(a).lower() for a in value or []]
    if "ignore" in actions:
        for other in ("log", "alert"):
            if other in actions:
                raise ValueError(
                    f'{path}: action "{other}" does not make sense with the "ignore" action'
                )


def _needs(key: str) -> Callable[[Mapping[str, Any], str], None]:
    """As Falco: an enabled output needs ``key`` (its file, program or URL)."""

    def check(section: Mapping[str, Any], path: str) -> None:
        if section.get("enabled") is True and not str(section.get(key) or "").strip():
            raise ValueError(f"{path}.{key}: empty, but {path} is enabled")

    return check


def _ip_address(value: Any, path: str) -> None:
    """As Falco: the web server listens on an IPv4 or IPv6 address, not a host name."""
    import ipaddress

    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        raise ValueError(f"{path}: expected an IPv4 or IPv6 address, got {value!r}") from None


_FIXED_RING = "the probe has one ring buffer, sized by engine.modern_ebpf.buf_size_preset"
_ONE_RING = "the probe has one ring buffer for all CPUs"
_NO_RUNTIME = "Lanner asks Docker, Podman and CRI runtimes only; there is no %s resolver"
_LOOKUPS = (
    "lookups never block the event path; container_engines.lookup_deadline_ms bounds the wait"
)
_OUT: Reload = "outputs"
_RESTART: Reload = "restart"

SCHEME = Section(
    {
        "config_files": Key("configfiles", [], choices=STRATEGIES),
        "watch_config_files": Key("bool", True),
        "rules_files": Key("strlist", []),
        "rules": Key("selectors", []),
        "load_plugins": Key("strlist", [], reload=_RESTART),
        "plugins": Key(
            "records",
            [],
            items={
                "name": Key("str"),
                "library_path": Key("str"),
                "init_config": Key("any"),
                "open_params": Key("any"),
            },
            reload=_RESTART,
        ),
        "plugins_hostinfo": Key("bool", no_effect="sources are built in"),
        "allow_empty_rules": Key("bool", False),
        "time_format_iso_8601": Key("bool", False, reload=_OUT),
        "buffer_format_base64": Key(
            "bool", refused={True: "buffers print as text; base64 is not provided"}
        ),
        "priority": Key("priority", "debug"),
        "rule_matching": Key("enum", "first", choices=("first", "all")),
        "json_output": Key("bool", False, reload=_OUT),
        "json_include_output_property": Key("bool", True, reload=_OUT),
        "json_include_tags_property": Key("bool", True, reload=_OUT),
        "json_include_output_fields_property": Key("bool", True, reload=_OUT),
        "json_include_message_property": Key("bool", False, reload=_OUT),
        "buffered_outputs": Key("bool", False, reload=_OUT),
        "append_output": Key("any"),
        "static_fields": Key("strmap", reload=_RESTART),
        "outputs": Section(
            {"rate": Key("number", 0, minimum=0), "max_burst": Key("int", 1000, minimum=0)},
            reload=_OUT,
        ),
        # Lanner: a full queue holds the event loop up to max_wait, then spills to a file
        # in spill_dir (the system's temporary directory when empty) up to spill_max_mb
        "outputs_queue": Section(
            {
                "capacity": Key("int", 10000, minimum=0),
                "max_wait": Key("duration", "1s"),
                "spill_dir": Key("str", ""),
                "spill_max_mb": Key("int", 256, minimum=0),
            },
            reload=_OUT,
        ),
        "output_timeout": Key("int", 2000, minimum=0),
        "stdout_output": Section({"enabled": Key("bool", True)}, reload=_OUT),
        # Falco enables syslog_output and the web server in its shipped falco.yaml; without
        # a configuration file Lanner writes to stdout only (lanner.yaml turns them on).
        "syslog_output": Section(
            {
                "enabled": Key("bool", False),
                "address": Key("str", "/dev/log"),
                "facility": Key("enum", "user", choices=SYSLOG_FACILITIES),
                "ident": Key("str", ""),
            },
            reload=_OUT,
        ),
        "file_output": Section(
            {
                "enabled": Key("bool", False),
                "keep_alive": Key("bool", False),
                "filename": Key("str", ""),  # as Falco: enabled without one is an error
            },
            reload=_OUT,
            check=_needs("filename"),
        ),
        "http_output": Section(
            {
                "enabled": Key("bool", False),
                "url": Key("str", ""),
                "user_agent": Key("str", "falcosecurity/falco"),
                "insecure": Key("bool", False),
                "ca_cert": Key("str", ""),
                "ca_bundle": Key("str", ""),
                "ca_path": Key("str", "/etc/ssl/certs"),
                "mtls": Key("bool", False),
                "client_cert": Key("str", "/etc/ssl/certs/client.crt"),
                "client_key": Key("str", "/etc/ssl/certs/client.key"),
                "echo": Key("bool", False),
                "compress_uploads": Key("bool", False),
                "keep_alive": Key("bool", True),
                "headers": Key("strmap", {}),
                "timeout": Key("duration", "10s"),
                "max_retries": Key("int", 5, minimum=0),
                "retry_backoff": Key("duration", "500ms"),
                "max_consecutive_timeouts": Key(
                    "int", no_effect="http_output retries max_retries times instead"
                ),
            },
            reload=_OUT,
            check=_needs("url"),
        ),
        "program_output": Section(
            {
                "enabled": Key("bool", False),
                "keep_alive": Key("bool", False),
                "program": Key("str", ""),
            },
            reload=_OUT,
            check=_needs("program"),
        ),
        "grpc_output": Section({"enabled": Key("bool", False)}),
        "grpc": Key("any", no_effect="Lanner has no gRPC server; use http_output"),
        "webserver": Section(
            {
                "enabled": Key("bool", False),
                "threadiness": Key("int", 0, no_effect="the web server runs one event loop thread"),
                "listen_port": Key("int", 8765, minimum=0, maximum=65535),
                "listen_address": Key("str", "127.0.0.1", check=_ip_address),  # Falco: 0.0.0.0
                "k8s_healthz_endpoint": Key("str", "/healthz"),
                "prometheus_metrics_enabled": Key("bool", True),
                "ssl_enabled": Key("bool", False),
                "ssl_certificate": Key("str", "/etc/lanner/lanner.pem"),
                "k8s_audit_endpoint": Key("str", "/k8s-audit"),
                "auth_token": Key("str", ""),  # Lanner: bearer token
                "auth_token_file": Key("str", ""),
            },
            reload=_RESTART,
        ),
        "log_stderr": Key("bool", True),
        "log_syslog": Key("bool", False),
        "log_level": Key("loglevel", "info"),
        "libs_logger": Section(
            {"enabled": Key("bool"), "severity": Key("str")},
            no_effect="there is no libs logger; Lanner's logs follow log_level",
        ),
        "syscall_event_timeouts": Section(
            {"max_consecutives": Key("int", minimum=1)},
            no_effect="the eBPF ring reports no timeouts",
        ),
        "syscall_event_drops": Section(
            {
                "threshold": Key("number", 0.1, minimum=0, maximum=1),
                "actions": Key(
                    "strlist", ["log", "alert"], choices=DROP_ACTIONS, check=_drop_actions
                ),
                "rate": Key("number", 0.03333, minimum=0),
                "max_burst": Key("int", 1, minimum=0),
                "simulate_drops": Key("bool", False),
            }
        ),
        "metrics": Section(
            {
                "enabled": Key("bool", False),
                "interval": Key("duration", "1h"),
                "output_rule": Key("bool", True),
                "output_file": Key("str", ""),
                "rules_counters_enabled": Key("bool", True),
                "resource_utilization_enabled": Key("bool", True),
                "state_counters_enabled": Key(
                    "bool", True, no_effect="the snapshot's fields are fixed"
                ),
                "kernel_event_counters_enabled": Key(
                    "bool", True, no_effect="the snapshot has no kernel counters"
                ),
                "kernel_event_counters_per_cpu_enabled": Key(
                    "bool", no_effect="no per-CPU kernel counters"
                ),
                "libbpf_stats_enabled": Key("bool", False, no_effect="no libbpf statistics"),
                "plugins_metrics_enabled": Key("bool", no_effect="sources are built in"),
                "jemalloc_stats_enabled": Key("bool", no_effect="no jemalloc"),
                "kernel_iter_event_counters_enabled": Key("bool", no_effect="no kernel iterators"),
                "convert_memory_to_mb": Key("bool", True),
                "include_empty_values": Key("bool", False),
            },
            reload=_RESTART,
        ),
        "syscall_buf_size_preset": Key(
            "int", no_effect="Falco's older key: use engine.modern_ebpf.buf_size_preset"
        ),
        "syscall_drop_failed_exit": Key(
            "bool", no_effect="the probe sends failed exits (rules test evt.res)"
        ),
        "base_syscalls": Section(
            {
                "custom_set": Key("strlist", []),
                "repair": Key("bool", False),
                "all": Key("bool", False),
            }
        ),
        "modern_bpf": Section({"cpus_for_each_syscall_buffer": Key("int")}, no_effect=_FIXED_RING),
        "engine": Section(
            {
                "kind": Key(
                    "enum",
                    "modern_ebpf",
                    choices=ENGINE_KINDS,
                    refused={
                        "kmod": "Lanner has no kernel module; use modern_ebpf",
                        "ebpf": "Lanner has no legacy eBPF probe; use modern_ebpf",
                        "gvisor": "Lanner has no gVisor engine; use modern_ebpf",
                    },
                ),
                "kmod": Section(
                    {"buf_size_preset": Key("int"), "drop_failed_exit": Key("bool")},
                    no_effect="there is no kernel module (engine.kind: kmod is refused)",
                ),
                "ebpf": Section(
                    {
                        "probe": Key("str"),
                        "buf_size_preset": Key("int"),
                        "drop_failed_exit": Key("bool"),
                    },
                    no_effect="there is no legacy eBPF probe (engine.kind: ebpf is refused)",
                ),
                "modern_ebpf": Section(
                    {
                        "cpus_for_each_buffer": Key("int", no_effect=_ONE_RING),
                        # Falco's index: 1 MB << (preset - 1); Lanner's one ring takes it whole
                        "buf_size_preset": Key("int", 4, minimum=1, maximum=10, reload=_RESTART),
                        "drop_failed_exit": Key(
                            "bool", no_effect="the probe sends failed exits (rules test evt.res)"
                        ),
                        "disable_iterators": Key(
                            "bool", no_effect="the probe has no BPF iterators (/proc is read)"
                        ),
                    }
                ),
                "replay": Section({"capture_file": Key("str", "")}),
                "gvisor": Section(
                    {"config": Key("str"), "root": Key("str")},
                    no_effect="there is no gVisor engine (engine.kind: gvisor is refused)",
                ),
            },
            reload=_RESTART,
        ),
        "capture": Section(
            {
                "enabled": Key("bool", False),
                "path_prefix": Key("str", "/tmp/falco"),
                "mode": Key("enum", "rules", choices=("rules", "all_rules")),
                "default_duration": Key("int", 5000, minimum=0),
                "max_file_size_mb": Key("int", 0, minimum=0),
            },
            reload=_RESTART,
        ),
        "falco_libs": Section(
            {
                "thread_table_size": Key("int", minimum=1),
                # Lanner: fds tracked across every process's table (live), state/fd_cap.py
                "fd_table_size": Key("int", 262144, minimum=1),
                "thread_table_auto_purging_interval_s": Key(
                    "int", no_effect="threads are removed on their exit"
                ),
                "thread_table_auto_purging_thread_timeout_s": Key(
                    "int", no_effect="threads are removed on their exit"
                ),
                "snaplen": Key(
                    "int", no_effect="buffers are captured as the probe's fixed limits allow"
                ),
            },
            reload=_RESTART,
        ),
        # Falco 0.40's container_engines (later its container plugin's engines), read by
        # sources/syscall/containers/runtimes.py; timeouts and lookup_deadline_ms are Lanner's
        "container_engines": Section(
            {
                "docker": Section(
                    {
                        "enabled": Key("bool"),
                        "sockets": Key("strlist"),
                        "timeout": Key("number", minimum=0),
                    }
                ),
                "podman": Section({"enabled": Key("bool"), "sockets": Key("strlist")}),
                "cri": Section(
                    {
                        "enabled": Key("bool"),
                        "sockets": Key("strlist"),
                        "timeout": Key("number", minimum=0),
                        "disable_async": Key("bool", no_effect=_LOOKUPS),
                    }
                ),
                "lxc": Section({"enabled": Key("bool")}, no_effect=_NO_RUNTIME % "LXC"),
                "libvirt_lxc": Section(
                    {"enabled": Key("bool")}, no_effect=_NO_RUNTIME % "libvirt LXC"
                ),
                "bpm": Section({"enabled": Key("bool")}, no_effect=_NO_RUNTIME % "BPM"),
                "lookup_deadline_ms": Key("int", minimum=0),
            },
            reload=_RESTART,
        ),
        "metadata_download": Key("any", no_effect="there is no Kubernetes metadata download"),
    }
)


def walk(node: Section = SCHEME, prefix: str = "") -> Iterator[tuple[str, Node]]:
    """Every key and section with its dotted path, depth first in declaration order."""
    for name, sub in node.keys.items():
        path = f"{prefix}.{name}" if prefix else name
        yield path, sub
        if isinstance(sub, Section):
            yield from walk(sub, path)


def defaults(node: Section = SCHEME) -> dict[str, Any]:
    """The effective configuration when nothing is set: every key with a default (a
    section appears when one of its keys has one). A fresh copy each call."""
    import copy

    out: dict[str, Any] = {}
    for name, sub in node.keys.items():
        if isinstance(sub, Section):
            inner = defaults(sub)
            if inner:
                out[name] = inner
        elif sub.default is not NO_DEFAULT:
            out[name] = copy.deepcopy(sub.default)
    return out


def lookup(path: str) -> Node | None:
    """The declaration of a dotted key path (list indices ignored), or None."""
    node: Node = SCHEME
    for part in path.split("."):
        part = part.split("[", 1)[0]
        if not isinstance(node, Section) or part not in node.keys:
            return None
        node = node.keys[part]
    return node


def no_effect() -> dict[str, str]:
    """Key path -> why Lanner accepts it without effect."""
    return {path: node.no_effect for path, node in walk() if node.no_effect}


def refused() -> dict[tuple[str, Any], str]:
    """(key path, value) -> why Lanner refuses that value."""
    return {
        (path, value): why
        for path, node in walk()
        if isinstance(node, Key)
        for value, why in node.refused.items()
    }


def top_level_by_reload(reload: Reload) -> tuple[str, ...]:
    """Top-level keys whose change on reload means ``reload`` (outputs, restart)."""
    return tuple(name for name, sub in SCHEME.keys.items() if sub.reload == reload)


def _leaf_schema(key: Key) -> dict[str, Any]:
    """The JSON Schema of one key's value."""
    kind = key.kind
    out: dict[str, Any]
    if kind == "bool":
        out = {"type": "boolean"}
    elif kind in ("int", "number"):
        out = {"type": "integer" if kind == "int" else "number"}
        if key.minimum is not None:
            out["minimum"] = key.minimum
        if key.maximum is not None:
            out["maximum"] = key.maximum
    elif kind == "str":
        out = {"type": "string"}
    elif kind == "strlist":
        item: dict[str, Any] = {"type": "string"}
        if key.choices:
            item["enum"] = list(key.choices)
        out = {"type": ["array", "string"], "items": item}
    elif kind == "strmap":
        out = {"type": "object", "additionalProperties": {"type": ["string", "number"]}}
    elif kind == "priority":
        out = dict(PRIORITY)
    elif kind == "loglevel":
        out = {"type": "string", "enum": list(LOG_LEVELS)}
    elif kind == "duration":
        out = {
            "type": ["string", "integer"],
            "pattern": r"^\s*(\d+(\.\d+)?(ms|s|m|h|d|w|y))+\s*$|^\d+$",
            "description": "a duration such as 500ms, 10s, 1h30m; a bare number is ms",
        }
    elif kind == "enum":
        out = {"type": "string", "enum": list(key.choices)}
    elif kind == "configfiles":
        entry = {
            "type": "object",
            "additionalProperties": False,
            "required": ["path"],
            "properties": {
                "path": {"type": "string"},
                "strategy": {"type": "string", "enum": list(STRATEGIES)},
            },
        }
        out = {"type": "array", "items": {"anyOf": [{"type": "string"}, entry]}}
    elif kind == "selectors":
        match = {
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "properties": {"rule": {"type": "string"}, "tag": {"type": "string"}},
        }
        out = {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "minProperties": 1,
                "maxProperties": 1,
                "properties": {"enable": match, "disable": match},
            },
        }
    elif kind == "records":
        props = {name: _leaf_schema(sub) for name, sub in (key.items or {}).items()}
        out = {"type": "array", "items": {"type": "object", "properties": props}}
    else:  # any
        out = {}
    if key.default is not NO_DEFAULT:
        out["default"] = key.default
    notes = []
    if key.no_effect:
        notes.append(f"accepted by Lanner without effect: {key.no_effect}")
    for value, why in key.refused.items():
        notes.append(f"{value!r} is refused: {why}")
    if notes:
        out["description"] = "; ".join([out.get("description", ""), *notes]).strip("; ")
    return out


def _section_schema(section: Section) -> dict[str, Any]:
    props = {
        name: _section_schema(sub) if isinstance(sub, Section) else _leaf_schema(sub)
        for name, sub in section.keys.items()
    }
    out: dict[str, Any] = {"type": ["object", "null"], "properties": props}
    out["additionalProperties"] = False
    if section.no_effect:
        out["description"] = f"accepted by Lanner without effect: {section.no_effect}"
    return out


def json_schema() -> dict[str, Any]:
    """A JSON Schema (draft-06, as Falco's) of the configuration file, for YAML editors
    and ``lanner run --config-schema``."""
    body = _section_schema(SCHEME)
    body["type"] = "object"
    body["properties"]["rules_file"] = {"$ref": "#/properties/rules_files"}
    return {
        "$schema": "http://json-schema.org/draft-06/schema#",
        "title": "Lanner configuration (the keys of Falco's falco.yaml)",
        **body,
    }
