"""The CPU runtime end to end over SSH: MLServer + scikit-learn installed into a venv on the node, a
model made at test time downloaded (URL) and checked, served, asked, redeployed without change, checked
in --check mode, and removed without a trace. MLServer is installed once for the module (the tests run
in file order against one deployment; the last one removes it)."""

from __future__ import annotations

import json
import pwd
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.playbooks.ansible_helpers import (
    JobResult,
    Model,
    SshNode,
    files_under,
    node_prefix,
    pid_alive,
    processes_mentioning,
    supervised_pids,
)
from tests.support import free_port

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")]

NAME = "iris"
SERVICE = f"microdc-model-{NAME}"


@dataclass
class Deployment:
    root: Path
    extravars: dict[str, Any]
    first: JobResult
    events: list[dict[str, Any]]
    marker: Path

    @property
    def port(self) -> int:
        return self.extravars["microdc_model_port"]


def infer(port: int, values: list[float]) -> dict[str, Any]:
    body = json.dumps({"inputs": [{"name": "x", "shape": [len(values), 1], "datatype": "FP64", "data": values}]})
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v2/models/{NAME}/infer", data=body.encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def deployment(ssh_node: SshNode, sklearn_model: Model, tmp_path_factory: pytest.TempPathFactory,
               module_file_server) -> Iterator[Deployment]:
    with node_prefix("mlserver") as root:
        marker = tmp_path_factory.mktemp("marker") / "pwned"
        extravars = {
            "microdc_service_prefix": str(root),
            "microdc_runtime": "mlserver",
            "microdc_model_name": NAME,
            "microdc_model_revision": "r1",
            "microdc_model_artifact": module_file_server(sklearn_model.path),
            "microdc_model_artifact_sha256": sklearn_model.sha256,
            "microdc_model_port": free_port(),
            "mlserver_grpc_port": free_port(),
            "mlserver_metrics_port": free_port(),
            "microdc_model_bind": "127.0.0.1",
            "microdc_model_health_timeout": 180,
            # Inert user input: must reach the process as these exact characters.
            "microdc_model_env": {"MICRODC_NOTE": f"{{{{ lookup('pipe', 'touch {marker}') }}}}",
                                  "MICRODC_NOTE2": f"; touch {marker}"},
        }
        # A check run on the fresh node first: it must succeed and leave the node untouched.
        dry = ssh_node.run("deploy_model_server.yml", extravars, check=True)
        assert dry.status == "successful", dry.stdout()[-4000:]
        assert files_under(root) == [], "--check changed the node"

        events: list[dict[str, Any]] = []
        first = ssh_node.run("deploy_model_server.yml", extravars, on_event=events.append, timeout=900)
        assert first.status == "successful", first.stdout()[-4000:]
        yield Deployment(root=root, extravars=extravars, first=first, events=events, marker=marker)
        # Whatever the tests did, take it down (a no-op after test_remove_leaves_nothing).
        ssh_node.run("remove_model_server.yml", {"microdc_service_prefix": str(root), "microdc_model_name": NAME})


def test_first_deploy_reports_changes_and_endpoint(deployment: Deployment):
    host = deployment.first.hosts["node1"]
    assert host.changed > 0 and host.failed == 0
    port = deployment.port
    assert host.facts["microdc_model_endpoint"] == f"http://127.0.0.1:{port}"
    assert host.facts["microdc_model_metrics_url"] == (
        f"http://127.0.0.1:{deployment.extravars['mlserver_metrics_port']}/metrics")
    kinds = [e["event"] for e in deployment.events]
    # Runner's own "verbose" lines (ssh-agent's) may come first; the play's events follow in order.
    assert "playbook_on_start" in kinds and kinds[-1] == "playbook_on_stats"
    assert any(k == "runner_on_ok" for k in kinds)
    counters = [e["counter"] for e in deployment.events]
    assert counters == sorted(counters)


def test_inference_answers_like_the_model(deployment: Deployment, sklearn_model: Model):
    answer = infer(deployment.port, sklearn_model.inputs)
    assert answer["model_name"] == NAME
    assert answer["outputs"][0]["data"] == sklearn_model.expected


def test_metrics_url_serves_prometheus_text(deployment: Deployment):
    url = deployment.first.hosts["node1"].facts["microdc_model_metrics_url"]
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    assert "# TYPE" in text


def test_user_environment_reaches_the_server_inert(deployment: Deployment):
    _, child = supervised_pids(deployment.root, SERVICE)
    environ = dict(
        item.split("=", 1) for item in Path(f"/proc/{child}/environ").read_text().split("\0") if "=" in item
    )
    assert environ["MICRODC_NOTE"] == deployment.extravars["microdc_model_env"]["MICRODC_NOTE"]
    assert environ["MICRODC_NOTE2"] == deployment.extravars["microdc_model_env"]["MICRODC_NOTE2"]
    assert environ["CUDA_VISIBLE_DEVICES"] == ""  # CPU runtime: no accelerator selected, none visible
    assert environ["MICRODC_MODEL_REVISION"] == "r1"
    assert not deployment.marker.exists()


def _ids(pid: int) -> dict[str, list[int]]:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {line.split(":")[0]: [int(n) for n in line.split(":")[1].split()] for line in status
            if line.startswith(("Uid:", "Gid:", "Groups:"))}


