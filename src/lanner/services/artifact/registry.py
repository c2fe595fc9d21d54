"""The OCI side, through ``oras``: tags, manifests, blobs, pushes of falcoctl-format
artifacts (its media types, config JSON and one tar.gz layer), with basic, bearer-token
or docker config.json credentials, plain HTTP or TLS with a custom CA."""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from lanner.exceptions import RegistryError
from lanner.services.artifact.refs import Ref

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
ACCEPTED_MANIFESTS = [MANIFEST_MEDIA_TYPE, "application/vnd.oci.image.index.v1+json"]
# (config, layer) media types of each artifact type, as falcoctl pushes them
MEDIA_TYPES = {
    "rulesfile": (
        "application/vnd.cncf.falco.rulesfile.config.v1+json",
        "application/vnd.cncf.falco.rulesfile.layer.v1+tar.gz",
    ),
    "plugin": (
        "application/vnd.cncf.falco.plugin.config.v1+json",
        "application/vnd.cncf.falco.plugin.layer.v1+tar.gz",
    ),
    "asset": (
        "application/vnd.cncf.falco.asset.config.v1+json",
        "application/vnd.cncf.falco.asset.layer.v1+tar.gz",
    ),
}
TITLE = "org.opencontainers.image.title"


def type_of_config(media_type: str) -> str | None:
    """The artifact type whose config has this media type."""
    for kind, (config, _) in MEDIA_TYPES.items():
        if config == media_type:
            return kind
    return None


@dataclass(frozen=True, slots=True)
class Access:
    """How to reach a registry: plain HTTP or TLS (a CA file), and credentials."""

    plain_http: bool = False
    ca_file: str | None = None
    username: str | None = None
    password: str | None = None
    token: str | None = None  # a bearer token
    docker_config: str | None = None  # a docker config.json with "auths"


@dataclass(frozen=True, slots=True)
class Pulled:
    """An artifact as the registry serves it, digests checked."""

    ref: Ref
    digest: str  # the manifest's
    type: str
    config: dict[str, Any]
    layer_name: str
    layer: bytes
    manifest: dict[str, Any]


