"""Model artifacts are checked on the appliance before any node is touched: SHA-256 always, and an ed25519
signature when the revision carries one. URLs are downloaded once into the appliance's cache, so nodes need
no internet; paths must lie under the directories the admin allows (MICRODC_ARTIFACT_ROOTS).

A download is bounded (MICRODC_ARTIFACT_MAX_BYTES, MICRODC_ARTIFACT_DOWNLOAD_SECONDS), goes only where the
URL policy allows (url_policy), and calls the caller's `tick` between chunks so a job's heartbeat goes on.
The reasons a URL failed go to the log (for the site's admin); the error's message, which a job summary
shows to every viewer, only says that it failed, so a summary never tells what a URL answered."""

import base64
import contextlib
import hashlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings

from . import masking, url_policy

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
MAX_REDIRECTS = 5
READ_TIMEOUT = 30.0  # seconds one connect or read may wait; the whole download has its own deadline
PARTIAL = ".download-"
SHA256 = re.compile(r"[0-9a-f]{64}")
# The playbook's own rule for an artifact's file name.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

# Called between chunks read or hashed; True means stop (the job was canceled).
Tick = Callable[[], bool]


class ArtifactError(Exception):
    """The artifact cannot be used; the message says why, in words any viewer of the job may read."""


class _Failed(Exception):
    """A download failed; the message (for the log only) says how."""


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


