"""The appliance and the model roles refuse the same environment variables (the roles repeat the list)."""

import re
from pathlib import Path

import pytest
import yaml

from microdc.provisioning.environment import REFUSED_NAMES, REFUSED_PREFIXES, refused

DEFAULTS = Path(__file__).resolve().parents[2] / "playbooks/roles/microdc_model/defaults/main.yml"
ROLE_PATTERN = re.compile(yaml.safe_load(DEFAULTS.read_text())["microdc_model_env_refused"])
ALLOWED = ["HF_TOKEN", "HF_HOME", "MLSERVER_PARALLEL_WORKERS", "OMP_NUM_THREADS", "PYTHONUNBUFFERED", "TZ",
           "MY_LD_PRELOAD", "ENVIRONMENT", "PATHS"]


@pytest.mark.parametrize("name", sorted(REFUSED_NAMES) + [p + "ANYTHING" for p in REFUSED_PREFIXES])
def test_every_refused_name_is_refused_by_both(name):
    assert refused([name]) == [name]
    assert ROLE_PATTERN.match(name), f"the role lets {name} through"


@pytest.mark.parametrize("name", ALLOWED)
def test_ordinary_names_pass_both(name):
    assert refused([name]) == []
    assert not ROLE_PATTERN.match(name)
