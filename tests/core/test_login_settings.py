"""The login and shared-cache settings, read in fresh interpreters (tests.test_settings' probe)."""

import os
import subprocess
import sys

import pytest

from tests.test_settings import PROBE, ROOT

SHARED = "import django; from django.conf import settings; django.setup(); print(settings.CACHES['shared']['BACKEND'])"


def run(tmp_path, code: str, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    clean |= {"MICRODC_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "microdc.settings"} | env
    return subprocess.run([sys.executable, "-c", code], env=clean, cwd=ROOT, capture_output=True, text=True)


def test_the_shared_cache_is_redis_with_redis_else_the_database(tmp_path):
    assert run(tmp_path, SHARED).stdout.strip() == "django.core.cache.backends.db.DatabaseCache"
    with_redis = run(tmp_path, SHARED, REDIS_URL="redis://127.0.0.1:6379/0").stdout.strip()
    assert with_redis == "django.core.cache.backends.redis.RedisCache"


@pytest.mark.parametrize("name, value, problem", [
    ("MICRODC_TRUSTED_PROXIES", "10.0.0.1, proxy.example", "MICRODC_TRUSTED_PROXIES"),
    ("MICRODC_LOGIN_RATE", "twenty", "MICRODC_LOGIN_RATE must be like 20/min"),
])
def test_bad_values_are_named(tmp_path, name, value, problem):
    result = run(tmp_path, PROBE, **{name: value})
    assert result.returncode != 0 and problem in result.stderr, result.stderr[-500:]