def _sha256_file(path: Path, tick: Tick | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            _tick(tick)
    return digest.hexdigest()


def _tick(tick: Tick | None) -> None:
    if tick is not None and tick():
        raise ArtifactError("canceled while the artifact was fetched or hashed")


def _cache_name(url: httpx.URL) -> str:
    """The cached file's name: the URL's own file name when it is a plain one (runtimes and the playbook
    look at it), else "artifact". Never a name that could leave the digest's directory."""
    name = unquote(url.raw_path.split(b"?")[0].rsplit(b"/", 1)[-1].decode("ascii"))
    return name if SAFE_NAME.fullmatch(name) else "artifact"


def _sweep_partial(directory: Path) -> None:
    """Remove downloads a killed worker left behind: a live download writes at least every read timeout."""
    limit = time.time() - settings.MICRODC_ARTIFACT_DOWNLOAD_SECONDS - 2 * READ_TIMEOUT
    for leftover in directory.glob(f"*/{PARTIAL}*"):
        with contextlib.suppress(OSError):
            if leftover.stat().st_mtime < limit:
                leftover.unlink()


def _download(url: str, sha256: str, tick: Tick | None = None) -> Path:
    """Fetch `url` into the cache as the file of digest `sha256`. The file appears only once complete and
    verified (written beside it, then renamed); a refused, partial or mismatched download leaves nothing."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ArtifactError(f"the artifact URL is not a valid URL: {exc}") from exc
    target = cache_dir() / sha256 / _cache_name(parsed)
    if target.exists():
        if _sha256_file(target, tick) == sha256:
            return target
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _sweep_partial(cache_dir())
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=PARTIAL)
    try:
        with os.fdopen(fd, "wb") as fh:
            actual = _stream(parsed, fh, tick)
        if actual != sha256:
            raise _Failed(f"SHA-256 mismatch: expected {sha256}, the download has {actual}")
        os.replace(tmp, target)
    except url_policy.UrlRefused as exc:
        log.warning("artifact %s refused: %s", masking.mask_url(str(parsed)), exc)
        raise ArtifactError(f"the artifact URL is refused by the site's URL policy ({exc.reason}; "
                            "MICRODC_ARTIFACT_URL_ALLOW names the hosts it trusts)") from exc
    except (_Failed, httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
        log.warning("artifact %s could not be fetched: %s", masking.mask_url(str(parsed)), exc)
        # One message for every way a fetch fails: a viewer of the job must not learn what a URL answered.
        raise ArtifactError("the artifact could not be fetched from its URL or does not match its SHA-256 "
                            "(the appliance's log says why)") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return target


def _stream(url: httpx.URL, fh, tick: Tick | None) -> str:
    """Download `url` into `fh` and return its SHA-256. Redirects are followed here, each hop checked by
    the URL policy like the first; the size limit and the deadline hold for the whole download."""
    deadline = time.monotonic() + settings.MICRODC_ARTIFACT_DOWNLOAD_SECONDS
    limit = settings.MICRODC_ARTIFACT_MAX_BYTES
    # An explicit transport: no proxy from the environment (it would connect to names the policy never
    # checked), while SSL_CERT_FILE / SSL_CERT_DIR still name a site's own CA.
    with httpx.Client(transport=httpx.HTTPTransport(trust_env=True), follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            response = _connect(client, url_policy.check(url), deadline)
            try:
                if response.is_redirect:
                    if "location" not in response.headers:
                        raise _Failed(f"HTTP {response.status_code} without a Location")
                    url = url.join(response.headers["location"])
                    continue
                if response.status_code != 200:
                    raise _Failed(f"HTTP {response.status_code}")
                length = response.headers.get("content-length", "")
                if length.isdigit() and int(length) > limit:
                    raise _Failed(f"Content-Length {length} is over MICRODC_ARTIFACT_MAX_BYTES ({limit})")
                digest, received = hashlib.sha256(), 0
                for chunk in response.iter_bytes():  # as they arrive: the deadline and tick go on
                    received += len(chunk)
                    if received > limit:
                        raise _Failed(f"more than MICRODC_ARTIFACT_MAX_BYTES ({limit}) bytes")
                    if time.monotonic() > deadline:
                        raise _Failed(f"not done within MICRODC_ARTIFACT_DOWNLOAD_SECONDS "
                                      f"({settings.MICRODC_ARTIFACT_DOWNLOAD_SECONDS} s)")
                    fh.write(chunk)
                    digest.update(chunk)
                    _tick(tick)
                return digest.hexdigest()
            finally:
                response.close()
    raise _Failed(f"more than {MAX_REDIRECTS} redirects")


def _connect(client: httpx.Client, target: url_policy.Target, deadline: float) -> httpx.Response:
    """GET the target from the first of its checked addresses that accepts a connection. The URL's name
    still goes in the Host header and in TLS (SNI, and the certificate is checked against it)."""
    url = target.url
    failure: Exception = _Failed("no address")
    for connect_url in target.connect_urls():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Failed(f"not done within MICRODC_ARTIFACT_DOWNLOAD_SECONDS "
                          f"({settings.MICRODC_ARTIFACT_DOWNLOAD_SECONDS} s)")
        request = client.build_request(
            "GET", connect_url, timeout=httpx.Timeout(min(READ_TIMEOUT, remaining)),
            headers={"Host": url.netloc.decode("ascii"), "Accept-Encoding": "identity"},
            extensions={"sni_hostname": url.raw_host.decode("ascii")} if url.scheme == "https" else {})
        try:
            return client.send(request, stream=True)
        except httpx.ConnectError as exc:
            failure = exc
    raise failure


def resolve_path(artifact: str) -> Path:
    path = Path(artifact).resolve()
    if not any(path.is_relative_to(root) for root in artifact_roots()):
        raise ArtifactError(f"{artifact} is outside the allowed artifact directories "
                            f"({', '.join(str(r) for r in artifact_roots())})")
    if not path.is_file():
        raise ArtifactError(f"{artifact} does not exist on the appliance or is not a file")
    return path


def _check_signature(sha256: str, signature: str, public_key: str | None) -> None:
    if public_key is None:
        raise ArtifactError("the revision is signed but names no trusted signing key")
    try:
        # The signature is over the artifact's SHA-256 digest (32 bytes): models are too big to sign whole.
        load_public_key(public_key).verify(base64.b64decode(signature, validate=True), bytes.fromhex(sha256))
    except (InvalidSignature, ValueError) as exc:
        raise ArtifactError("the artifact's signature does not verify with the trusted key") from exc


def verify(artifact: str, sha256: str, signature: str = "", public_key: str | None = None,
           tick: Tick | None = None) -> Path:
    """Return the verified local file, or raise ArtifactError saying what did not match.

    The signature covers the expected digest, so it is checked first: a forged revision downloads nothing.
    """
    if not SHA256.fullmatch(sha256):
        raise ArtifactError("the artifact's SHA-256 is not 64 lowercase hex digits")
    if signature:
        _check_signature(sha256, signature, public_key)
    if artifact.startswith(("http://", "https://")):
        return _download(artifact, sha256, tick)
    path = resolve_path(artifact)
    actual = _sha256_file(path, tick)
    if actual != sha256:
        raise ArtifactError(f"SHA-256 mismatch for {artifact}: expected {sha256}, the file has {actual}")
    return path
