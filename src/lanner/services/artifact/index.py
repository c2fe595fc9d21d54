"""falcoctl's artifact index: a YAML list of entries (name, type, registry, repository,
description, keywords...) fetched from an http(s):// or file:// URL."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx
import yaml

from lanner.exceptions import IndexLookupError
from lanner.services.artifact.refs import Ref

ARTIFACT_TYPES = ("rulesfile", "plugin", "asset")


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One artifact of an index."""

    name: str
    type: str
    registry: str
    repository: str
    description: str = ""
    home: str = ""
    keywords: tuple[str, ...] = ()
    license: str = ""
    index: str = ""  # the index it came from

    def matches(self, words: list[str]) -> bool:
        """Every word in the name, description or keywords (falcoctl's search)."""
        hay = " ".join([self.name, self.description, *self.keywords]).lower()
        return all(w.lower() in hay for w in words)


@dataclass(frozen=True, slots=True)
class IndexSource:
    """A named index and where it is."""

    name: str
    url: str


@dataclass(slots=True)
class Indexes:
    """The entries of every configured index, the first index winning on a name."""

    entries: list[IndexEntry] = field(default_factory=list)

    @classmethod
    def fetch(cls, sources: list[IndexSource], *, timeout: float = 30.0) -> Indexes:
        """Read each index; an unreadable one is an IndexLookupError naming it."""
        out = cls()
        for src in sources:
            out.entries.extend(_read(src, timeout))
        return out

    def find(self, name: str) -> IndexEntry:
        """The entry of an artifact name."""
        for entry in self.entries:
            if entry.name == name:
                return entry
        known = ", ".join(sorted({e.name for e in self.entries})) or "none (no index configured)"
        raise IndexLookupError(f"no index has an artifact named {name!r} (known: {known})")

    def resolve(self, ref: Ref) -> Ref:
        """A short name's registry location; a full reference as it is."""
        if not ref.is_name:
            return ref
        entry = self.find(ref.repository)
        return ref.located(entry.registry, entry.repository)

    def type_of(self, ref: Ref) -> str | None:
        """The index's type for a short name (None for a full reference)."""
        return self.find(ref.repository).type if ref.is_name else None


def _read(src: IndexSource, timeout: float) -> list[IndexEntry]:
    url = urlparse(src.url)
    try:
        if url.scheme in ("http", "https"):
            resp = httpx.get(src.url, timeout=timeout, follow_redirects=True)
            resp.raise_for_status()
            text = resp.text
        elif url.scheme in ("file", ""):
            text = Path(url.path).read_text()
        else:
            raise IndexLookupError(f"index {src.name}: unsupported URL scheme {url.scheme!r}")
    except (OSError, httpx.HTTPError) as exc:
        raise IndexLookupError(f"index {src.name} ({src.url}): {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise IndexLookupError(f"index {src.name} ({src.url}): not YAML: {exc}") from None
    if not isinstance(data, list):
        raise IndexLookupError(f"index {src.name} ({src.url}): expected a list of artifacts")
    entries = []
    for i, item in enumerate(data):
        where = f"index {src.name} ({src.url}), item {i + 1}"
        if not isinstance(item, dict):
            raise IndexLookupError(f"{where}: expected a mapping")
        missing = [k for k in ("name", "type", "registry", "repository") if not item.get(k)]
        if missing:
            raise IndexLookupError(f"{where}: missing {', '.join(missing)}")
        if item["type"] not in ARTIFACT_TYPES:
            raise IndexLookupError(f"{where}: type {item['type']!r} is not one of {ARTIFACT_TYPES}")
        entries.append(
            IndexEntry(
                name=str(item["name"]),
                type=str(item["type"]),
                registry=str(item["registry"]),
                repository=str(item["repository"]),
                description=str(item.get("description") or ""),
                home=str(item.get("home") or ""),
                keywords=tuple(str(k) for k in item.get("keywords") or ()),
                license=str(item.get("license") or ""),
                index=src.name,
            )
        )
    return entries
