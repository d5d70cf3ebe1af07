"""The appliance's own SSH key pair for reaching the nodes.

The private key is made once, 0600 in the data directory, and never shown; the public key is what an admin
puts in the nodes' authorized_keys.
"""

import os
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings


def key_dir() -> Path:
    return Path(settings.DATA_DIR) / "ssh"


def private_key_path() -> Path:
    return key_dir() / "id_ed25519"


def ensure_keypair() -> tuple[Path, str]:
    """Return (private key path, public key line), making the pair on first use."""
    path = private_key_path()
    public_path = path.with_suffix(".pub")
    if not path.exists():
        key_dir().mkdir(parents=True, exist_ok=True, mode=0o700)
        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                    serialization.NoEncryption())
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        tmp = path.with_suffix(".tmp")
        # Written whole, then renamed: a crash never leaves half a key; O_EXCL: two workers never both write.
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return ensure_keypair_when_ready(path, public_path)
        with os.fdopen(fd, "wb") as fh:
            fh.write(private)
        public_path.write_text(public.decode() + " microdc-appliance\n")
        os.replace(tmp, path)
    return path, public_path.read_text().strip()


def ensure_keypair_when_ready(path: Path, public_path: Path) -> tuple[Path, str]:
    for _ in range(50):
        if path.exists() and public_path.exists():
            return path, public_path.read_text().strip()
        time.sleep(0.1)
    raise RuntimeError(f"another process is creating {path} and has not finished")
