"""What Falco's informational flags print, for Lanner's built-in parts.

``--list`` (with ``-N`` and ``--markdown``/``--format``), ``--list-events``, ``-i``,
``--list-plugins``, ``--plugin-info`` and ``--support``: the same layout as Falco's, with
Lanner's fields, event table, built-in sources and versions.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lanner.engine.fields import Field, SourceSpec
from lanner.engine.loader import ENGINE_VERSION
from lanner.records import FrozenRecord, Record

FORMATS = ("text", "markdown", "json")
_LEFT = 30  # the description column of the text layout
_WIDTH = 120


def _wrap(text: str) -> str:
    """Words after the left column, wrapped at the line width with the column kept."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        if line and len(line) + len(word) + 1 > _WIDTH - _LEFT:
            lines.append(line)
            line = ""
        line += word + " "
    lines.append(line)
    return ("\n" + " " * _LEFT).join(lines)


class FieldClass(Record):
    """Fields sharing a name prefix (``proc``, ``ka``), and the sources that have them."""

    __slots__ = __match_args__ = ("name", "fields", "sources")
    name: str
    fields: list[Field]
    sources: list[str]

    def __init__(self, name: str, fields: list[Field], sources: list[str]) -> None:
        self.name = name
        self.fields = fields
        self.sources = sources


def field_classes(sources: Iterable[SourceSpec], only: str | None) -> list[FieldClass]:
    """The field classes of the sources (or of ``only``), each printed once with every
    source that has the same fields, in the sources' order."""
    out: dict[tuple[str, tuple[str, ...]], FieldClass] = {}
    for spec in sources:
        if only and spec.name != only:
            continue
        groups: dict[str, list[Field]] = {}
        for f in spec.fields:
            groups.setdefault(f.name.split(".", 1)[0], []).append(f)
        for name, fields in groups.items():
            key = (name, tuple(f.name for f in fields))
            if key in out:
                out[key].sources.append(spec.name)
            else:
                out[key] = FieldClass(name, fields, [spec.name])
    return list(out.values())


def _type(f: Field) -> str:
    return f"LIST({f.type.value})" if f.is_list else f.type.value


def list_fields(
    sources: Iterable[SourceSpec],
    only: str | None,
    *,
    names_only: bool = False,
    fmt: str = "text",
    verbose: bool = False,
) -> str:
    """Falco's ``--list`` output."""
    classes = field_classes(sources, only)
    if fmt == "json":
        import orjson

        if names_only:
            doc: dict[str, Any] = {"fieldnames": [f.name for c in classes for f in c.fields]}
        else:
            doc = {
                "fieldclasses": [
                    {
                        "name": c.name,
                        "event_sources": c.sources,
                        "fields": [
                            {
                                "name": f.name,
                                "type": f.type.value,
                                "desc": f.desc,
                                "is_list": f.is_list,
                                "argument": None
                                if f.arg.value == "none"
                                else {"required": f.arg_required, "type": [f.arg.value.upper()]},
                            }
                            for f in c.fields
                        ],
                    }
                    for c in classes
                ]
            }
        option = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS  # as Falco's JSON: keys sorted
        return orjson.dumps(doc, option=option).decode() + "\n"
    if names_only:
        return "".join(f"{f.name}\n" for c in classes for f in c.fields)
    parts = []
    for c in classes:
        if fmt == "markdown":
            rows = "".join(f"`{f.name}` | {_type(f)} | {f.desc}\n" for f in c.fields)
            parts.append(
                f"## Field Class: {c.name}\n\nEvent Sources: {' '.join(c.sources)} \n\n"
                f"Name | Type | Description\n:----|:-----|:-----------\n{rows}\n"
            )
            continue
        text = "-------------------------------\n"
        text += f"{'Field Class:':<{_LEFT}}{c.name}\n"
        text += f"{'Event Sources:':<{_LEFT}}{' '.join(c.sources)} \n\n"
        for f in c.fields:
            name = f.name if len(f.name) <= _LEFT else f"{f.name}\n{'':<{_LEFT}}"
            desc = f"(Type: {_type(f)}) {f.desc}" if verbose else f.desc
            text += f"{name:<{_LEFT}}{_wrap(desc)}\n"
        parts.append(text + "\n")
    return "".join(parts)


# -L, -l -----------------------------------------------------------------------------------


def _wrap_text(text: str, indent: int, width: int) -> str:
    """Falco's wrap_text: each word and a blank; a new line (indented) past ``width``."""
    out = ""
    used = 0
    for word in text.split():
        if used + len(word) + 1 <= width - indent:
            used += len(word) + 1
        else:
            out += "\n" + " " * indent
            used = len(word) + 1
        out += word + " "
    return out


