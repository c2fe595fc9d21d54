"""Install artifacts: resolve, pull, verify the signature, check requirements and that
the rules load, then write the files atomically; remember what was installed."""

from __future__ import annotations

import io
import json
import logging
import os
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lanner.exceptions import ArtifactError, RequirementError
from lanner.services.artifact import signing
from lanner.services.artifact.index import Indexes
from lanner.services.artifact.refs import Ref, parse_ref
from lanner.services.artifact.registry import Access, Pulled, RegistryClient
from lanner.services.artifact.requirements import (
    BUILTIN_PLUGINS,
    EngineVersions,
    check_requirements,
    check_rules_load,
)

log = logging.getLogger("lanner.artifact")
STATE_FILE = "lanner-artifacts.json"
MAX_FILE_BYTES = 32 << 20


@dataclass(slots=True)
class InstallOptions:
    """Where and what to install (falcoctl's install flags)."""

    rulesfiles_dir: Path
    state_dir: Path | None = None
    allowed_types: frozenset[str] = frozenset({"rulesfile"})
    resolve_deps: bool = True
    verify_key: str | None = None  # cosign public key: refuse what it did not sign
    engine: EngineVersions = field(default_factory=EngineVersions.local)


@dataclass(frozen=True, slots=True)
class Installed:
    """One artifact written."""

    ref: str
    digest: str
    version: str
    files: tuple[str, ...]
    notes: tuple[str, ...] = ()


class Installer:
    """Installs references through the indexes and registries."""

    def __init__(
        self,
        indexes: Indexes,
        options: InstallOptions,
        access_for: Callable[[str], Access] = lambda registry: Access(),
    ) -> None:
        self.indexes = indexes
        self.options = options
        self.access_for = access_for
        self._clients: dict[str, RegistryClient] = {}

    def client(self, registry: str) -> RegistryClient:
        """One client per registry."""
        if registry not in self._clients:
            self._clients[registry] = RegistryClient(registry, self.access_for(registry))
        return self._clients[registry]

    def resolve(self, text: str) -> Ref:
        """A reference at its registry location."""
        return self.indexes.resolve(parse_ref(text))

    def current_digest(self, text: str) -> str:
        """The digest the registry serves now for a reference."""
        ref = self.resolve(text)
        return self.client(ref.registry).manifest(ref)[0]

    def install(self, refs: list[str]) -> list[Installed]:
        """Install each reference (and its dependencies); nothing is written unless every
        artifact passes every check."""
        pulled: dict[str, tuple[str, Pulled, list[str]]] = {}
        queue = list(refs)
        while queue:
            text = queue.pop(0)
            ref = self.resolve(text)
            key = f"{ref.registry}/{ref.repository}"
            if key in pulled:
                continue
            index_type = self.indexes.type_of(parse_ref(text))
            if index_type is not None and index_type not in self.options.allowed_types:
                raise RequirementError(f"{text}: type {index_type} is not allowed here")
            got = self.client(ref.registry).pull(ref)
            if got.type not in self.options.allowed_types:
                raise RequirementError(
                    f"{text}: a {got.type} artifact; allowed types: "
                    f"{', '.join(sorted(self.options.allowed_types))}"
                )
            if self.options.verify_key:
                signing.verify(self.client(ref.registry), ref, got.digest, self.options.verify_key)
            notes = check_requirements(str(ref), got.config, self.options.engine)
            for dep in got.config.get("dependencies") or []:
                name = str(dep.get("name", "")) if isinstance(dep, dict) else ""
                if not name:
                    raise RequirementError(f"{ref}: malformed dependency {dep!r}")
                if name in BUILTIN_PLUGINS or any(
                    isinstance(a, dict) and a.get("name") in BUILTIN_PLUGINS
                    for a in dep.get("alternatives") or []
                ):
                    notes.append(f"dependency {name}: built into Lanner")
                elif self.options.resolve_deps:
                    queue.append(f"{name}:{dep.get('version') or 'latest'}")
                else:
                    notes.append(f"dependency {name} {dep.get('version')}: not resolved")
            pulled[key] = (text, got, notes)
        staged = {key: _extract(got) for key, (_, got, _) in pulled.items()}
        self._check_loads(staged)
        done = []
        previous = self.state()
        for key, (text, got, notes) in pulled.items():
            names = [self._write(name, data) for name, data in staged[key]]
            for stale in set((previous.get(key) or {}).get("files", [])) - set(names):
                Path(stale).unlink(missing_ok=True)  # a file the new version dropped
            item = Installed(text, got.digest, str(got.config.get("version", "")), tuple(names),
                             tuple(notes))  # fmt: skip
            self._remember(key, item)
            log.info("installed %s (%s, %s): %s", text, item.version, got.digest[:19],
                     ", ".join(names))  # fmt: skip
            done.append(item)
        return done

    def _check_loads(self, staged: dict[str, list[tuple[str, bytes]]]) -> None:
        """The rules directory as it would be after the install must load in Lanner."""
        new = {name: data for files in staged.values() for name, data in files}
        if not new:
            return
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            current = self.options.rulesfiles_dir
            if current.is_dir():
                for p in current.iterdir():
                    if p.suffix in (".yaml", ".yml") and p.is_file() and p.name not in new:
                        (out / p.name).write_bytes(p.read_bytes())
            for name, data in new.items():
                (out / name).write_bytes(data)
            check_rules_load(sorted(out.iterdir()))

    def _write(self, name: str, data: bytes) -> str:
        """Write one file atomically (a temporary file in the same folder, renamed)."""
        folder = self.options.rulesfiles_dir
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, folder / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return str(folder / name)

    def state(self) -> dict[str, Any]:
        """What was installed, by registry/repository."""
        path = self._state_path()
        if path is None or not path.exists():
            return {}
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"{path}: unreadable artifact state: {exc}") from None
        return data if isinstance(data, dict) else {}

    def _state_path(self) -> Path | None:
        folder = self.options.state_dir or self.options.rulesfiles_dir
        return folder / STATE_FILE

    def _remember(self, key: str, item: Installed) -> None:
        path = self._state_path()
        if path is None:
            return
        state = self.state()
        state[key] = {"ref": item.ref, "digest": item.digest, "version": item.version,
                      "files": list(item.files)}  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
        os.replace(tmp, path)


def _extract(got: Pulled) -> list[tuple[str, bytes]]:
    """The files of a layer: regular files with plain names only."""
    out = []
    try:
        with tarfile.open(fileobj=io.BytesIO(got.layer), mode="r:gz") as tar:
            for member in tar.getmembers():
                if member.isdir():
                    continue
                name = os.path.basename(member.name)
                if not member.isfile() or name in ("", ".", "..") or name.startswith("."):
                    raise RequirementError(f"{got.ref}: layer entry {member.name!r} refused")
                if member.size > MAX_FILE_BYTES:
                    raise RequirementError(f"{got.ref}: {member.name} is over 32 MiB")
                fh = tar.extractfile(member)
                assert fh is not None
                out.append((name, fh.read()))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise RequirementError(f"{got.ref}: the layer is not a tar.gz: {exc}") from None
    if not out:
        raise RequirementError(f"{got.ref}: the layer holds no file")
    return out


def pack(files: list[Path]) -> bytes:
    """A tar.gz of files under their base names (what push uploads)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in files:
            data = path.read_bytes()
            info = tarfile.TarInfo(path.name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
