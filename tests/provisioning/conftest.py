import hashlib

import pytest


@pytest.fixture(autouse=True)
def jobs_wait_for_the_test(settings, tmp_path):
    # Jobs are not run by a worker here: each test runs them itself (jobs.execute), when it wants.
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    settings.MICRODC_ARTIFACT_ROOTS = [str(tmp_path / "artifacts")]
    settings.DATA_DIR = tmp_path / "data"
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "data").mkdir()


@pytest.fixture
def artifact(tmp_path):
    path = tmp_path / "artifacts" / "model.joblib"
    path.write_bytes(b"not really a model, but bytes with a known hash")
    return path, hashlib.sha256(path.read_bytes()).hexdigest()
