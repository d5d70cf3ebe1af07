"""The appliance's own SSH key pair for reaching the nodes.

The private key is made once, 0600 in the data directory, and never shown; the public key is what an admin
puts in the nodes' authorized_keys.
"""

import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings


def key_dir() -> Path:
    return Path(settings.DATA_DIR) / "ssh"


def private_key_path() -> Path:
    return key_dir() / "id_ed25519"


def write_once(path: Path, data: bytes) -> bool:
    """Write `data` to `path` unless it exists; True when this call's data is the one there now.

    The bytes go to a temporary file of this process's own (0600, same directory), are synced, and are then
    hard-linked into place: the link fails when another writer got there first, so the first writer wins,
    and a reader sees either no file or a whole one. A crash leaves at most a stray temporary file, which
    nothing ever reads.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(tmp)


def _public_line(private_pem: bytes) -> str:
    key = serialization.load_ssh_private_key(private_pem, password=None)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return public.decode() + " microdc-appliance"


def ensure_keypair() -> tuple[Path, str]:
    """Return (private key path, public key line), making the pair on first use."""
    path = private_key_path()
    if not path.exists():
        key_dir().mkdir(parents=True, exist_ok=True, mode=0o700)
        private = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
        write_once(path, private)
    # The public key is derived from the private key on disk (whichever writer won), so the two always match;
    # the .pub file is a copy for people.
    public = _public_line(path.read_bytes())
    public_path = path.with_suffix(".pub")
    if not public_path.exists():
        write_once(public_path, (public + "\n").encode())
    return path, public
