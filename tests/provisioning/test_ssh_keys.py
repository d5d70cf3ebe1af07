"""The appliance's SSH key pair is written atomically: crashes and concurrent first uses never break it."""

import multiprocessing

from cryptography.hazmat.primitives import serialization

from microdc.provisioning import ssh_keys


def test_a_stale_temporary_file_does_not_break_key_creation(settings):
    key_dir = settings.DATA_DIR / "ssh"
    key_dir.mkdir(mode=0o700)
    # What a crash half-way through writing the key left behind, in every naming an old version used.
    (key_dir / "id_ed25519.tmp").write_bytes(b"-----BEGIN OPENSSH PRIV")
    (key_dir / ".id_ed25519.abc.tmp").write_bytes(b"-----BEGIN OPENSSH PRIV")
    path, public = ssh_keys.ensure_keypair()
    assert public.startswith("ssh-ed25519 ")
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    key = serialization.load_ssh_private_key(path.read_bytes(), password=None)
    derived = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    assert public.split()[:2] == derived.decode().split()[:2]
    assert path.with_suffix(".pub").read_text().strip() == public
    assert ssh_keys.ensure_keypair() == (path, public)  # made once


def _first_use(data_dir: str, queue) -> None:
    from django.conf import settings

    settings.DATA_DIR = data_dir
    queue.put(ssh_keys.ensure_keypair()[1])


def test_workers_making_the_key_at_once_all_get_the_same_pair(settings):
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    processes = [context.Process(target=_first_use, args=(str(settings.DATA_DIR), queue)) for _ in range(6)]
    for process in processes:
        process.start()
    publics = [queue.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert len(set(publics)) == 1
    private = settings.DATA_DIR / "ssh" / "id_ed25519"
    assert not [p for p in private.parent.iterdir() if p.name.endswith(".tmp") and p.name.startswith(".")]