def describe_rules(rules: Iterable[tuple[str, str]]) -> str:
    """Falco's ``-L``/``-l`` text: a ``Rule``/``Description`` table of (name, description),
    names in 50 columns, descriptions wrapped at 110."""
    text = f"{'Rule':<50} Description\n{'----':<50} -----------\n"
    for name, desc in rules:
        text += f"{name:<50} {_wrap_text(desc, 51, 110)}\n\n"
    return text


# --list-events ----------------------------------------------------------------------


_Event = tuple[str, str, list[tuple[str, str]], bool]  # direction, name, params, captured


def _categories() -> dict[str, list[_Event]]:
    """Falco's event categories -> (direction, name, (type, name) of each parameter,
    captured by Lanner's live probe)."""
    from lanner.sources.syscall import event_table as t
    from lanner.sources.syscall.probe.syscalls import SUPPORTED

    out: dict[str, list[_Event]] = {
        "Syscall events": [],
        "Tracepoint events": [],
        "Plugin events": [],
        "Metaevents": [],
    }
    skip = t.EF_UNUSED | t.EF_OLD_VERSION
    for code, name in enumerate(t.EVENT_NAMES):
        category = t.EVENT_CATEGORIES[code]
        if t.EVENT_FLAGS[code] & skip or code in (t.PPME_GENERIC_E, t.PPME_GENERIC_X):
            continue
        if category & t.EC_SYSCALL:
            group = "Syscall events"
        elif category & t.EC_TRACEPOINT:
            group = "Tracepoint events"
        elif category & t.EC_PLUGIN:
            group = "Plugin events"
        elif category & t.EC_METAEVENT:
            group = "Metaevents"
        else:
            continue
        params = [
            (t.PT_NAMES.get(ptype, "PT_NONE").removeprefix("PT_"), pname)
            for pname, ptype, _fmt in t.EVENT_PARAMS[code]
        ]
        out[group].append((t.EVENT_DIRS[code], name, params, name in SUPPORTED))
    return out


def list_events(fmt: str = "text") -> str:
    """Falco's ``--list-events``: the driver's events by category. ``available`` (the
    Markdown table's ``Default``) says whether Lanner's live probe captures the event."""
    from lanner.sources.syscall.event_table import __doc__ as table_doc

    version = "unknown"
    if table_doc and "@" in table_doc:
        version = "libs @" + table_doc.split("@", 1)[1].split(")", 1)[0]
    groups = _categories()
    if fmt == "json":
        import orjson

        doc: dict[str, Any] = {"schema_version": version}
        for group, events in groups.items():
            doc[group] = [
                {
                    "name": n,
                    "dir": d,
                    "available": a,
                    "params": [{"type": ptype, "name": pname} for ptype, pname in p],
                }
                for d, n, p, a in events
            ]
        option = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS  # as Falco's JSON: keys sorted
        return orjson.dumps(doc, option=option).decode() + "\n"
    text = f"The events below are valid for Falco *Schema Version*: {version}\n"
    for group, events in groups.items():
        text += f"## {group}\n\n"
        if fmt == "markdown":
            text += "Default | Dir | Name | Params \n:-------|:----|:-----|:-----\n"
        for d, n, p, a in events:
            params = ", ".join(f"{ptype} **{pname}**" for ptype, pname in p)
            if fmt == "markdown":
                text += f"{'Yes' if a else 'No'} | `{d}` | `{n}` | {params}\n"
            else:
                text += f"{d} {n}({params})\n"
        text += "\n"
    return text


def ignored_events() -> str:
    """Falco's ``-i``: the I/O syscalls not captured for performance reasons. For Lanner
    these are the I/O syscalls its live probe has no handler for (``-A`` does not add
    them); the I/O syscalls it has are captured when a rule needs them."""
    from lanner.sources.syscall import event_table as t
    from lanner.sources.syscall.probe.syscalls import BASE_EVENT_TYPES, SUPPORTED

    io = (t.EC_IO_READ, t.EC_IO_WRITE, t.EC_IO_OTHER)
    names = {
        name
        for code, name in enumerate(t.EVENT_NAMES)
        if t.EVENT_CATEGORIES[code] & 0x3F in io and t.EVENT_CATEGORIES[code] & t.EC_SYSCALL
    }
    ignored = sorted(names - SUPPORTED - BASE_EVENT_TYPES)
    return "Ignored syscall(s):\n" + "".join(f"- {n}\n" for n in ignored) + "\n"


