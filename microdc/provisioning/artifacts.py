"""Model artifacts are checked on the appliance before any node is touched: SHA-256 always, and an ed25519
signature when the revision carries one. URLs are downloaded once into the appliance's cache, so nodes need
no internet; paths must lie under the directories the admin allows (MICRODC_ARTIFACT_ROOTS)."""

import base64
import hashlib
import os
import tempfile
from pathlib import Path

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings

CHUNK = 1024 * 1024


class ArtifactError(Exception):
    """The artifact cannot be used; the message says why."""


def artifact_roots() -> list[Path]:
    return [Path(p).resolve() for p in settings.MICRODC_ARTIFACT_ROOTS]


def cache_dir() -> Path:
    return Path(settings.DATA_DIR) / "artifact-cache"


def load_public_key(text: str) -> Ed25519PublicKey:
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        elif text.startswith("ssh-ed25519"):
            key = serialization.load_ssh_public_key(text.encode())
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except (ValueError, TypeError) as exc:
        raise ArtifactError(f"not an ed25519 public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ArtifactError("the key is not an ed25519 key")
    return key


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _download(url: str, sha256: str) -> Path:
    target = cache_dir() / sha256 / (Path(httpx.URL(url).path).name or "artifact")
    if target.exists() and _sha256_file(target) == sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".download-")
    try:
        with os.fdopen(fd, "wb") as fh, httpx.stream("GET", url, follow_redirects=True, timeout=60) as response:
            if response.status_code != 200:
                raise ArtifactError(f"download of {url} failed: HTTP {response.status_code}")
            for chunk in response.iter_bytes(CHUNK):
                fh.write(chunk)
        os.replace(tmp, target)
    except httpx.HTTPError as exc:
        raise ArtifactError(f"download of {url} failed: {exc}") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def resolve_local(artifact: str, sha256: str) -> Path:
    if artifact.startswith(("http://", "https://")):
        return _download(artifact, sha256)
    path = Path(artifact).resolve()
    if not any(path.is_relative_to(root) for root in artifact_roots()):
        raise ArtifactError(f"{artifact} is outside the allowed artifact directories "
                            f"({', '.join(str(r) for r in artifact_roots())})")
    if not path.is_file():
        raise ArtifactError(f"{artifact} does not exist on the appliance or is not a file")
    return path


def verify(artifact: str, sha256: str, signature: str = "", public_key: str | None = None) -> Path:
    """Return the verified local file, or raise ArtifactError saying what did not match."""
    path = resolve_local(artifact, sha256)
    actual = _sha256_file(path)
    if actual != sha256:
        raise ArtifactError(f"SHA-256 mismatch for {artifact}: expected {sha256}, the file has {actual}")
    if signature:
        if public_key is None:
            raise ArtifactError("the revision is signed but names no trusted signing key")
        try:
            # The signature is over the artifact's SHA-256 digest (32 bytes): models are too big to sign whole.
            load_public_key(public_key).verify(base64.b64decode(signature, validate=True), bytes.fromhex(actual))
        except (InvalidSignature, ValueError) as exc:
            raise ArtifactError(f"the signature of {artifact} does not verify with the trusted key") from exc
    return path
