"""falcoctl.yaml, as falcoctl and Falco's Helm chart write it (keys in any case, as
falcoctl reads them), plus Lanner's registry TLS and token keys. An unknown key is an
error naming it; a falcoctl key Lanner has no use for is a warning saying so."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lanner.exceptions import ArtifactError
from lanner.services.artifact.index import IndexSource
from lanner.services.artifact.registry import Access

log = logging.getLogger("lanner.artifact")

DEFAULT_RULES_DIR = "/etc/lanner/rules.d"
DEFAULT_EVERY = 6 * 3600.0

_KNOWN = {
    "indexes",
    "artifact",
    "artifact.allowedtypes",
    "artifact.noverify",
    "artifact.install",
    "artifact.install.refs",
    "artifact.install.rulesfilesdir",
    "artifact.install.resolvedeps",
    "artifact.install.statedir",
    "artifact.install.noverify",
    "artifact.follow",
    "artifact.follow.refs",
    "artifact.follow.every",
    "artifact.follow.falcoversions",
    "artifact.follow.rulesfilesdir",
    "artifact.follow.statedir",
    "artifact.follow.noverify",
    "artifact.verify",
    "artifact.verify.key",
    "registry",
    "registry.auth",
    "registry.auth.basic",
    "registry.auth.token",
    "registry.auth.dockerconfig",
    "registry.tls",
    "registry.plainhttp",
}
# falcoctl keys with nothing to do here: said, not silently dropped
_UNUSED = {
    "artifact.install.pluginsdir": "plugins are built into Lanner",
    "artifact.install.assetsdir": "plugins are built into Lanner",
    "artifact.follow.pluginsdir": "plugins are built into Lanner",
    "artifact.follow.assetsdir": "plugins are built into Lanner",
    "artifact.follow.tmpdir": "Lanner stages files next to their destination",
    "artifact.follow.cron": "use artifact.follow.every",
    "driver": "Lanner's eBPF probe is built in; there is no driver to install",
}
_REFUSED = {
    "registry.auth.oauth": "OAuth2 client credentials are not supported; use registry.auth.token",
    "registry.auth.gcp": "GCP credentials are not supported; use registry.auth.token",
}


def _duration(value: Any, where: str) -> float:
    text = str(value).strip()
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    for suffix in ("ms", "h", "m", "s"):
        if text.endswith(suffix):
            try:
                return float(text[: -len(suffix)]) * units[suffix]
            except ValueError:
                break
    try:
        return float(text)
    except ValueError:
        raise ArtifactError(f"{where}: not a duration: {value!r} (e.g. 6h, 10m, 30s)") from None


def _lower(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k).lower(): _lower(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_lower(v) for v in node]
    return node


def _walk(node: Any, prefix: str, path: str) -> None:
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        name = f"{prefix}.{key}" if prefix else key
        if name in _REFUSED:
            raise ArtifactError(f"{path}: {name}: {_REFUSED[name]}")
        if name in _UNUSED:
            log.warning("%s: %s is not used: %s", path, name, _UNUSED[name])
            continue
        if name not in _KNOWN:
            raise ArtifactError(f"{path}: unknown key {name}")
        if name not in ("indexes", "registry.auth.basic", "registry.auth.token", "registry.tls"):
            _walk(value, name, path)


@dataclass(slots=True)
class ArtifactConfig:
    """The settings every ``lanner artifact`` command reads."""

    indexes: list[IndexSource] = field(default_factory=list)
    allowed_types: frozenset[str] = frozenset({"rulesfile"})
    install_refs: list[str] = field(default_factory=list)
    follow_refs: list[str] = field(default_factory=list)
    rulesfiles_dir: str = DEFAULT_RULES_DIR
    follow_rulesfiles_dir: str | None = None
    state_dir: str | None = None
    resolve_deps: bool = True
    every: float = DEFAULT_EVERY
    falco_versions: str | None = None
    verify_key: str | None = None
    basic: dict[str, tuple[str, str]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    cafiles: dict[str, str] = field(default_factory=dict)
    plain_http: set[str] = field(default_factory=set)
    docker_config: str | None = None

    def access(self, registry: str, *, plain_http: bool = False) -> Access:
        """How to reach one registry."""
        user, password = self.basic.get(registry, (None, None))
        return Access(
            plain_http=plain_http or registry in self.plain_http,
            ca_file=self.cafiles.get(registry),
            username=user,
            password=password,
            token=self.tokens.get(registry),
            docker_config=self.docker_config,
        )


def load_config(path: str | None) -> ArtifactConfig:
    """Read a falcoctl.yaml (None: defaults)."""
    cfg = ArtifactConfig()
    if path is None:
        return cfg
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ArtifactError(f"{path}: {exc}") from None
    if not isinstance(raw, dict):
        raise ArtifactError(f"{path}: expected a mapping of falcoctl keys")
    doc = _lower(raw)
    _walk(doc, "", path)
    for i, item in enumerate(doc.get("indexes") or []):
        if not isinstance(item, dict) or not item.get("name") or not item.get("url"):
            raise ArtifactError(f"{path}: indexes item {i + 1}: needs name and url")
        cfg.indexes.append(IndexSource(str(item["name"]), str(item["url"])))
    art = doc.get("artifact") or {}
    install, follow = art.get("install") or {}, art.get("follow") or {}
    if "allowedtypes" in art:
        cfg.allowed_types = frozenset(str(t) for t in art["allowedtypes"])
    cfg.install_refs = [str(r) for r in install.get("refs") or []]
    cfg.follow_refs = [str(r) for r in follow.get("refs") or []]
    cfg.rulesfiles_dir = str(install.get("rulesfilesdir") or cfg.rulesfiles_dir)
    cfg.follow_rulesfiles_dir = follow.get("rulesfilesdir")
    cfg.state_dir = install.get("statedir") or follow.get("statedir")
    cfg.resolve_deps = bool(install.get("resolvedeps", True))
    if "every" in follow:
        cfg.every = _duration(follow["every"], f"{path}: artifact.follow.every")
    cfg.falco_versions = follow.get("falcoversions")
    cfg.verify_key = (art.get("verify") or {}).get("key")
    reg = doc.get("registry") or {}
    auth = reg.get("auth") or {}
    for item in auth.get("basic") or []:
        user, password = str(item.get("user", "")), str(item.get("password", ""))
        cfg.basic[str(item["registry"])] = (user, password)
    for item in auth.get("token") or []:
        cfg.tokens[str(item["registry"])] = str(item["token"])
    cfg.docker_config = auth.get("dockerconfig")
    for item in reg.get("tls") or []:
        cfg.cafiles[str(item["registry"])] = str(item["cafile"])
    cfg.plain_http = {str(r) for r in reg.get("plainhttp") or []}
    return cfg
