"""Key-based signatures in cosign's format: a ``sha256-<digest>.sig`` tag in the
artifact's repository whose layers are simple-signing payloads naming the manifest
digest, each with its ECDSA P-256 signature (base64, DER) in the
``dev.cosignproject.cosign/signature`` annotation. Verification takes cosign's public
key file (PEM); signing takes an unencrypted PKCS#8 EC P-256 key (``openssl``-made),
not cosign's encrypted key format.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from lanner.exceptions import RegistryError, SignatureError
from lanner.services.artifact.refs import Ref
from lanner.services.artifact.registry import MANIFEST_MEDIA_TYPE, RegistryClient

PAYLOAD_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json"


def signature_tag(digest: str) -> str:
    """Where cosign keeps the signatures of a manifest digest."""
    return digest.replace(":", "-") + ".sig"


def payload(ref: Ref, digest: str) -> bytes:
    """The simple-signing payload cosign signs for a manifest digest."""
    doc = {
        "critical": {
            "identity": {"docker-reference": f"{ref.registry}/{ref.repository}"},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": None,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def load_public_key(path: str) -> ec.EllipticCurvePublicKey:
    """A PEM public key (cosign.pub); an error names the file."""
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise SignatureError(f"{path}: not a PEM public key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise SignatureError(f"{path}: expected an ECDSA public key (cosign's)")
    return key


def sign(client: RegistryClient, ref: Ref, digest: str, key_path: str) -> None:
    """Push a signature of ``digest`` with the private key at ``key_path``."""
    try:
        key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SignatureError(f"{key_path}: not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SignatureError(f"{key_path}: expected an ECDSA private key")
    body = payload(ref, digest)
    sig = base64.b64encode(key.sign(body, ec.ECDSA(hashes.SHA256()))).decode()
    sig_ref = Ref(ref.registry, ref.repository, signature_tag(digest))
    config = b"{}"
    layer_digest = client.put_blob(sig_ref, body)
    config_digest = client.put_blob(sig_ref, config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, "size": len(config), "digest": config_digest},
        "layers": [
            {
                "mediaType": PAYLOAD_MEDIA_TYPE,
                "size": len(body),
                "digest": layer_digest,
                "annotations": {SIGNATURE_ANNOTATION: sig},
            }
        ],
    }
    client.put_manifest(sig_ref, json.dumps(manifest).encode(), MANIFEST_MEDIA_TYPE)


def verify(client: RegistryClient, ref: Ref, digest: str, key_path: str) -> None:
    """Raise SignatureError unless a signature of ``digest`` verifies with the key."""
    key = load_public_key(key_path)
    sig_ref = Ref(ref.registry, ref.repository, signature_tag(digest))
    try:
        _, manifest = client.manifest(sig_ref)
    except RegistryError as exc:
        raise SignatureError(f"{ref}@{digest}: no signature found ({exc})") from None
    reasons = []
    for layer in manifest.get("layers") or []:
        if layer.get("mediaType") != PAYLOAD_MEDIA_TYPE:
            continue
        sig_b64 = (layer.get("annotations") or {}).get(SIGNATURE_ANNOTATION, "")
        try:
            body = client.blob(sig_ref, str(layer["digest"]))
            key.verify(base64.b64decode(sig_b64), body, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError, RegistryError) as exc:
            reasons.append(type(exc).__name__)
            continue
        signed = json.loads(body).get("critical", {}).get("image", {})
        if signed.get("docker-manifest-digest") == digest:
            return
        reasons.append("signed another digest")
    why = ", ".join(reasons) or "no signature layer"
    raise SignatureError(f"{ref}@{digest}: no signature verifies with {key_path} ({why})")


def key_fingerprint(path: str) -> str:
    """A short fingerprint of a public key, for log lines."""
    der = load_public_key(path).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()[:16]