# --list-plugins, --plugin-info -------------------------------------------------------


class BuiltinPlugin(FrozenRecord):
    """A Falco plugin Lanner has built in."""

    __slots__ = __match_args__ = (
        "name",
        "description",
        "source",
        "plugin_id",
        "open_params",
        "init_schema",
    )
    name: str
    description: str
    source: str | None  # the event source it adds (None: field extraction only)
    plugin_id: int
    open_params: tuple[tuple[str, str], ...]
    init_schema: str

    def __init__(
        self,
        name: str,
        description: str,
        source: str | None,
        plugin_id: int,
        open_params: tuple[tuple[str, str], ...] = (),
        init_schema: str = "",
    ) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "name", name)
        setattr_(self, "description", description)
        setattr_(self, "source", source)
        setattr_(self, "plugin_id", plugin_id)
        setattr_(self, "open_params", open_params)
        setattr_(self, "init_schema", init_schema)


BUILTIN_PLUGINS: tuple[BuiltinPlugin, ...] = (
    BuiltinPlugin(
        "k8saudit",
        "Kubernetes audit events from the API server's webhook backend (built into Lanner)",
        "k8s_audit",
        1,
        (("http://:9765/k8s-audit", "the address and path the webhook listens on"),),
        '{"type":"object","properties":{"sslCertificate":{"type":"string"},'
        '"authToken":{"type":"string"},"authTokenFile":{"type":"string"},'
        '"maxQueuedEvents":{"type":"integer"},"queueWaitMs":{"type":"integer"}}}',
    ),
    BuiltinPlugin(
        "cloudtrail",
        "AWS CloudTrail events, replayed from log files with -e (built into Lanner)",
        "aws_cloudtrail",
        2,
    ),
    BuiltinPlugin(
        "github",
        "GitHub webhook events, secrets in pushed diffs, miners in workflows (built into Lanner)",
        "github",
        8,
    ),
    BuiltinPlugin(
        "okta", "Okta System Log events, polled from the API (built into Lanner)", "okta", 7
    ),
    BuiltinPlugin(
        "k8saudit-eks",
        "Kubernetes audit events of EKS clusters, polled from CloudWatch Logs (built into Lanner)",
        "k8s_audit",
        9,
        (("default", "the EKS cluster's name"),),
        '{"type":"object","properties":{"profile":{"type":"string"},'
        '"region":{"type":"string"},"buffer_size":{"type":"integer"},'
        '"shift":{"type":"integer"},"polling_interval":{"type":"integer"},'
        '"use_async":{"type":"boolean"},"stateFile":{"type":"string"}}}',
    ),
    BuiltinPlugin(
        "gcpaudit",
        "GCP Audit Logs read from a Pub/Sub subscription (built into Lanner)",
        "gcp_auditlog",
        12,
        (("SUBSCRIPTION", "the Pub/Sub subscription ID (or projects/P/subscriptions/S)"),),
    ),
    BuiltinPlugin(
        "k8saudit-gke",
        "Kubernetes audit events of GKE read from a Pub/Sub subscription (built into Lanner)",
        "k8s_audit",
        16,
        (("SUBSCRIPTION", "the Pub/Sub subscription ID (or projects/P/subscriptions/S)"),),
    ),
    BuiltinPlugin(
        "k8saudit-aks",
        "Kubernetes audit events of AKS clusters, read from an Azure Event Hub (built into Lanner)",
        "k8s_audit",
        21,
        (("default", "the AKS cluster's name"),),
        '{"type":"object","properties":{"event_hub_namespace_connection_string":'
        '{"type":"string"},"event_hub_name":{"type":"string"},'
        '"rate_limit_events_per_second":{"type":"integer"},"rate_limit_burst":'
        '{"type":"integer"},"maxEventSize":{"type":"integer"},"consumer_group":'
        '{"type":"string"},"stateFile":{"type":"string"}}}',
    ),
    BuiltinPlugin("json", "Fields json.* and jevt.* over JSON events (built into Lanner)", None, 0),
    BuiltinPlugin(
        "container",
        "Container metadata of syscall events (container.* fields) from the runtimes of "
        "container_engines, or of this plugin's init_config.engines (built into Lanner)",
        None,
        0,
        init_schema='{"type":"object","properties":{"engines":{"type":"object",'
        '"additionalProperties":{"type":"object","properties":{"enabled":{"type":"boolean"},'
        '"sockets":{"type":"array","items":{"type":"string"}}}}}}}',
    ),
    BuiltinPlugin(
        "k8smeta",
        "Kubernetes metadata of syscall events (k8smeta.* and k8s.* fields) from a watch of "
        "the API server (built into Lanner)",
        None,
        0,
    ),
)