class RegistryClient:
    """One registry, through an ``oras.provider.Registry``."""

    def __init__(self, registry: str, access: Access | None = None) -> None:
        import oras.provider

        self.registry = registry
        self.access = access or Access()
        verify: bool | str = self.access.ca_file or True
        backend = self._auth_scheme(verify)
        self._oras = oras.provider.Registry(
            hostname=registry,
            insecure=self.access.plain_http,
            tls_verify=verify,
            auth_backend=backend,
        )
        if self.access.username is not None:
            self._oras.auth.set_basic_auth(self.access.username, self.access.password or "")
        if self.access.token:
            self._oras.auth.set_token_auth(self.access.token)
        if self.access.docker_config:
            self._oras.auth.load_configs(
                self._container(Ref(registry, "x")), configs=[self.access.docker_config]
            )

    # -- reading ---------------------------------------------------------------------

    def tags(self, repository: str) -> list[str]:
        """The repository's tags."""
        try:
            return list(self._oras.get_tags(self._container(Ref(self.registry, repository))))
        except Exception as exc:
            raise RegistryError(f"{self.registry}/{repository}: cannot list tags: {exc}") from None

    def manifest(self, ref: Ref) -> tuple[str, dict[str, Any]]:
        """(digest, manifest) of a tag or digest; a pinned digest must match."""
        url = f"{self._oras.prefix}://{self._container(ref).manifest_url()}"
        resp = self._request(url, headers={"Accept": ", ".join(ACCEPTED_MANIFESTS)})
        if resp.status_code == 404:
            raise RegistryError(f"{ref}: no such artifact in the registry")
        if resp.status_code != 200:
            raise RegistryError(f"{ref}: the registry answered HTTP {resp.status_code}")
        body = resp.content
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if ref.digest and digest != ref.digest:
            raise RegistryError(f"{ref}: the manifest served has digest {digest}")
        try:
            manifest = json.loads(body)
        except ValueError:
            raise RegistryError(f"{ref}: the manifest is not JSON") from None
        return digest, manifest

    def blob(self, ref: Ref, digest: str) -> bytes:
        """A blob, refused unless its content has ``digest``."""
        url = f"{self._oras.prefix}://{self._container(ref).get_blob_url(digest)}"
        resp = self._request(url)
        if resp.status_code != 200:
            raise RegistryError(f"{ref}: blob {digest}: HTTP {resp.status_code}")
        got = "sha256:" + hashlib.sha256(resp.content).hexdigest()
        if got != digest:
            raise RegistryError(f"{ref}: blob {digest} was served with digest {got}")
        return bytes(resp.content)

    def pull(self, ref: Ref) -> Pulled:
        """The manifest, config and single layer of a falcoctl-format artifact."""
        digest, manifest = self.manifest(ref)
        if manifest.get("mediaType") == ACCEPTED_MANIFESTS[1]:
            raise RegistryError(
                f"{ref}: a multi-platform image index (plugins); Lanner installs rules "
                "files only, its plugins are built in"
            )
        config_desc = manifest.get("config") or {}
        kind = type_of_config(str(config_desc.get("mediaType", "")))
        if kind is None:
            raise RegistryError(
                f"{ref}: not a Falco artifact (config media type {config_desc.get('mediaType')!r})"
            )
        layers = manifest.get("layers") or []
        if len(layers) != 1 or layers[0].get("mediaType") != MEDIA_TYPES[kind][1]:
            raise RegistryError(f"{ref}: expected one {MEDIA_TYPES[kind][1]} layer")
        try:
            config = json.loads(self.blob(ref, str(config_desc["digest"])))
        except ValueError:
            raise RegistryError(f"{ref}: the artifact config is not JSON") from None
        if not isinstance(config, dict):
            raise RegistryError(f"{ref}: the artifact config is not a JSON object")
        layer = self.blob(ref, str(layers[0]["digest"]))
        name = str((layers[0].get("annotations") or {}).get(TITLE) or "layer.tar.gz")
        return Pulled(ref, digest, kind, config, name, layer, manifest)

    # -- writing ---------------------------------------------------------------------

    def push(
        self,
        ref: Ref,
        kind: str,
        config: dict[str, Any],
        layer_name: str,
        layer: bytes,
        tags: list[str] | None = None,
    ) -> str:
        """Push an artifact under ``ref``'s tag and ``tags``; return its manifest digest."""
        config_type, layer_type = MEDIA_TYPES[kind]
        digest = ""
        with tempfile.TemporaryDirectory() as tmp:
            layer_path = Path(tmp) / layer_name
            layer_path.write_bytes(layer)
            config_path = Path(tmp) / "config.json"
            config_path.write_text(json.dumps(config, separators=(",", ":")))
            for tag in [ref.tag, *(tags or [])]:
                target = f"{self.registry}/{ref.repository}:{tag}"
                try:
                    resp = self._oras.push(
                        target=target,
                        files=[f"{layer_path}:{layer_type}"],
                        manifest_config=f"{config_path}:{config_type}",
                        disable_path_validation=True,
                        quiet=True,
                    )
                except Exception as exc:
                    raise RegistryError(f"{target}: push failed: {exc}") from None
                if resp.status_code not in (200, 201):
                    raise RegistryError(f"{target}: push failed: HTTP {resp.status_code}")
                digest = resp.headers.get("Docker-Content-Digest", digest)
        return digest

    def put_manifest(self, ref: Ref, manifest: bytes, media_type: str) -> None:
        """Store a manifest under ``ref``'s tag (signatures)."""
        url = f"{self._oras.prefix}://{self._container(ref).manifest_url(ref.tag)}"
        resp = self._request(url, "PUT", data=manifest, headers={"Content-Type": media_type})
        if resp.status_code not in (200, 201):
            raise RegistryError(f"{ref}: manifest upload: HTTP {resp.status_code}")

    def put_blob(self, ref: Ref, data: bytes) -> str:
        """Upload a blob (monolithic, through oras); return its digest."""
        import oras.oci

        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        with tempfile.NamedTemporaryFile(delete=False) as fh:
            fh.write(data)
        try:
            layer = oras.oci.NewLayer(fh.name, media_type="application/octet-stream")
            resp = self._oras.upload_blob(fh.name, self._container(ref), layer)
        finally:
            os.unlink(fh.name)
        if resp.status_code not in (200, 201):
            raise RegistryError(f"{ref}: blob upload: HTTP {resp.status_code}")
        return digest

    # -- plumbing --------------------------------------------------------------------

    def _container(self, ref: Ref) -> Any:
        import oras.container

        at = f"@{ref.digest}" if ref.digest else f":{ref.tag}"
        return oras.container.Container(f"{self.registry}/{ref.repository}{at}")

    def _request(self, url: str, method: str = "GET", **kw: Any) -> Any:
        try:
            return self._oras.do_request(url, method, **kw)
        except Exception as exc:
            raise RegistryError(f"{url}: {type(exc).__name__}: {exc}") from None

    def _auth_scheme(self, verify: bool | str) -> str:
        """oras's backend for the registry's challenge: basic, else token (bearer)."""
        scheme = "http" if self.access.plain_http else "https"
        ctx = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
        try:
            resp = httpx.get(f"{scheme}://{self.registry}/v2/", verify=ctx, timeout=15)
        except httpx.HTTPError as exc:
            raise RegistryError(f"{self.registry}: cannot reach the registry: {exc}") from None
        challenge = resp.headers.get("WWW-Authenticate", "")
        return "basic" if challenge.lower().startswith("basic") else "token"
