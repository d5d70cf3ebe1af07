"""bootstrap_node.yml over SSH: the agent is installed offline from a wheelhouse the appliance
provides, its token written 0600 and never logged, and it runs supervised and pushes telemetry to the
(stand-in) appliance. A second run and a --check run change nothing."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.playbooks.ansible_helpers import (
    NODE_PYTHON,
    assert_no_secret,
    pid_alive,
    processes_mentioning,
    stop_supervised,
    supervised_pids,
)

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")]

TOKEN = "node-token-3f9c2e71a4b8d05e6c1f"
AGENT_REQUIREMENTS = ["nvidia-ml-py==13.615.71", "httpx==0.28.1"]


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The agent's dependencies as wheels for the node's Python, as the appliance would ship them."""
    directory = tmp_path_factory.mktemp("wheelhouse")
    subprocess.run([NODE_PYTHON, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--dest",
                    str(directory), *AGENT_REQUIREMENTS], check=True, stderr=subprocess.DEVNULL)
    return directory


def test_bootstrap_installs_and_runs_the_agent(ssh_node, node_root, telemetry_sink, wheelhouse):
    extravars = {
        "microdc_service_prefix": str(node_root),
        "microdc_agent_url": telemetry_sink.url,
        "microdc_agent_token": TOKEN,
        "microdc_agent_wheelhouse": str(wheelhouse),
        "microdc_agent_args": ["--collectors", "simulated", "--interval", "1", "--sim-gpus", "2"],
    }
    events: list[dict] = []
    first = ssh_node.run("bootstrap_node.yml", extravars, on_event=events.append)
    assert first.status == "successful", first.stdout()[-4000:]
    assert first.hosts["node1"].changed > 0
    assert_no_secret(first, events, TOKEN)

    token_file = node_root / "etc/microdc-agent/token"
    assert token_file.read_text().strip() == TOKEN
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"
    assert (node_root / "etc/systemd/system/microdc-agent.service").exists()
    # Installed offline: pip was told to use only the copied wheelhouse.
    assert sorted(p.name for p in (node_root / "opt/microdc-agent/wheels").iterdir()) == sorted(
        p.name for p in wheelhouse.iterdir())

    supervisor, child = supervised_pids(node_root, "microdc-agent")
    assert pid_alive(supervisor) and pid_alive(child)
    deadline = time.monotonic() + 30
    while not telemetry_sink.requests and time.monotonic() < deadline:
        time.sleep(0.2)
    assert telemetry_sink.requests, "the agent never pushed telemetry"
    push = telemetry_sink.requests[0]
    assert push["path"] == "/api/v1/telemetry/"
    assert push["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert json.loads(push["body"])["node"] == "node1"

    second = ssh_node.run("bootstrap_node.yml", extravars)
    assert second.status == "successful"
    assert second.hosts["node1"].changed == 0, second.stdout()[-4000:]
    assert supervised_pids(node_root, "microdc-agent") == (supervisor, child), "an unchanged agent restarted"

    checked = ssh_node.run("bootstrap_node.yml", extravars, check=True)
    assert checked.status == "successful" and checked.hosts["node1"].changed == 0

    # The agent is a long-running process; stopping it leaves nothing running.
    stop_supervised(node_root)
    assert not pid_alive(child) and processes_mentioning(str(node_root)) == []


def test_bootstrap_refuses_a_missing_token_without_showing_it(ssh_node, node_root, telemetry_sink):
    result = ssh_node.run("bootstrap_node.yml", {
        "microdc_service_prefix": str(node_root),
        "microdc_agent_url": telemetry_sink.url,
        "microdc_agent_token": "short",
    })
    assert result.status == "failed"
    assert "the output has been hidden" in result.stdout()
    assert list(node_root.iterdir()) == []