def _describe(p: BuiltinPlugin, version: str) -> str:
    text = f"Name: {p.name}\nDescription: {p.description}\n"
    text += "Contact: Lanner (built in, no plugin library is loaded)\n"
    text += f"Version: {version}\nCapabilities: \n"
    if p.source:
        text += f"  - Event Sourcing (ID={p.plugin_id}, source='{p.source}')\n"
    text += "  - Field Extraction\n"
    return text


def configured_plugins(cfg: Any) -> list[BuiltinPlugin]:
    """The built-in plugins ``load_plugins`` names (all of them when it is empty)."""
    wanted = cfg.string_list("load_plugins")
    if not wanted:
        return list(BUILTIN_PLUGINS)
    aliases: dict[str, str] = {}
    names = [aliases.get(n, n) for n in wanted]
    return [p for p in BUILTIN_PLUGINS if p.name in names]


def list_plugins(plugins: list[BuiltinPlugin], version: str) -> str:
    """Falco's ``--list-plugins``."""
    body = "".join(_describe(p, version) + "\n" for p in plugins)
    return f"{len(plugins)} Plugins Loaded:\n\n{body}\n"


def plugin_info(name: str, version: str) -> str:
    """Falco's ``--plugin-info NAME``; KeyError when Lanner has no such plugin."""
    for p in BUILTIN_PLUGINS:
        if p.name == name:
            text = _describe(p, version) + "\n"
            if p.init_schema:
                text += f"Init config schema type: JSON\n{p.init_schema}\n\n"
            else:
                text += (
                    "Init config schema type: Not available, plugin does not implement the "
                    "init config schema functionality\n\n\n"
                )
            if p.source:
                if p.open_params:
                    text += "Suggested open params:\n"
                    text += "".join(f"{v}: {d}\n" for v, d in p.open_params) + "\n"
                else:
                    text += (
                        "No suggested open params available: plugin has not been configured, "
                        "or it does not implement the open params suggestion functionality\n\n"
                    )
            return text
    raise KeyError(name)


# --support ---------------------------------------------------------------------------


def versions(version: str) -> dict[str, Any]:
    """Falco's ``engine_info``: Lanner's version and the rule engine version it accepts."""
    semver = ".".join(map(str, ENGINE_VERSION))
    return {
        "falco_version": version,
        "libs_version": "lanner",
        "plugin_api_version": "none (built-in sources)",
        "driver_api_version": "none (Lanner's CO-RE probe)",
        "driver_schema_version": "none (Lanner's CO-RE probe)",
        "default_driver_version": "none (Lanner's CO-RE probe)",
        "engine_version": str(ENGINE_VERSION[1]),
        "engine_version_semver": semver,
        "plugin_versions": {p.name: version for p in BUILTIN_PLUGINS},
    }


def version_text(version: str, as_json: bool) -> str:
    """Falco's ``--version``: the versions as text, or as one JSON line with
    ``json_output``."""
    info = versions(version)
    if as_json:
        import orjson

        return orjson.dumps(info).decode() + "\n"
    return (
        f"Falco version: {info['falco_version']}\n"
        f"Libs version:  {info['libs_version']}\n"
        f"Plugin API:    {info['plugin_api_version']}\n"
        f"Engine:        {info['engine_version_semver']}\n"
        "Driver:\n"
        f"  API version:    {info['driver_api_version']}\n"
        f"  Schema version: {info['driver_schema_version']}\n"
        f"  Default driver: {info['default_driver_version']}\n"
    )


def support(
    version: str, cmdline: str, config: dict[str, Any], rules_files: list[str]
) -> dict[str, Any]:
    """Falco's ``--support`` document: system, versions, command line, the effective
    configuration and every loaded rules file with its content."""
    uname = os.uname()
    files = []
    for name in rules_files:
        try:
            content = Path(name).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            content = f"<not readable: {exc.strerror}>"
        files.append({"name": name, "variants": [{"content": content}]})
    return {
        "system_info": {
            "sysname": uname.sysname,
            "nodename": uname.nodename,
            "release": uname.release,
            "version": uname.version,
            "machine": uname.machine or platform.machine(),
        },
        "version": version,
        "engine_info": versions(version),
        "cmdline": cmdline,
        "config": config,
        "rules_files": files,
    }
