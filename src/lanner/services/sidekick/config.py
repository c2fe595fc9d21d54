"""Configuration: a Falcosidekick-style YAML file overlaid by upper-case env variables.

Keys are case-insensitive in YAML; every key path `a.b.c` can be set by the environment
variable `A_B_C` (e.g. `SLACK_WEBHOOKURL`, `LOKI_HOSTPORT`, `SLACK_MINIMUMPRIORITY`). Lists
in env are comma-separated, maps are `key:value,key:value`. A bad value raises ConfigError
naming its key path.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lanner.exceptions import ConfigError

from . import falcosidekick
from .enrich import Enricher
from .outputs import OUTPUTS
from .schema import Opt, Schema, env_name

log = logging.getLogger("lanner.sidekick")

DEFAULT_SPOOLDIR = "/var/lib/lanner/sidekick"
NO_SPOOL = ("", "none")  # delivery.spooldir values that keep queued alerts in memory only

GLOBAL_SCHEMA: Schema = {
    "listenaddress": Opt("str", ""),
    "listenport": Opt("int", 2801, minimum=1, maximum=65535),
    "debug": Opt("bool", False),
    "customfields": Opt("map"),
    "templatedfields": Opt("templates"),
    "customtags": Opt("list"),
    "outputfieldformat": Opt("str", ""),
    "bracketreplacer": Opt("str", ""),
    "mutualtlsfilespath": Opt("str", "/etc/certs"),
    "mutualtlsclient": {
        "certfile": Opt("str", ""),
        "keyfile": Opt("str", ""),
        "cacertfile": Opt("str", ""),
    },
    "tlsclient": {"cacertfile": Opt("str", "")},
    "tlsserver": {
        "deploy": Opt("bool", False),
        "certfile": Opt("str", "/etc/certs/server/server.crt"),
        "keyfile": Opt("str", "/etc/certs/server/server.key"),
        "mutualtls": Opt("bool", False),
        "cacertfile": Opt("str", "/etc/certs/server/ca.crt"),
        "notlsport": Opt("int", 2810, minimum=1, maximum=65535),
        "notlspaths": Opt("list", ["/ping"]),
    },
    "auth": {"token": Opt("str", "", secret=True)},
    "delivery": {
        "spooldir": Opt("str", DEFAULT_SPOOLDIR),
        "retries": Opt("int", 0, minimum=0),
        "backoff": Opt("float", 0.5, minimum=0.001),
        "maxbackoff": Opt("float", 30.0, minimum=0.001),
        "queuesize": Opt("int", 100_000, minimum=1),
        "timeout": Opt("float", 10.0, minimum=0.001),
        "shutdowngrace": Opt("float", 5.0, minimum=0),
        "concurrency": Opt("int", 1, minimum=1, maximum=256),
    },
}


def output_schema() -> Schema:
    """One section per registered output; a nested one (`aws.sqs`) sits in its parent
    section, which also holds the options its outputs share (`aws.region`)."""
    schema: Schema = {}
    for _, cls in sorted(OUTPUTS.items()):
        *parents, leaf = cls.config_path().split(".")
        node = schema
        for part in parents:
            child = node.setdefault(part, {})
            assert isinstance(child, dict)
            node = child
        node.update(cls.shared_options)
        node[leaf] = dict(cls.all_options())
    return schema


def output_settings(values: dict[str, Any], path: str) -> dict[str, Any]:
    """An output's settings from the validated values: its section's keys, plus, for a
    nested section (`aws.sqs`), its parent's own keys under the parent's name (`aws`)."""
    *parents, leaf = path.split(".")
    node = values
    for part in parents:
        node = node[part]
    settings = dict(node[leaf])
    if parents:
        settings[parents[-1]] = {k: v for k, v in node.items() if not isinstance(v, dict)}
    return settings


def full_schema() -> Schema:
    """Global keys plus output sections."""
    return {**GLOBAL_SCHEMA, **output_schema()}


@dataclass
class OutputSettings:
    """An enabled output and its validated settings."""

    kind: str
    settings: dict[str, Any]


@dataclass
class SidekickConfig:
    """The validated configuration."""

    values: dict[str, Any]
    outputs: list[OutputSettings] = field(default_factory=list)

    def get(self, path: str) -> Any:
        """A value by dotted key path, e.g. `delivery.spooldir`."""
        node: Any = self.values
        for part in path.split("."):
            node = node[part]
        return node

    @property
    def spooldir(self) -> str | None:
        """The spool directory, None when the user chose memory only (`none`)."""
        value: str = self.get("delivery.spooldir")
        return None if value.strip().lower() in NO_SPOOL else value

    def enricher(self) -> Enricher:
        """The enrichment settings."""
        return Enricher(
            customfields=self.get("customfields"),
            templatedfields=self.get("templatedfields"),
            customtags=self.get("customtags"),
            outputfieldformat=self.get("outputfieldformat"),
            bracketreplacer=self.get("bracketreplacer"),
        )


def _is_empty(value: Any) -> bool:
    if isinstance(value, Mapping):
        return all(_is_empty(v) for v in value.values())
    return value in (None, "", False, 0, [], {})


def _lower_keys(path: str, raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(path or "<root>", f"expected a mapping, got {type(raw).__name__}")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        lowered = str(key).lower()
        if lowered in out:
            raise ConfigError(f"{path}.{lowered}".lstrip("."), "key given twice (keys ignore case)")
        out[lowered] = value
    return out


def _walk(
    schema: Schema,
    raw: Any,
    env: Mapping[str, str],
    prefix: str,
    leftovers: dict[str, Any],
) -> dict[str, Any]:
    """Parse `raw` against `schema` (env wins); keys the schema lacks go to `leftovers`."""
    section = _lower_keys(prefix, raw)
    result: dict[str, Any] = {}
    for key, spec in schema.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(spec, dict):
            result[key] = _walk(spec, section.pop(key, None), env, path, leftovers)
            continue
        value = spec.parse(path, section.pop(key, None))
        name = env_name(path)
        if name in env:
            value = spec.parse(f"{path} (env {name})", env[name], from_env=True)
        result[key] = value
    for key, value in section.items():
        leftovers[f"{prefix}.{key}" if prefix else key] = value
    return result


# Environment variables that share a section's prefix but are not sidekick keys: those the
# libraries Lanner uses read (AWS/Azure SDKs are covered by requiring a sub-section, see
# _env_owner) and the ones Kubernetes adds for every Service (`REDIS_SERVICE_HOST`, ...).
_FOREIGN_ENV = frozenset(
    {
        "PROMETHEUS_MULTIPROC_DIR",
        "PROMETHEUS_DISABLE_CREATED_SERIES",
        # botocore's, under a sub-section Falcosidekick also has (aws.s3)
        "AWS_S3_US_EAST_1_REGIONAL_ENDPOINT",
        "AWS_S3_DISABLE_MULTIREGION_ACCESS_POINTS",
        "AWS_S3_DISABLE_EXPRESS_SESSION_AUTH",
    }
)
_SERVICE_LINK = re.compile(
    r"_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)$"
)
_SDK_SECTIONS = frozenset({"aws", "azure", "gcp", "yandex", "otlp"})


def _sections(schema: Schema, prefix: str = "") -> Iterator[tuple[str, Schema]]:
    for key, spec in schema.items():
        if isinstance(spec, dict):
            path = f"{prefix}.{key}" if prefix else key
            yield path, spec
            yield from _sections(spec, path)


def _leaves(path: str, value: Any) -> Iterator[tuple[str, Any]]:
    """(key path, value) for each scalar under a leftover YAML value; an empty Falcosidekick
    section (`aws:` with nothing under it) yields nothing."""
    if path in falcosidekick.SECTIONS and isinstance(value, Mapping):
        for key, sub in value.items():
            yield from _leaves(f"{path}.{str(key).lower()}", sub)
    elif not (path in falcosidekick.SECTIONS and value is None):
        yield path, value


def _env_owner(name: str, value: str, sections: set[str]) -> str | None:
    """The section an unrecognised environment variable claims by its prefix (None: not
    ours). Kubernetes service links, known library variables, and SDK variables (`AWS_PROFILE`:
    only `AWS_<SUBSECTION>_...` is claimed under aws) are not ours."""
    if not re.fullmatch(r"[A-Z][A-Z0-9_]*", name) or name in _FOREIGN_ENV:
        return None
    if _SERVICE_LINK.search(name) or (
        name.endswith("_PORT") and re.match(r"(tcp|udp|sctp)://", value)
    ):
        return None
    owner = None
    for section in sections:
        if name.startswith(env_name(section) + "_") and (
            owner is None or len(section) > len(owner)
        ):
            owner = section
    if owner in _SDK_SECTIONS:
        return None
    return owner


def _check_leftovers(schema: Schema, leftovers: dict[str, Any], env: Mapping[str, str]) -> None:
    """Refuse what belongs to no key (YAML or env), and a Falcosidekick output Lanner lacks
    that is switched on; warn about inert sections of such outputs."""
    ours = {path for path, _ in _sections(schema)}
    lanner_keys = {path for path, _ in _flat(schema)}
    env_keys = {env_name(k) for k in lanner_keys}
    foreign: dict[str, Any] = {}  # Falcosidekick keys Lanner has no key for, by path
    for top, raw in leftovers.items():
        for path, value in _leaves(top, raw):
            if path in falcosidekick.KEYS:
                foreign[path] = value
                continue
            section = path.rpartition(".")[0]
            if section in ours or section in falcosidekick.SECTIONS:
                names = [k for k in lanner_keys if k.startswith(section + ".")]
                here = sorted(k.rpartition(".")[2] for k in names)
            else:
                here = sorted(schema)
            raise ConfigError(path, f"unknown key (known here: {', '.join(here)})")
    by_env = {env_name(k): k for k in falcosidekick.KEYS if k not in lanner_keys}
    claimed = ours | set(falcosidekick.SECTIONS)
    for name, value in sorted(env.items()):
        if name in env_keys:
            continue
        if name in by_env:
            foreign[by_env[name]] = value
            continue
        owner = _env_owner(name, value, claimed)
        if owner is not None:
            known = sorted(env_name(k) for k in lanner_keys if k.startswith(owner + "."))
            raise ConfigError(
                f"environment variable {name}",
                f"no such key in section {owner!r} (known: {', '.join(known) or 'none'})",
            )
    _check_foreign(foreign, lanner_keys)


def _check_foreign(foreign: dict[str, Any], lanner_keys: set[str]) -> None:
    """Falcosidekick keys Lanner has no key for: an error when they would switch on an
    output Lanner lacks or set a knob it does not implement; ignored (warned) when inert."""
    ignored: set[str] = set()
    for out in falcosidekick.OUTPUTS:
        if not out.enable or any(key in lanner_keys for key in out.enable):
            continue
        set_keys = [k for k in out.enable if not _is_empty(foreign.get(k))]
        if set_keys:
            raise ConfigError(
                f"{set_keys[0]} (env {env_name(set_keys[0])})",
                f"Falcosidekick's {out.name} output is not available in Lanner, so its "
                "alerts would go nowhere: remove the setting (docs/sidekick.md lists the outputs)",
            )
        for key in list(foreign):
            if key.startswith(out.section + "."):
                ignored.add(out.section)
                foreign.pop(key)
    shared = {k for k in foreign if k.rpartition(".")[0] in _SDK_SECTIONS}
    for key, value in sorted(foreign.items()):
        if key in shared and ignored:
            continue
        if _is_empty(value):
            log.warning("config: ignoring %s (not implemented by Lanner; nothing set)", key)
            continue
        raise ConfigError(
            f"{key} (env {env_name(key)})",
            "a Falcosidekick setting Lanner does not implement; remove it",
        )
    for section in sorted(ignored):
        log.warning(
            "config: ignoring section %r (its Falcosidekick output is not in Lanner; "
            "nothing switches it on)",
            section,
        )


def _flat(schema: Schema, prefix: str = "") -> Iterator[tuple[str, Opt]]:
    for key, spec in schema.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(spec, dict):
            yield from _flat(spec, path)
        else:
            yield path, spec


def load_config(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> SidekickConfig:
    """Read the YAML file (if any), apply env overrides, validate, list enabled outputs."""
    env = os.environ if env is None else env
    raw: Any = {}
    if path is not None:
        try:
            raw = yaml.safe_load(Path(path).read_text()) or {}
        except OSError as exc:
            raise ConfigError(str(path), f"cannot read: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(str(path), f"invalid YAML: {exc}") from None
    schema = full_schema()
    leftovers: dict[str, Any] = {}
    values = _walk(schema, raw, env, "", leftovers)
    _check_leftovers(schema, leftovers, env)
    _check_globals(values)
    outputs: list[OutputSettings] = []
    for kind, cls in sorted(OUTPUTS.items()):
        settings = output_settings(values, cls.config_path())
        problem = cls.validate(settings)
        if problem:
            section = cls.config_path()
            if problem[0] in cls.shared_options and problem[0] not in cls.all_options():
                section = section.rpartition(".")[0]  # a shared key: `gcp.credentials`
            raise ConfigError(f"{section}.{problem[0]}", problem[1])
        if cls.enable_key is None:
            enabled = not settings.get("disabled", False)
        else:
            enabled = bool(settings[cls.enable_key])
        if enabled:
            outputs.append(OutputSettings(kind, settings))
    return SidekickConfig(values, outputs)


def prepare_spool(config: SidekickConfig) -> str | None:
    """Create the spool directory (0700) and check that it is writable; ConfigError saying
    how to choose another one otherwise. Returns it (None: memory only)."""
    directory = config.spooldir
    if directory is None:
        return None
    path = Path(directory)
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        probe = path / ".lanner-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            "delivery.spooldir",
            f"{directory} is not a writable directory ({exc.strerror or exc}): set "
            "delivery.spooldir (env DELIVERY_SPOOLDIR) to a writable directory, or to "
            "'none' to keep queued alerts in memory only (lost when the process dies)",
        ) from None
    return directory


def _check_globals(values: dict[str, Any]) -> None:
    tls = values["tlsserver"]
    if tls["deploy"]:
        names = ["certfile", "keyfile"] + (["cacertfile"] if tls["mutualtls"] else [])
        for name in names:
            if not Path(tls[name]).is_file():
                raise ConfigError(f"tlsserver.{name}", f"file not found: {tls[name]}")
        if tls["notlsport"] == values["listenport"]:
            raise ConfigError("tlsserver.notlsport", "must differ from listenport")
    elif tls["mutualtls"]:
        raise ConfigError("tlsserver.mutualtls", "needs tlsserver.deploy: true")
    client = values["mutualtlsclient"]
    if bool(client["certfile"]) != bool(client["keyfile"]):
        raise ConfigError("mutualtlsclient", "certfile and keyfile go together")
    delivery = values["delivery"]
    if delivery["maxbackoff"] < delivery["backoff"]:
        raise ConfigError("delivery.maxbackoff", "must be at least delivery.backoff")
    for key in values["customfields"]:
        if not key:
            raise ConfigError("customfields", "empty field name")