def test_server_runs_as_the_unprivileged_account(deployment: Deployment):
    account = pwd.getpwnam("microdc-model")
    supervisor, child = supervised_pids(deployment.root, SERVICE)
    # Real, effective, saved and filesystem ids: all of them the account's, and no supplementary group.
    assert _ids(child) == {"Uid": [account.pw_uid] * 4, "Gid": [account.pw_gid] * 4, "Groups": []}
    assert account.pw_uid != 0 and account.pw_shell == "/usr/sbin/nologin"
    assert _ids(supervisor)["Uid"] == [0] * 4  # the supervisor stays root to restart and stop it
    model_dir = deployment.root / "opt/microdc/models" / NAME
    state = (model_dir / "state").stat()
    assert (state.st_uid, oct(state.st_mode & 0o777)) == (account.pw_uid, "0o750")
    for path in (model_dir / "artifact", model_dir / "config", model_dir / "venv"):
        assert path.stat().st_uid == 0 and not path.stat().st_mode & 0o022  # it reads them, cannot change them
    env_file = (deployment.root / f"etc/microdc/env/{SERVICE}.env").stat()
    assert (env_file.st_uid, oct(env_file.st_mode & 0o777)) == (0, "0o600")
    unit = (deployment.root / f"etc/systemd/system/{SERVICE}.service").read_text()
    assert "User=microdc-model\nGroup=microdc-model\n" in unit and "ProtectSystem=full" in unit


def test_loader_variables_are_refused_on_the_node_too(ssh_node: SshNode, deployment: Deployment):
    for name in ("LD_PRELOAD", "PYTHONPATH", "NODE_OPTIONS"):
        bad = {**deployment.extravars, "microdc_model_env": {name: "/tmp/evil"}}
        result = ssh_node.run("deploy_model_server.yml", bad)
        assert result.status == "failed"
        assert f"environment variable {name} may not be set" in result.stdout()
    assert infer(deployment.port, [0.5])["outputs"][0]["data"]  # the running revision is untouched


def test_environment_values_stay_out_of_events_and_stdout(deployment: Deployment):
    # Not redacted by name (MICRODC_NOTE* looks harmless): only the roles' no_log keeps them out.
    stored = json.dumps(deployment.events) + deployment.first.stdout()
    for value in deployment.extravars["microdc_model_env"].values():
        assert value not in stored


def test_unit_is_rendered_for_systemd(deployment: Deployment):
    unit = (deployment.root / f"etc/systemd/system/{SERVICE}.service").read_text()
    model_dir = deployment.root / "opt/microdc/models" / NAME
    assert f'ExecStart="{model_dir}/venv/bin/mlserver" "start" "{model_dir}/config"' in unit
    assert "Restart=on-failure" in unit


def test_second_deploy_changes_nothing(ssh_node: SshNode, deployment: Deployment):
    again = ssh_node.run("deploy_model_server.yml", deployment.extravars)
    assert again.status == "successful", again.stdout()[-4000:]
    assert again.hosts["node1"].changed == 0, again.stdout()[-4000:]


def test_check_mode_on_the_deployed_node_changes_nothing(ssh_node: SshNode, deployment: Deployment):
    checked = ssh_node.run("deploy_model_server.yml", deployment.extravars, check=True)
    assert checked.status == "successful", checked.stdout()[-4000:]
    assert checked.hosts["node1"].changed == 0


def test_mlserver_refuses_command_line_arguments(ssh_node: SshNode, deployment: Deployment):
    marker = deployment.marker
    bad = {**deployment.extravars, "microdc_model_args": [f"; touch {marker}",
                                                          f"{{{{ lookup('pipe', 'touch {marker}') }}}}"]}
    result = ssh_node.run("deploy_model_server.yml", bad)
    assert result.status == "failed"
    assert "mlserver takes no command-line options" in result.stdout()
    assert not marker.exists()
    # The running revision is untouched and still answers.
    assert infer(deployment.port, [0.5])["outputs"][0]["data"]


def test_remove_leaves_nothing(ssh_node: SshNode, deployment: Deployment):
    supervisor, child = supervised_pids(deployment.root, SERVICE)
    model_dir = deployment.root / "opt/microdc/models" / NAME
    removed = ssh_node.run("remove_model_server.yml", {"microdc_service_prefix": str(deployment.root),
                                                       "microdc_model_name": NAME})
    assert removed.status == "successful", removed.stdout()[-4000:]
    assert removed.hosts["node1"].changed > 0
    assert not pid_alive(supervisor) and not pid_alive(child)
    assert processes_mentioning(str(model_dir)) == []
    assert not (deployment.root / f"etc/systemd/system/{SERVICE}.service").exists()
    assert not (deployment.root / f"run/microdc/{SERVICE}.pid").exists()
    assert not model_dir.exists()
    assert [f for f in files_under(deployment.root) if NAME in f] == []
    with pytest.raises(OSError):
        infer(deployment.port, [0.5])
    again = ssh_node.run("remove_model_server.yml", {"microdc_service_prefix": str(deployment.root),
                                                     "microdc_model_name": NAME})
    assert again.status == "successful" and again.hosts["node1"].changed == 0
    assert not deployment.marker.exists()
