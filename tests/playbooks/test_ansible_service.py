"""The shared microdc_service role over SSH: argv and environment reach the process byte for byte
(no shell, no Jinja), the unit is rendered and verified, supervised mode restarts a crashed process,
a second run changes nothing, and removal leaves nothing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.playbooks.ansible_helpers import (
    DATA,
    NODE_PYTHON,
    files_under,
    pid_alive,
    processes_mentioning,
    supervised_pids,
)

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")]

PROBE = (
    "import json, os, sys, time; "
    "json.dump({'argv': sys.argv[1:], 'env': {k: v for k, v in os.environ.items() if k.startswith('PROBE_')}}, "
    "open(sys.argv[1] + '.tmp', 'w')); os.replace(sys.argv[1] + '.tmp', sys.argv[1]); time.sleep(3600)"
)


def injections(marker: Path) -> list[str]:
    return [
        f"{{{{ lookup('pipe', 'touch {marker}') }}}}",
        f"; touch {marker}",
        f"$(touch {marker})",
        f"`touch {marker}`",
        "100% of $HOME and ${HOME} \\ \"double\" 'single' %n %%",
        "--flag=a b",
    ]


def wait_for(path: Path, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return json.loads(path.read_text())
        time.sleep(0.1)
    raise AssertionError(f"{path} never appeared")


def test_argv_and_env_arrive_literally_and_supervision_works(ssh_node, node_root, tmp_path):
    marker = tmp_path / "pwned"
    out = tmp_path / "probe.json"
    args = injections(marker)
    env = {"PROBE_JINJA": f"{{{{ lookup('pipe', 'touch {marker}') }}}}", "PROBE_SHELL": "$HOME `x` \"q\" \\ %n ;"}
    extravars = {
        "microdc_service_prefix": str(node_root),
        "probe_name": "microdc-probe",
        "probe_argv": [NODE_PYTHON, "-c", PROBE, str(out), *args],
        "probe_env": env,
    }

    first = ssh_node.run("probe_service.yml", extravars, project_dir=DATA)
    assert first.status == "successful", first.stdout()[-3000:]
    assert first.hosts["node1"].changed > 0

    seen = wait_for(out)
    assert seen["argv"] == [str(out), *args]
    assert seen["env"] == env
    assert not marker.exists(), "an argument or environment value was evaluated"

    # The unit that systemd would run is rendered, checked, and carries every argument quoted.
    unit = node_root / "etc/systemd/system/microdc-probe.service"
    text = unit.read_text()
    assert '"; touch ' in text and "$$(touch" in text and "100%% of $$HOME" in text
    analyze = shutil.which("systemd-analyze")
    if analyze:
        check = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    env_file = node_root / "etc/microdc/env/microdc-probe.env"
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"

    # Restart=on-failure: kill the process, the supervisor starts a new one.
    supervisor, child = supervised_pids(node_root, "microdc-probe")
    out.unlink()
    os.kill(child, signal.SIGKILL)
    wait_for(out)
    supervisor_after, child_after = supervised_pids(node_root, "microdc-probe")
    assert supervisor_after == supervisor and child_after != child and pid_alive(child_after)

    second = ssh_node.run("probe_service.yml", extravars, project_dir=DATA)
    assert second.status == "successful"
    assert second.hosts["node1"].changed == 0, second.stdout()[-3000:]

    checked = ssh_node.run("probe_service.yml", extravars, project_dir=DATA, check=True)
    assert checked.status == "successful" and checked.hosts["node1"].changed == 0

    removed = ssh_node.run("probe_service.yml", {**extravars, "probe_state": "absent"}, project_dir=DATA)
    assert removed.status == "successful", removed.stdout()[-3000:]
    assert not pid_alive(supervisor) and not pid_alive(child_after)
    assert processes_mentioning(str(out)) == []
    leftovers = [f for f in files_under(node_root) if "microdc-probe" in f]
    assert leftovers == []
    assert not marker.exists()


def test_changed_argv_restarts_the_process(ssh_node, node_root, tmp_path):
    out = tmp_path / "probe.json"
    base = {"microdc_service_prefix": str(node_root), "probe_name": "microdc-probe2",
            "probe_argv": [NODE_PYTHON, "-c", PROBE, str(out), "one"]}
    assert ssh_node.run("probe_service.yml", base, project_dir=DATA).status == "successful"
    assert wait_for(out)["argv"] == [str(out), "one"]
    _, child = supervised_pids(node_root, "microdc-probe2")
    out.unlink()

    changed = {**base, "probe_argv": [NODE_PYTHON, "-c", PROBE, str(out), "two"]}
    result = ssh_node.run("probe_service.yml", changed, project_dir=DATA)
    assert result.status == "successful" and result.hosts["node1"].changed > 0
    assert wait_for(out)["argv"] == [str(out), "two"]
    assert not pid_alive(child), "the old process kept running after its definition changed"

    assert ssh_node.run("probe_service.yml", {**changed, "probe_state": "absent"},
                        project_dir=DATA).status == "successful"
    assert [f for f in files_under(node_root) if "microdc-probe2" in f] == []


def test_check_mode_on_a_fresh_node_changes_nothing(ssh_node, node_root, tmp_path):
    out = tmp_path / "probe.json"
    extravars = {"microdc_service_prefix": str(node_root), "probe_name": "microdc-probe3",
                 "probe_argv": [NODE_PYTHON, "-c", PROBE, str(out)]}
    result = ssh_node.run("probe_service.yml", extravars, project_dir=DATA, check=True)
    assert result.status == "successful", result.stdout()[-3000:]
    assert result.hosts["node1"].changed > 0  # it reports what it would do ...
    assert list(node_root.iterdir()) == []  # ... and does none of it
    assert not out.exists()
