"""Settings come from the environment; checked in fresh interpreters so this process's settings stay put."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import json, django; from django.conf import settings; django.setup(); "
    "print(json.dumps({'engine': settings.DATABASES['default']['ENGINE'], "
    "'name': str(settings.DATABASES['default']['NAME']), 'debug': settings.DEBUG, "
    "'layer': settings.CHANNEL_LAYERS['default']['BACKEND'], 'key': settings.SECRET_KEY}))"
)


def probe(tmp_path, **env):
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY",
                                                                "MICRODC_DEBUG"}}
    clean |= {"MICRODC_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "microdc.settings"} | env
    result = subprocess.run([sys.executable, "-c", PROBE], env=clean, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_defaults_are_embedded_and_safe(tmp_path):
    first = probe(tmp_path)
    assert first["engine"] == "django.db.backends.sqlite3"
    assert first["name"] == str(tmp_path / "microdc.sqlite3")
    assert first["layer"] == "channels.layers.InMemoryChannelLayer"
    assert first["debug"] is False
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first["key"] == key_file.read_text() and len(first["key"]) >= 50
    assert probe(tmp_path)["key"] == first["key"]  # kept across restarts


def test_production_from_environment(tmp_path):
    got = probe(tmp_path, DATABASE_URL="postgres://microdc@127.0.0.1:5432/microdc",
                REDIS_URL="redis://127.0.0.1:6379/0", SECRET_KEY="x" * 60, MICRODC_DEBUG="yes")
    assert got["engine"] == "django.db.backends.postgresql"
    assert got["layer"] == "channels_redis.core.RedisChannelLayer"
    assert got["key"] == "x" * 60 and got["debug"] is True
    assert not (tmp_path / "secret_key").exists()


def test_bad_boolean_is_named(tmp_path):
    env = dict(os.environ, MICRODC_DATA_DIR=str(tmp_path), MICRODC_DEBUG="maybe")
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0
    assert "MICRODC_DEBUG must be a boolean" in result.stderr


def test_processes_starting_at_once_share_one_whole_secret_key(tmp_path):
    # Each process loads settings as soon as a shared file appears, so they race for the first key.
    go = tmp_path / "go"
    racer = f"import os, time\nwhile not os.path.exists({str(go)!r}): time.sleep(0.001)\n" + PROBE
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"}}
    clean |= {"MICRODC_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "microdc.settings"}
    processes = [subprocess.Popen([sys.executable, "-c", racer], env=clean, cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(6)]
    go.touch()
    keys = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        keys.append(json.loads(out)["key"])
    assert len(keys[0]) >= 50 and set(keys) == {keys[0]}
    assert (tmp_path / "secret_key").read_text() == keys[0]
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
