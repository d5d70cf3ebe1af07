"""`ansible-inventory -i inventory --list` against the real appliance's node registry, by hand as an admin
would run it, with an API token in the environment."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from microdc.core.tokens import issue_token
from microdc.nodes.models import Accelerator, Node

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.integration
def test_ansible_inventory_reads_the_node_registry(live_appliance, users, rack):
    gpu = Node.objects.create(hostname="gpu-07", management_address="10.1.0.7", ssh_port=2222, ssh_user="ops",
                              rack=rack, position_u=3)
    Accelerator.objects.create(node=gpu, index=0, vendor="nvidia", model="H100", uuid="GPU-inv-0")
    Node.objects.create(hostname="old-01", management_address="10.1.0.8", rack=rack, position_u=9,
                        status="decommissioned")
    _, key = issue_token(users["viewer"])
    env = dict(os.environ, MICRODC_URL=live_appliance.url, MICRODC_TOKEN=key)
    env.pop("MICRODC_INVENTORY_FILE", None)
    result = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-inventory"), "-i", str(ROOT / "inventory"),
                             "--list"], env=env, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    inventory = json.loads(result.stdout)
    hostvars = inventory["_meta"]["hostvars"]
    assert "old-01" not in hostvars
    assert hostvars["gpu-07"]["ansible_host"] == "10.1.0.7"
    assert hostvars["gpu-07"]["ansible_port"] == 2222 and hostvars["gpu-07"]["ansible_user"] == "ops"
    assert "gpu-07" in inventory["gpu_nodes"]["hosts"]
    assert "gpu-07" in inventory["site_plant_1"]["hosts"] or "gpu-07" in json.dumps(inventory["site_plant_1"])

    env["MICRODC_TOKEN"] = "mdc_0000000000000000_wrong"
    refused = subprocess.run([str(ROOT / "inventory" / "microdc.py"), "--list"], env=env, capture_output=True,
                             text=True, cwd=ROOT, timeout=60)
    assert refused.returncode != 0 and "401" in refused.stderr
