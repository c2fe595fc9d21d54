"""What an artifact reference names: ``falco-rules:3``, ``falco-rules``,
``ghcr.io/falcosecurity/rules/falco-rules:3`` or ``...@sha256:<hex>``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lanner.exceptions import RefError

DEFAULT_TAG = "latest"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")


@dataclass(frozen=True, slots=True)
class Ref:
    """A parsed reference; ``registry`` is empty for an index name (``falco-rules:3``)."""

    registry: str
    repository: str  # the index name when registry is empty
    tag: str = DEFAULT_TAG
    digest: str = ""

    @property
    def is_name(self) -> bool:
        """True for a short name resolved through the indexes."""
        return not self.registry

    @property
    def version(self) -> str:
        """The digest when pinned, else the tag: what is asked of the registry."""
        return self.digest or self.tag

    def located(self, registry: str, repository: str) -> Ref:
        """This reference's tag/digest at a registry location (from an index entry)."""
        return Ref(registry, repository, self.tag, self.digest)

    def __str__(self) -> str:
        base = f"{self.registry}/{self.repository}" if self.registry else self.repository
        return f"{base}@{self.digest}" if self.digest else f"{base}:{self.tag}"


def parse_ref(text: str) -> Ref:
    """Parse a reference; a clear RefError names what is wrong."""
    text = text.strip()
    if not text:
        raise RefError("empty artifact reference")
    digest = ""
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST.match(digest):
            raise RefError(f"{text}@{digest}: a digest is sha256: and 64 hex digits")
    slash = text.rfind("/")
    colon = text.rfind(":")
    tag = DEFAULT_TAG
    if colon > slash:
        text, tag = text[:colon], text[colon + 1 :]
        if not tag:
            raise RefError(f"{text}: empty tag")
    if "/" not in text:
        if not _NAME.match(text):
            raise RefError(f"{text!r}: not an artifact name (lower-case letters, digits, . _ -)")
        return Ref("", text, tag, digest)
    registry, repository = text.split("/", 1)
    if not repository:
        raise RefError(f"{text!r}: no repository after the registry")
    return Ref(registry, repository, tag, digest)
